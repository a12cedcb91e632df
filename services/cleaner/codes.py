"""Receita codes decoded where the data enters: a Brazilian company whose size (porte), city or legal
nature arrives as a code leaves the cleaner with the words (``01`` -> ``MICRO EMPRESA``, city ``7107``
-> ``SAO PAULO``, natureza ``2062`` -> its name beside the code), so the vault, the exports and the
scorer all read the same values. Codes that are no known code are left as they are."""

from __future__ import annotations

from typing import Any

from shared.receita_codes import legal_nature_name, municipality, size_name
from shared.wire.records import replace


def decode_codes(company: Any) -> Any:
    """``company`` (either record kind) with its Receita codes decoded; the same object when none is."""
    if (company.country or "BR").upper() != "BR":
        return company
    changes: dict[str, Any] = {}
    if company.size and (size := size_name(company.size)):
        changes["size"] = size
    if company.legal_nature and not company.legal_nature_name and (nature := legal_nature_name(company.legal_nature)):
        changes["legal_nature_name"] = nature
    address = company.address
    city = address.city
    found = municipality(city) if city and city.isdigit() else None
    if found is None and not city and address.city_code:
        found = municipality(address.city_code)
    if found is not None:
        name, uf, code = found
        changes["address"] = replace(address, city=name, city_code=address.city_code or code,
                                     state=address.state or uf)
    return replace(company, **changes) if changes else company
