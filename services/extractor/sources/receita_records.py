"""Receita rows -> ``CompanyRecord``: the hot loop of a national import, kept tight.

``company_builder(tables)`` returns one function that turns a split Estabelecimentos row and its
company-level rows (raw bytes, parsed here only when used) into a record. It reads the code
tables through bound lookups, memoises dates, shares one fields-set per model (every field is
always set, so pydantic's ``fields_set.add`` on assignment is a no-op) and fills the models'
``__dict__`` directly: no validation, but every field is set to its declared type, so the objects
are ordinary, valid records (a ``model_validate`` round trip gives the same record).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.schemas import Address, CompanyRecord, Partner

from .filters import BR_STATUS_BY_CODE
from .receita_layout import AGE_BAND, PARTNER_KIND, PORTE, split_line
from .values import collapse, iso_date, parse_money

if TYPE_CHECKING:
    from .cnpj_files import CodeTables

_FLAGS = {b"S": True, b"N": False, b"s": True, b"n": False}
_NO_COMPANY: tuple[str | None, str | None, str | None, str | None, float | None] = (None, None, None, None, None)
_set = object.__setattr__
_new_partner = Partner.__new__
_PARTNER_FIELDS = set(Partner.model_fields)

# (legal_name, legal_nature, legal_nature_name, size, capital)
CompanyInfo = tuple[str | None, str | None, str | None, str | None, float | None]
Builder = Callable[[list[str], str, int, "bytes | None", "bytes | None", "list[bytes] | None"], CompanyRecord]


def is_clean_line(line: str) -> bool:
    """No field of this quoted line has padding, a run of spaces, a tab, a line break or a NUL."""
    return "  " not in line and '" ' not in line and ' "' not in line and "\t" not in line and "\n" not in line


def estab_fields(raw: bytes | str, expected: int) -> list[str]:
    """Fields of a raw (or decoded) Estabelecimentos record, trimmed and collapsed unless the line is clean."""
    line = raw.decode("latin-1") if type(raw) is bytes else raw
    if "\x00" in line:
        line = line.replace("\x00", "")
    line = line.rstrip("\r\n")
    if "  " not in line and '" ' not in line and ' "' not in line and "\t" not in line and "\n" not in line:
        if line.count('"') == 2 * expected and line[:1] == '"' and line[-1:] == '"':
            return line[1:-1].split('";"')
        return split_line(line, expected)
    return [collapse(v) or "" for v in split_line(line, expected)]


def split_raw(raw: bytes | str, expected: int) -> list[str] | None:
    """Fields of a company-level raw (or decoded) record (``None`` when it has the wrong number of columns)."""
    line = raw.decode("latin-1") if type(raw) is bytes else raw
    if "\x00" in line:
        line = line.replace("\x00", "")
    fields = split_line(line.rstrip("\r\n"), expected)
    return fields if len(fields) == expected else None


def simples_flags(raw: bytes | str | None) -> tuple[bool | None, bool | None] | None:
    """(opção pelo Simples, opção MEI) of a raw (or decoded) Simples record."""
    if raw is None:
        return None
    if type(raw) is str:
        raw = raw.encode("latin-1")
    parts = raw.rstrip(b"\r\n").split(b";")
    if len(parts) != 7:
        f = split_raw(raw, 7)
        if f is None:
            return None
        parts = [v.strip().encode("latin-1") for v in f]
    return _FLAGS.get(parts[1].strip(b'" ')), _FLAGS.get(parts[4].strip(b'" '))


def normal_cnpj(basico: str, ordem: str, dv: str) -> str:
    basico, ordem, dv = basico.strip(), ordem.strip(), dv.strip()
    if basico.isdigit():
        basico = basico.zfill(8)
    if ordem.isdigit():
        ordem = ordem.zfill(4)
    return (basico + ordem + dv.zfill(2)).upper()


def capital_value(money: str) -> float | None:
    if money.count(",") == 1 and "." not in money:
        try:
            return float(money.replace(",", "."))
        except ValueError:
            pass
    return parse_money(money)


def company_info(raw: bytes | None, tables: CodeTables) -> CompanyInfo:
    """The values a lead takes from its Empresas row."""
    empresa = None if raw is None else split_raw(raw, 7)
    if empresa is None:
        return _NO_COMPANY
    natureza = empresa[2].strip()
    porte = empresa[5].strip()
    return (
        collapse(empresa[1]),
        natureza or None,
        tables.naturezas.get(natureza) if natureza else None,
        PORTE.get(porte, porte or None),
        capital_value(empresa[4].strip()),
    )


def partner_values(raws: list[bytes], tables: CodeTables) -> list[dict[str, str | None]]:
    """The partners of a company as plain values (``Partner`` fields), from raw Socios rows."""
    out = []
    qualifications = tables.qualificacoes
    for raw in raws:
        r = split_raw(raw, 11)
        if r is None:
            continue
        name = collapse(r[2])
        if not name:
            continue
        qualification = r[4].strip()
        age = r[10].strip()
        out.append({
            "name": name,
            "kind": PARTNER_KIND.get(r[1].strip(), "unknown"),
            "document": r[3].strip() or None,
            "qualification": qualifications.get(qualification, qualification or None),
            "joined_on": iso_date(r[5]),
            "age_band": AGE_BAND.get(age) if age else None,
        })
    return out


def partners(raws: list[bytes], tables: CodeTables) -> list[Partner]:
    out = []
    for values in partner_values(raws, tables):
        partner = _new_partner(Partner)
        _set(partner, "__dict__", values)
        _set(partner, "__pydantic_fields_set__", _PARTNER_FIELDS)
        _set(partner, "__pydantic_extra__", None)
        _set(partner, "__pydantic_private__", None)
        out.append(partner)
    return out


def company_builder(tables: CodeTables) -> Builder:
    """A function building one lead per Estabelecimentos row (see the module docstring)."""
    status_get = BR_STATUS_BY_CODE.get
    cnaes_get = tables.cnaes.get
    cities_get = tables.municipios.get
    motivos, paises = tables.motivos, tables.paises
    new_company, new_address = CompanyRecord.__new__, Address.__new__
    company_fields, address_fields = set(CompanyRecord.model_fields), set(Address.model_fields)
    dates: dict[str, str | None] = {}
    last: list[Any] = [None, _NO_COMPANY]  # one-entry cache: branches follow their head office

    def build(
        f: list[str], source_file: str, source_line: int,
        empresa: bytes | None, simples: bytes | None, socios: list[bytes] | None,
    ) -> CompanyRecord:
        """``f`` as ``estab_fields`` gives it; the company-level rows raw, as read."""
        cnpj = f[0] + f[1] + f[2]
        if len(cnpj) != 14 or not cnpj.isalnum() or not (cnpj.isdigit() or cnpj.isupper()):
            cnpj = normal_cnpj(f[0], f[1], f[2])
        tel1, tel2 = f[22], f[24]
        if tel1:
            phones = [f"{f[21]} {tel1}" if f[21] else tel1]
            if tel2:
                phones.append(f"{f[23]} {tel2}" if f[23] else tel2)
        elif tel2:
            phones = [f"{f[23]} {tel2}" if f[23] else tel2]
        else:
            phones = []
        extra: dict[str, str] = {}
        motivo = f[7]
        if motivo and motivo != "00" and motivo != "0":
            extra["status_reason"] = motivos.get(motivo, motivo)
        if f[26]:
            extra["fax"] = f"{f[25]} {f[26]}".strip()
        if f[28]:
            extra["special_status"] = collapse(f[28]) or ""
            extra["special_status_date"] = iso_date(f[29]) or ""
        city_code, uf = f[20], f[19]
        city = cities_get(city_code) or city_code or None
        if uf == "EX":
            city = collapse(f[8]) or city
            if f[9]:
                extra["country_name"] = paises.get(f[9], f[9])
        address = new_address(Address)
        _set(address, "__dict__", {
            "street_type": f[13] or None, "street": f[14] or None, "number": f[15] or None,
            "complement": f[16] or None, "district": f[17] or None, "postal_code": f[18] or None,
            "city": city, "city_code": city_code or None, "state": uf or None, "country": "BR",
        })
        _set(address, "__pydantic_fields_set__", address_fields)
        _set(address, "__pydantic_extra__", None)
        _set(address, "__pydantic_private__", None)
        if empresa is None:
            info = _NO_COMPANY
        elif last[0] is empresa:
            info = last[1]
        else:
            info = company_info(empresa, tables)
            last[0], last[1] = empresa, info
        flags = simples_flags(simples) if simples is not None else None
        situacao, cnae, secondary, email = f[5], f[11], f[12], f[27]
        d1, d2 = f[6], f[10]
        try:
            status_date = dates[d1]
        except KeyError:
            status_date = dates[d1] = iso_date(d1)
        try:
            opened_on = dates[d2]
        except KeyError:
            opened_on = dates[d2] = iso_date(d2)
        if len(dates) > 200_000:
            dates.clear()
        record = new_company(CompanyRecord)
        _set(record, "__dict__", {
            "lead_key": "BR:" + cnpj,
            "country": "BR",
            "registry_id": cnpj,
            "source": "cnpj",
            "source_file": source_file,
            "source_line": source_line,
            "legal_name": info[0],
            "trade_name": f[4] or None,
            "status": status_get(situacao, situacao or None),
            "status_date": status_date,
            "opened_on": opened_on,
            "activity_main": cnae or None,
            "activity_main_name": cnaes_get(cnae),
            "activities_secondary": secondary.split(",") if secondary else [],
            "legal_nature": info[1],
            "legal_nature_name": info[2],
            "size": info[3],
            "capital": info[4],
            "head_office": f[3] == "1",
            "address": address,
            "phones": phones,
            "emails": [email] if email else [],
            "website": None,
            "simples": None if flags is None else flags[0],
            "mei": None if flags is None else flags[1],
            "partners": partners(socios, tables) if socios else [],
            "extra": extra,
        })
        _set(record, "__pydantic_fields_set__", company_fields)
        _set(record, "__pydantic_extra__", None)
        _set(record, "__pydantic_private__", None)
        return record

    return build
