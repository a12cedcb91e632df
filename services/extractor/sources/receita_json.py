"""Receita rows -> ``CompanyRecord`` JSON text, without building any model: the publish fast path.

A well-formed Estabelecimentos line (30 fully quoted fields, no quote, backslash, control
character, padding or run of spaces inside a field: nearly every line of a publication) is
already made of JSON string literals: ``"a";"";"c"`` becomes the tokens ``"a"``, ``null``,
``"c"`` with one ``replace`` and one ``split``, and the record is one f-string of those
tokens, the looked-up names (memoised as JSON literals) and the company-level fragment (built
once per ``cnpj_basico``). Any other line goes through the reference builder
(``receita_records.company_builder``) and pydantic. Either way the text validates as the same
``CompanyRecord`` the reference builder makes (``tests/unit/test_source_receita_json.py``).

The text always starts with its ``lead_key`` (``records.lead_key_of`` slices it back out).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import orjson

from .filters import BR_STATUS_BY_CODE
from .receita_join import CompanyRows, Establishment
from .receita_layout import PORTE
from .receita_records import Builder, capital_value, company_info, estab_fields, partner_values, simples_flags
from .values import collapse, iso_date

if TYPE_CHECKING:
    from shared.schemas import DroppedLead

    from .cnpj_files import CodeTables

# (establishments, their company rows) -> the JSON text of each one's CompanyRecord, or its rejection
Emitter = Callable[[Iterable[Establishment], CompanyRows], Iterator["str | DroppedLead"]]
# (file label, line number, raw line) -> the rejection of a line without 30 columns
Malformed = Callable[[str, int, "bytes | str"], "DroppedLead"]

_N = "null"
_MONEY = re.compile(r'"(?:0|[1-9][0-9]{0,14}),[0-9]+"').fullmatch  # a JSON number once "," is "."
_NO_EXTRA = (_N, '"00"', '"0"')
_NO_COMPANY_JSON = (
    '"legal_name":null,"legal_nature":null,"legal_nature_name":null,"size":null,"capital":null,'
    '"simples":null,"mei":null,"partners":[]'
)


def _literal(value: str | None) -> str:
    return _N if value is None else orjson.dumps(value).decode()


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


class _Literals(dict):  # type: ignore[type-arg]
    """Field token -> JSON literal of its looked-up value, made on a miss (bounded)."""

    def __init__(self, make: Callable[[str], str | None]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, token: str) -> str:
        if len(self) >= 100_000:
            self.clear()
        value = self[token] = _literal(self.make("" if token == _N else token[1:-1]))
        return value


class CompanyEncoder:
    """The company-level members of records (no braces): Empresas, Simples and Socios values, with
    the code-table names memoised as JSON literals."""

    def __init__(self, tables: CodeTables) -> None:
        self.tables = tables
        naturezas = tables.naturezas
        self.nature_names = _Literals(lambda v: naturezas.get(v) if v else None)
        self.size_names = _Literals(lambda v: PORTE.get(v, v) if v else None)

    def empresa(self, raw: bytes | str | None) -> tuple[str, str, str, str, str]:
        """(legal_name, legal_nature, legal_nature_name, size, capital) as JSON literals."""
        if raw is None:
            return _N, _N, _N, _N, _N
        if type(raw) is bytes:
            line = raw.decode("latin-1").rstrip("\r\n")
            if _is_clean(line, 7):
                t = line.replace('""', _N).split(";")
                return (t[1], t[2], self.nature_names[t[2]], self.size_names[t[5]],
                        _N if t[4] == _N else _capital_json(t[4]))
        legal_name, nature, nature_name, size, capital = company_info(raw, self.tables)  # type: ignore[arg-type]
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
        partners = orjson.dumps(partner_values(socios, self.tables)).decode() if socios else "[]"
        if type(empresa) is str and empresa.count(";") == 6:  # a line of a clean block: its tokens as they are
            t = empresa.replace('""', _N).split(";")
            legal_name, nature, money = t[1], t[2], t[4]
            nature_name, size = self.nature_names[nature], self.size_names[t[5]]
            capital = _N if money == _N else money[1:-1].replace(",", ".") if _MONEY(money) else _capital_json(money)
        else:
            legal_name, nature, nature_name, size, capital = self.empresa(empresa)
        return (
            f'"legal_name":{legal_name},"legal_nature":{nature},"legal_nature_name":{nature_name},"size":{size},'
            f'"capital":{capital},"simples":{flags},"partners":{partners}'
        )


_SIMPLES_JSON: dict[tuple[bytes | str, bytes | str], str] = {
    (a, b): f'{_FLAG_JSON[fa]},"mei":{_FLAG_JSON[fb]}'
    for a, fa in ((b'"S"', True), (b'"N"', False), (b'""', None), ('"S"', True), ('"N"', False), ('""', None))
    for b, fb in ((b'"S"', True), (b'"N"', False), (b'""', None), ('"S"', True), ('"N"', False), ('""', None))
    if type(a) is type(b)
}


def json_records(tables: CodeTables, build: Builder, malformed: Malformed) -> Emitter:
    """A function turning joined establishments into the JSON text of their records (or the
    rejection of a line without 30 columns), in their order."""
    cnaes, cities, motivos = tables.cnaes, tables.municipios, tables.motivos
    statuses = _Literals(lambda v: BR_STATUS_BY_CODE.get(v, v or None))
    dates = _Literals(iso_date)
    cnae_names = _Literals(cnaes.get)
    city_names = _Literals(lambda v: cities.get(v) or v or None)
    company_json = CompanyEncoder(tables)

    def slow(raw: bytes | str, label: str, line_no: int, empresa: bytes | str | None, simples: bytes | str | None,
             socios: list[bytes | str] | None) -> str | DroppedLead:
        fields = estab_fields(raw, 30)
        if len(fields) != 30:
            return malformed(label, line_no, raw)
        return build(fields, label, line_no, empresa, simples, socios).model_dump_json()  # type: ignore[arg-type]

    def emit(establishments: Iterable[Establishment], rows: CompanyRows) -> Iterator[str | DroppedLead]:
        empresa_of, simples_of, socios_of = rows.empresas.get, rows.simples.get, rows.socios.get
        last_empresa = last_simples = last_socios = None
        company_text = _NO_COMPANY_JSON
        last_label: str | None = None
        label_json = _N
        for label, line_no, key, raw in establishments:
            empresa, simples, socios = empresa_of(key), simples_of(key), socios_of(key)
            if type(raw) is str:  # from a block found clean as a whole
                line = raw
            else:
                line = raw.decode("latin-1")
                if line[-1:] == "\r":
                    line = line[:-1]
                if not _is_clean(line, 30):
                    yield slow(raw, label, line_no, empresa, simples, socios)
                    continue
            cnpj = line[1:9] + line[12:16] + line[19:21]
            if (
                line[9:12] != '";"' or line[16:19] != '";"' or line[21:24] != '";"'
                or not (cnpj.isdigit() or (cnpj.isascii() and cnpj.isalnum() and cnpj.isupper()))
            ):
                yield slow(raw, label, line_no, empresa, simples, socios)
                continue
            t = line.replace('""', _N).split(";")
            if len(t) != 30 or t[19] == '"EX"':
                yield slow(raw, label, line_no, empresa, simples, socios)
                continue
            tel1, tel2 = t[22], t[24]
            if tel2 != _N:
                ddd2 = t[23]
                p2 = tel2 if ddd2 == _N else '"' + ddd2[1:-1] + " " + tel2[1:]
                if tel1 != _N:
                    ddd1 = t[21]
                    phones = "[" + (tel1 if ddd1 == _N else '"' + ddd1[1:-1] + " " + tel1[1:]) + "," + p2 + "]"
                else:
                    phones = "[" + p2 + "]"
            elif tel1 != _N:
                ddd1 = t[21]
                phones = "[" + (tel1 if ddd1 == _N else '"' + ddd1[1:-1] + " " + tel1[1:]) + "]"
            else:
                phones = "[]"
            motivo = t[7]
            if (motivo == _N or motivo == '"00"' or motivo == '"0"') and t[26] == _N and t[28] == _N:
                extra = "{}"
            else:
                values: dict[str, str] = {}
                if motivo != _N and motivo != '"00"' and motivo != '"0"':
                    values["status_reason"] = motivos.get(motivo[1:-1], motivo[1:-1])
                if t[26] != _N:
                    values["fax"] = f"{'' if t[25] == _N else t[25][1:-1]} {t[26][1:-1]}".strip()
                if t[28] != _N:
                    values["special_status"] = collapse(t[28][1:-1]) or ""
                    values["special_status_date"] = iso_date(t[29][1:-1] if t[29] != _N else "") or ""
                extra = orjson.dumps(values).decode()
            if empresa is not last_empresa or simples is not last_simples or socios is not last_socios:
                last_empresa, last_simples, last_socios = empresa, simples, socios  # branches follow their head office
                company_text = company_json(empresa, simples, socios)  # type: ignore[arg-type]
            if label is not last_label:
                last_label, label_json = label, _literal(label)
            secondary = "[]" if t[12] == _N else "[" + t[12].replace(",", '","') + "]"
            cnae, city = t[11], t[20]
            head_office = "true" if t[3] == '"1"' else "false"
            emails = "[]" if t[27] == _N else "[" + t[27] + "]"
            # one f-string (faster than a % format of 30 values): every member of a CompanyRecord
            yield (
                f'{{"lead_key":"BR:{cnpj}","country":"BR","registry_id":"{cnpj}","source":"cnpj",'
                f'"source_file":{label_json},"source_line":{line_no},"trade_name":{t[4]},'
                f'"status":{statuses[t[5]]},"status_date":{dates[t[6]]},"opened_on":{dates[t[10]]},'
                f'"activity_main":{cnae},"activity_main_name":{cnae_names[cnae]},'
                f'"activities_secondary":{secondary},"head_office":{head_office},'
                f'"address":{{"street_type":{t[13]},"street":{t[14]},"number":{t[15]},"complement":{t[16]},'
                f'"district":{t[17]},"postal_code":{t[18]},"city":{city_names[city]},"city_code":{city},'
                f'"state":{t[19]},"country":"BR"}},"phones":{phones},'
                f'"emails":{emails},"website":null,{company_text},'
                f'"extra":{extra}}}'
            )

    return emit
