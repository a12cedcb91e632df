"""Receita rows -> ``CompanyRecord`` JSON text, without building any model: the publish fast path.

A well-formed Estabelecimentos line (30 fully quoted fields, no quote, backslash, control
character, padding or run of spaces inside a field: nearly every line of a publication) is
already made of JSON string literals: ``"a";"";"c"`` becomes the tokens ``"a"``, ``null``,
``"c"`` with one ``replace`` and one ``split``, and the record is one ``%`` format of those
tokens, the looked-up names (memoised as JSON literals) and the company-level fragment (built
once per ``cnpj_basico``). Any other line goes through the reference builder
(``receita_records.company_builder``) and pydantic. Either way the text validates as the same
``CompanyRecord`` the reference builder makes (``tests/unit/test_source_receita_json.py``).

The text always starts with its ``lead_key`` (``records.lead_key_of`` slices it back out).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from .filters import BR_STATUS_BY_CODE
from .receita_layout import PORTE
from .receita_records import Builder, capital_value, company_info, estab_fields, partner_values, simples_flags
from .values import collapse, iso_date

if TYPE_CHECKING:
    from .cnpj_files import CodeTables

# (raw line, file label, line number, empresa, simples, socios) -> JSON text of one CompanyRecord,
# or ``None`` for a line without 30 columns
Encoder = Callable[
    [bytes | str, str, int, "bytes | str | None", "bytes | str | None", "list[bytes | str] | None"], "str | None"
]

_N = "null"
_MONEY = re.compile(r'"(?:0|[1-9][0-9]{0,14}),[0-9]+"').fullmatch  # a JSON number once "," is "."
_NO_EXTRA = (_N, '"00"', '"0"')
_RECORD = (
    '{"lead_key":"BR:%s","country":"BR","registry_id":"%s","source":"cnpj","source_file":%s,"source_line":%d,'
    '"trade_name":%s,"status":%s,"status_date":%s,"opened_on":%s,"activity_main":%s,"activity_main_name":%s,'
    '"activities_secondary":%s,"head_office":%s,"address":{"street_type":%s,"street":%s,"number":%s,'
    '"complement":%s,"district":%s,"postal_code":%s,"city":%s,"city_code":%s,"state":%s,"country":"BR"},'
    '"phones":%s,"emails":%s,"website":null,%s,"extra":%s}'
)
_NO_COMPANY_JSON = (
    '"legal_name":null,"legal_nature":null,"legal_nature_name":null,"size":null,"capital":null,'
    '"simples":null,"mei":null,"partners":[]'
)


def _literal(value: str | None) -> str:
    return _N if value is None else orjson.dumps(value).decode()


_COMPANY = '"legal_name":%s,"legal_nature":%s,"legal_nature_name":%s,"size":%s,"capital":%s,' \
    '"simples":%s,"partners":%s'
_FLAG_JSON = {True: "true", False: "false", None: "null"}
_NO_FLAGS = 'null,"mei":null'


def _is_clean(line: str, fields: int) -> bool:
    """A fully quoted line of ``fields`` fields whose fields are JSON string bodies as they stand
    (no quote, backslash or control character) and need no trimming or collapsing."""
    return (
        line.count('";"') == fields - 1 and line.count(";") == fields - 1 and line.count('"') == 2 * fields
        and line[:1] == '"' and line[-1:] == '"' and "  " not in line and '" ' not in line and ' "' not in line
        and "\\" not in line and line.isprintable()
    )


def _capital_json(token: str) -> str:
    if _MONEY(token):  # "1061004829,23" -> 1061004829.23, the float capital_value() makes
        return token[1:-1].replace(",", ".")
    return _literal_number(capital_value(token[1:-1].strip()))


def _literal_number(value: float | None) -> str:
    return _N if value is None else orjson.dumps(value).decode()


class CompanyEncoder:
    """The company-level members of records (no braces): Empresas, Simples and Socios values, with
    the code-table names memoised as JSON literals."""

    def __init__(self, tables: CodeTables) -> None:
        self.tables = tables
        self.natures: dict[str, str] = {}
        self.sizes: dict[str, str] = {}

    def empresa(self, raw: bytes | None) -> tuple[str, str, str, str, str]:
        """(legal_name, legal_nature, legal_nature_name, size, capital) as JSON literals."""
        if raw is None:
            return _N, _N, _N, _N, _N
        if type(raw) is str:  # from a block found clean as a whole
            line = raw
            clean = line.count(";") == 6
        else:
            line = raw.decode("latin-1").rstrip("\r\n")
            clean = _is_clean(line, 7)
        if clean:
            t = line.replace('""', _N).split(";")
            nature, porte = t[2], t[5]
            try:
                nature_name = self.natures[nature]
            except KeyError:
                nature_name = self.natures[nature] = (
                    _N if nature == _N else _literal(self.tables.naturezas.get(nature[1:-1])))
            try:
                size = self.sizes[porte]
            except KeyError:
                size = self.sizes[porte] = _N if porte == _N else _literal(PORTE.get(porte[1:-1], porte[1:-1]))
            return t[1], nature, nature_name, size, _N if t[4] == _N else _capital_json(t[4])
        legal_name, nature, nature_name, size, capital = company_info(raw, self.tables)
        return _literal(legal_name), _literal(nature), _literal(nature_name), _literal(size), _literal_number(capital)

    def __call__(self, empresa: bytes | None, simples: bytes | None, socios: list[bytes] | None) -> str:
        if empresa is None and simples is None and not socios:
            return _NO_COMPANY_JSON
        flags: str | None = _NO_FLAGS
        if simples is not None:
            parts = simples.split(";" if type(simples) is str else b";")  # type: ignore[arg-type]
            flags = _SIMPLES_JSON.get((parts[1], parts[4])) if len(parts) == 7 else None
            if flags is None:
                pair = simples_flags(simples)
                flags = _NO_FLAGS if pair is None else f'{_FLAG_JSON[pair[0]]},"mei":{_FLAG_JSON[pair[1]]}'
        return _COMPANY % (
            *self.empresa(empresa), flags,
            orjson.dumps(partner_values(socios, self.tables)).decode() if socios else "[]",
        )


_SIMPLES_JSON: dict[tuple[bytes | str, bytes | str], str] = {
    (a, b): f'{_FLAG_JSON[fa]},"mei":{_FLAG_JSON[fb]}'
    for a, fa in ((b'"S"', True), (b'"N"', False), (b'""', None), ('"S"', True), ('"N"', False), ('""', None))
    for b, fb in ((b'"S"', True), (b'"N"', False), (b'""', None), ('"S"', True), ('"N"', False), ('""', None))
    if type(a) is type(b)
}


def json_encoder(tables: CodeTables, build: Builder) -> Encoder:
    """A function turning one raw Estabelecimentos record (joined rows raw) into JSON text."""
    status_json: dict[str, str] = {}
    date_json: dict[str, str] = {}
    cnae_json: dict[str, str] = {}
    city_json: dict[str, str] = {}
    label_json: dict[str, str] = {}
    cnaes, cities, motivos = tables.cnaes, tables.municipios, tables.motivos
    company_json = CompanyEncoder(tables)
    last: list[object] = [None, None, None, _NO_COMPANY_JSON]  # branches follow their head office

    def literal_from(memo: dict[str, str], token: str, make: Callable[[str], str | None]) -> str:
        value = memo[token] = _literal(make("" if token == _N else token[1:-1]))
        if len(memo) > 100_000:
            memo.clear()
        return value

    def slow(raw: bytes | str, label: str, line_no: int, empresa: bytes | None, simples: bytes | None,
             socios: list[bytes] | None) -> str | None:
        fields = estab_fields(raw, 30)
        if len(fields) != 30:
            return None
        return build(fields, label, line_no, empresa, simples, socios).model_dump_json()

    def encode(raw: bytes | str, label: str, line_no: int, empresa: bytes | None, simples: bytes | None,
               socios: list[bytes] | None) -> str | None:
        if type(raw) is str:  # from a block found clean as a whole: the line's field count is left to check
            line = raw
        else:
            line = raw.decode("latin-1")
            if line[-1:] == "\r":
                line = line[:-1]
            if not _is_clean(line, 30):
                return slow(raw, label, line_no, empresa, simples, socios)
        cnpj = line[1:9] + line[12:16] + line[19:21]
        if (
            line[9:12] != '";"' or line[16:19] != '";"' or line[21:24] != '";"'
            or not (cnpj.isdigit() or (cnpj.isascii() and cnpj.isalnum() and cnpj.isupper()))
        ):
            return slow(raw, label, line_no, empresa, simples, socios)
        t = line.replace('""', _N).split(";")
        if len(t) != 30:
            return slow(raw, label, line_no, empresa, simples, socios)
        if t[19] == '"EX"':
            return slow(raw, label, line_no, empresa, simples, socios)
        ddd1, tel1, ddd2, tel2 = t[21], t[22], t[23], t[24]
        if tel2 != _N:
            p2 = tel2 if ddd2 == _N else '"' + ddd2[1:-1] + " " + tel2[1:]
            if tel1 != _N:
                phones = "[" + (tel1 if ddd1 == _N else '"' + ddd1[1:-1] + " " + tel1[1:]) + "," + p2 + "]"
            else:
                phones = "[" + p2 + "]"
        elif tel1 != _N:
            phones = "[" + (tel1 if ddd1 == _N else '"' + ddd1[1:-1] + " " + tel1[1:]) + "]"
        else:
            phones = "[]"
        if t[7] in _NO_EXTRA and t[26] == _N and t[28] == _N:
            extra = "{}"
        else:
            values: dict[str, str] = {}
            motivo = t[7][1:-1] if t[7] != _N else ""
            if motivo and motivo != "00" and motivo != "0":
                values["status_reason"] = motivos.get(motivo, motivo)
            if t[26] != _N:
                values["fax"] = f"{'' if t[25] == _N else t[25][1:-1]} {t[26][1:-1]}".strip()
            if t[28] != _N:
                values["special_status"] = collapse(t[28][1:-1]) or ""
                values["special_status_date"] = iso_date(t[29][1:-1] if t[29] != _N else "") or ""
            extra = orjson.dumps(values).decode()
        if empresa is not last[0] or simples is not last[1] or socios is not last[2]:
            last[0], last[1], last[2] = empresa, simples, socios
            last[3] = company_json(empresa, simples, socios)
        secondary = t[12]
        city = t[20]
        try:
            file_json = label_json[label]
        except KeyError:
            file_json = label_json[label] = _literal(label)
        return _RECORD % (
            cnpj, cnpj, file_json, line_no,
            t[4],
            status_json.get(t[5]) or literal_from(
                status_json, t[5], lambda v: BR_STATUS_BY_CODE.get(v, v or None)),
            date_json.get(t[6]) or literal_from(date_json, t[6], iso_date),
            date_json.get(t[10]) or literal_from(date_json, t[10], iso_date),
            t[11],
            cnae_json.get(t[11]) or literal_from(cnae_json, t[11], cnaes.get),
            "[]" if secondary == _N else "[" + secondary.replace(",", '","') + "]",
            "true" if t[3] == '"1"' else "false",
            t[13], t[14], t[15], t[16], t[17], t[18],
            city_json.get(city) or literal_from(city_json, city, lambda v: cities.get(v) or v or None),
            city, t[19],
            phones,
            "[]" if t[27] == _N else f"[{t[27]}]",
            last[3],
            extra,
        )

    return encode
