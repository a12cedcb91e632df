"""Building output values fast.

Sources hand already-typed values to these builders, which skip pydantic validation
(``model_construct``) on the hot path; every field is still set to its declared type, so the
objects are ordinary, valid ``CompanyRecord``s (``tests/unit/test_source_records.py`` checks that
a round trip through ``model_validate`` gives the same record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel

from shared.schemas import Address, CompanyRecord, DroppedLead, Partner, Reason

_set = object.__setattr__


class _FastBuilder:
    """Fills a model's ``__dict__`` directly: defaults, factories, then the given values."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.fields = [(n, f.default, f.default_factory) for n, f in model.model_fields.items()]
        self.new = model.__new__

    def __call__(self, values: dict[str, Any]) -> Any:
        data = {
            name: values[name] if name in values else (factory() if factory else default)  # type: ignore[call-arg]
            for name, default, factory in self.fields
        }  # declared order, as validation would give (serialisation follows it)
        return self.wrap(data, set(values))

    def wrap(self, data: dict[str, Any], fields_set: set[str]) -> Any:
        """Wrap a complete field dict (every field present) as a model instance."""
        obj = self.new(self.model)
        _set(obj, "__dict__", data)
        _set(obj, "__pydantic_fields_set__", fields_set)
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj


_build_address = _FastBuilder(Address)
_build_partner = _FastBuilder(Partner)
_build_company = _FastBuilder(CompanyRecord)


def make_address(**values: Any) -> Address:
    """An ``Address`` from typed values (strings or ``None``), without validation."""
    return _build_address(values)  # type: ignore[no-any-return]


def make_partner(**values: Any) -> Partner:
    """A ``Partner`` from typed values, without validation."""
    return _build_partner(values)  # type: ignore[no-any-return]


ADDRESS_FIELDS = frozenset(Address.model_fields)
COMPANY_FIELDS = frozenset(CompanyRecord.model_fields)


def wrap_address(data: dict[str, Any]) -> Address:
    """An ``Address`` from a dict holding every field, typed (the hot path)."""
    return _build_address.wrap(data, set(ADDRESS_FIELDS))  # type: ignore[no-any-return]


def wrap_company(data: dict[str, Any]) -> CompanyRecord:
    """A ``CompanyRecord`` from a dict holding every field, typed (the hot path)."""
    return _build_company.wrap(data, set(COMPANY_FIELDS))  # type: ignore[no-any-return]


def make_company(values: dict[str, Any]) -> CompanyRecord:
    """A ``CompanyRecord`` from typed values, without validation."""
    return _build_company(values)  # type: ignore[no-any-return]


def dropped(
    code: str,
    detail: str,
    *,
    source_file: str | None,
    source_line: int | None,
    raw: Mapping[str, Any] | list[str] | None = None,
    lead_key: str | None = None,
) -> DroppedLead:
    """A lead dropped at the extract stage (``malformed_row``, ``invalid_registry_id``...)."""
    if isinstance(raw, list):
        raw_map: dict[str, str] | None = {str(i): str(v) for i, v in enumerate(raw)}
    elif raw is not None:
        raw_map = {str(k): "" if v is None else str(v) for k, v in raw.items()}
    else:
        raw_map = None
    return DroppedLead(
        lead_key=lead_key,
        stage="extract",
        reason=Reason(code=code, detail=detail),
        source_file=source_file,
        source_line=source_line,
        raw=raw_map,
    )


def lead_key_of(text: str) -> str:
    """The ``lead_key`` of the JSON text of a ``CompanyRecord`` (sliced out when it comes first, as
    the fast builders and pydantic both write it)."""
    end = text.find('"', 13)
    key = text[13:end]
    if text.startswith('{"lead_key":"') and end > 13 and "\\" not in key:
        return key
    return str(orjson.loads(text)["lead_key"])
