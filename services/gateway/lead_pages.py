"""Which leads are on a page of the vault list, on SQLite: the join order and the index that drives it.

A vault the live projector built has no planner statistics (a replayed or upgraded one has, from
``ANALYZE``), and without them SQLite takes any indexed filter as very selective: for
``uf=SP`` it reads every company of the state, joins their leads and sorts them all, when walking
the score index and stopping at ``offset + limit`` would read a few hundred rows. The count comes
first (capped; ``match_rowids`` keeps the rowids it counted when they are all the matches), and
says how dense the matches are. Dense: the page is read in the sort's own order, the sorted table
driving (``CROSS JOIN`` keeps SQLite's join order as written, ``INDEXED BY`` its index) and the
other looked up by key. Sparse: the counted matches are sorted, without running the filter again.
Either way only rowids are sorted; the list's columns are read for the page's rows alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, func, literal_column, select, text
from sqlalchemy.orm import Session

from shared.adapters.sqlalchemy_join import DrivenJoin
from shared.vault.filters import SORTS, LeadFilter, lead_conditions, needs_company
from shared.vault.schema import Company, LeadCurrent

LEAD_ROWID = literal_column("lead_current.rowid", Integer)
LEADS_BY_KEY = "ix_lead_current_key"
LEADS_BY_UPDATED = "ix_lead_current_updated_key"
# the lead index a lead sort walks in order (else SQLite, without statistics, may take a filter's index and sort
# every match; the score sort is left to the planner: the bucket and status indexes are in score order too)
LEAD_SORT_INDEX = {"updated": LEADS_BY_UPDATED}
# the company index each company sort walks in order (ties on lead_key are sorted within a value)
COMPANY_SORT_INDEX = {"name": "ix_companies_legal_name", "city": "ix_companies_city"}
READ_PRAGMAS = ("PRAGMA mmap_size=268435456",)  # index lookups read pages in place, not through read()


def tune_connection(dbapi_conn: Any, _record: Any) -> None:
    """``connect`` listener for the gateway's (read-only) SQLite connections."""
    cur = dbapi_conn.cursor()
    for pragma in READ_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def _indexes(s: Session) -> set[str]:
    return set(s.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())


def _walks_sort_order(s: Session, flt: LeadFilter, base: str, *, found: int, offset: int, limit: int) -> bool:
    """Whether reading in sort order should reach ``offset + limit`` matches sooner than reading
    every match: at least ``found`` match (the count, maybe capped), spread evenly over the leads."""
    if base == "updated" and LEADS_BY_UPDATED not in _indexes(s):
        return False  # no index to walk (a vault the projector has not upgraded yet)
    if base == "city" and (flt.city or flt.uf):
        return False  # the matches sit in a few cities, maybe far down the city order
    leads = s.execute(select(func.max(LEAD_ROWID)).select_from(LeadCurrent)).scalar() or 0
    return (offset + limit) * leads <= 2 * found * found


def match_rowids(s: Session, flt: LeadFilter, cap: int) -> tuple[int, str | None]:
    """``count_leads`` that also keeps what it counted: (matches up to ``cap`` + 1, their rowids as
    a JSON array when they are all of them, i.e. at most ``cap``)."""
    inner = select(LEAD_ROWID.label("rid")).select_from(LeadCurrent)
    if needs_company(flt):
        inner = inner.join(Company, Company.lead_key == LeadCurrent.lead_key)  # type: ignore[arg-type]
    for c in lead_conditions(flt):
        inner = inner.where(c)
    sub = inner.limit(cap + 1).subquery()
    found, rowids = s.execute(select(func.count(), func.json_group_array(sub.c.rid))).one()
    return found, (rowids if found <= cap else None)


def page_of_matches(s: Session, rowids: str, *, sort: str, limit: int, offset: int) -> list[int]:
    """The page among leads already found (``match_rowids``): each read by rowid, sorted."""
    matches = func.json_each(rowids).table_valued("value")
    source = DrivenJoin(DrivenJoin(matches, LeadCurrent.__table__, matches.c.value == LEAD_ROWID),  # type: ignore[attr-defined]
                        Company.__table__, Company.lead_key == LeadCurrent.lead_key)  # type: ignore[attr-defined]
    stmt = select(LEAD_ROWID).select_from(source).order_by(*SORTS[sort]).offset(offset).limit(limit)
    return list(s.execute(stmt).scalars())


def page_rowids(s: Session, flt: LeadFilter, *, sort: str, limit: int, offset: int, found: int,
                matches: str | None = None) -> list[int]:
    """The ``lead_current.rowid`` of the page's rows, in page order (SQLite only). ``found``: the count;
    ``matches``: the matches' rowids when ``match_rowids`` kept them."""
    base = sort.lstrip("-")
    on = Company.lead_key == LeadCurrent.lead_key
    walk = _walks_sort_order(s, flt, base, found=found, offset=offset, limit=limit)
    if not walk and matches is not None:
        return page_of_matches(s, matches, sort=sort, limit=limit, offset=offset)
    if walk and base in COMPANY_SORT_INDEX and {COMPANY_SORT_INDEX[base], LEADS_BY_KEY} <= _indexes(s):
        source: Any = DrivenJoin(Company.__table__, LeadCurrent.__table__, on,  # type: ignore[attr-defined]
                                 left_index=COMPANY_SORT_INDEX[base], right_index=LEADS_BY_KEY)
    elif walk and base in ("score", "updated") or not needs_company(flt):
        # leads drive (in the sort's index when walking it); the company of each is one primary-key lookup
        index = LEAD_SORT_INDEX.get(base) if walk else None
        source = DrivenJoin(LeadCurrent.__table__, Company.__table__, on,  # type: ignore[attr-defined]
                            left_index=index if index in _indexes(s) else None)
    else:
        source = LeadCurrent.__table__.join(Company.__table__, on)  # type: ignore[attr-defined]  # the planner's pick
    stmt = select(LEAD_ROWID).select_from(source)
    for c in lead_conditions(flt):
        stmt = stmt.where(c)
    return list(s.execute(stmt.order_by(*SORTS[sort]).offset(offset).limit(limit)).scalars())
