"""Duplicate handling within one run.

Rules:
1. Same lead_key (same registry id after normalisation) -> one lead. The fields are merged:
   the most complete record is the base (ties: source file, source line, then content, so the
   result does not depend on input order); its empty fields are filled from the others; phones,
   e-mails, secondary activities, partners are unions (order kept, duplicates removed).
2. Different registry ids sharing the SAME corporate e-mail AND the same normalised legal name
   (typically a head office and its branches) -> one lead. The survivor is the head office, else
   the smallest lead_key; it takes the union of phones, e-mails and website candidates, and
   ``merged_from`` records the keys merged into it.
A shared phone alone, or a shared free-mail address, never makes a duplicate: accounting
offices register dozens of unrelated clients with their own phone and e-mail.
Every merged-away record becomes a DroppedLead "duplicate" ("merged into <key>").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from shared.wire.records import dump_json, field_names, replace

_LIST_FIELDS = ("phones", "emails", "activities_secondary")


def _is_empty(value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    if isinstance(value, msgspec.Struct):  # the address: empty when only its country is set
        return all(getattr(value, f) is None for f in value.__struct_fields__ if f != "country")
    if hasattr(value, "model_dump"):
        return not value.model_dump(exclude={"country"}, exclude_none=True)
    return False


def _completeness(record: Any) -> int:
    return sum(not _is_empty(getattr(record, name)) for name in field_names(record))


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def merge_records(records: list[Any]) -> tuple[Any, list[Any]]:
    """Merge records of one company (same lead_key): (merged record, records merged away).

    The merged record is the most complete one with its empty fields filled from the others.
    Records are ``CompanyRecord`` models or their ``records`` mirrors (all of one kind).
    """
    if len(records) == 1:
        return records[0], []
    ordered = sorted(
        records,
        key=lambda r: (-_completeness(r), r.source_file or "", r.source_line or -1, dump_json(r)),
    )
    base, others = ordered[0], ordered[1:]
    updates: dict[str, Any] = {}
    for name in field_names(base):
        value = getattr(base, name)
        if name in _LIST_FIELDS:
            merged = _unique(v for r in ordered for v in getattr(r, name))
            if merged != value:
                updates[name] = merged
        elif name == "partners":
            partners = {(p.name, p.document): p for r in reversed(ordered) for p in r.partners}
            merged = _unique((p.name, p.document) for r in ordered for p in r.partners)
            if len(merged) != len(base.partners):
                updates[name] = [partners[k] for k in merged]
        elif name == "extra":
            extra: dict[str, str] = {}
            for r in reversed(ordered):
                extra.update(r.extra)
            if extra != value:
                updates[name] = extra
        elif _is_empty(value):
            for other in others:
                candidate = getattr(other, name)
                if not _is_empty(candidate):
                    updates[name] = candidate
                    break
    return (replace(base, **updates) if updates else base), others


def find_duplicates(candidates: Mapping[str, tuple[bool, Iterable[str]]]) -> dict[str, str]:
    """Group leads that share a match key; return merged-away lead_key -> survivor lead_key.

    ``candidates`` maps lead_key -> (is_head_office, match keys). Leads sharing any match key
    (transitively) form one group; the survivor is the head office, else the smallest key.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for lead_key in sorted(candidates):
        parent.setdefault(lead_key, lead_key)
        for match in candidates[lead_key][1]:
            first = owner.setdefault(match, lead_key)
            if first != lead_key:
                a, b = find(first), find(lead_key)
                if a != b:
                    parent[max(a, b)] = min(a, b)

    groups: dict[str, list[str]] = {}
    for lead_key in parent:
        groups.setdefault(find(lead_key), []).append(lead_key)
    merged: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        survivor = min(members, key=lambda k: (not candidates[k][0], k))
        for k in members:
            if k != survivor:
                merged[k] = survivor
    return merged
