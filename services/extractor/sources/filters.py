"""RunFilters turned into fast predicates, shared by every source.

Activity codes (CNAE, NAF) match by prefix on letters and digits only, so ``"62"`` selects a whole
division and ``"62.01Z"`` equals ``"6201Z"``. Cities match by code or by accent/case-insensitive name.
An empty list means "no filter"; a status list of ``["*"]`` or ``["ALL"]`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.folding import fold
from shared.events import RunFilters

from .values import alnum_upper

BR_STATUS_BY_CODE = {"01": "NULA", "02": "ATIVA", "03": "SUSPENSA", "04": "INAPTA", "08": "BAIXADA"}
_BR_STATUS_ALIASES = {"ACTIVE": "ATIVA", "ATIVO": "ATIVA", "A": "ATIVA", "CLOSED": "BAIXADA"}
_FR_STATUS_ALIASES = {
    "A": "A", "ATIVA": "A", "ACTIVE": "A", "ACTIF": "A", "ACTIVE_ONLY": "A",
    "F": "F", "FERME": "F", "FERMEE": "F", "CLOSED": "F", "BAIXADA": "F", "INATIVA": "F",
}
_ANY = {"*", "ALL", "ANY", "TODAS", "TODOS"}


def _status_set(values: list[str], country: str) -> frozenset[str] | None:
    folded = [fold(v) for v in values if v and v.strip()]
    if not folded or any(v in _ANY for v in folded):
        return None
    out: set[str] = set()
    for v in folded:
        if country == "FR":
            out.add(_FR_STATUS_ALIASES.get(v, v))
        else:
            code = v.zfill(2) if v.isdigit() else None
            out.add(BR_STATUS_BY_CODE.get(code, v) if code else _BR_STATUS_ALIASES.get(v, v))
    return frozenset(out)


@dataclass(frozen=True)
class LeadFilter:
    """Filters normalised once; the ``*_ok`` methods are called per row."""

    regions: frozenset[str] = frozenset()  # UF (BR) or department (FR), upper-case
    city_names: frozenset[str] = frozenset()  # folded names
    city_codes: frozenset[str] = frozenset()  # registry's own codes, as written
    activities: tuple[str, ...] = ()  # alnum upper-case prefixes
    include_secondary: bool = False
    statuses: frozenset[str] | None = None  # None = any
    limit: int | None = None
    raw: dict[str, object] = field(default_factory=dict, compare=False)

    @classmethod
    def from_run(cls, filters: RunFilters, *, country: str = "BR", activity: str = "cnae") -> LeadFilter:
        codes = filters.naf if activity == "naf" and filters.naf else filters.cnae
        if activity == "naf" and not filters.naf:
            codes = []
        cities = [c.strip() for c in filters.city if c and c.strip()]
        return cls(
            regions=frozenset(u.strip().upper() for u in filters.uf if u and u.strip()),
            city_names=frozenset(fold(c) for c in cities if not c.isdigit()),
            city_codes=frozenset(c for c in cities if c.isdigit()),
            activities=tuple(sorted({alnum_upper(c) for c in codes if alnum_upper(c)})),
            include_secondary=filters.include_secondary,
            statuses=_status_set(filters.status, country),
            limit=filters.limit if filters.limit is None or filters.limit >= 0 else None,
            raw=filters.model_dump(),
        )

    @property
    def has_city(self) -> bool:
        return bool(self.city_names or self.city_codes)

    def region_ok(self, region: str | None) -> bool:
        return not self.regions or (region or "").upper() in self.regions

    def city_ok(self, code: str | None, name: str | None) -> bool:
        if not self.has_city:
            return True
        if code and code in self.city_codes:
            return True
        return bool(name) and fold(name) in self.city_names  # type: ignore[arg-type]

    def status_ok(self, status: str | None) -> bool:
        return self.statuses is None or (status or "").upper() in self.statuses

    def activity_ok(self, main: str | None, secondary: list[str] | str | None = None) -> bool:
        if not self.activities:
            return True
        prefixes = self.activities
        if main and alnum_upper(main).startswith(prefixes):
            return True
        if self.include_secondary and secondary:
            items = secondary.split(",") if isinstance(secondary, str) else secondary
            return any(alnum_upper(s).startswith(prefixes) for s in items if s)
        return False
