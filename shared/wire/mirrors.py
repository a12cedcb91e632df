"""msgspec mirrors generated from the pydantic models of ``shared/``: same names, fields, field order,
types and defaults, so a schema change needs no second edit and a mirror writes the same JSON as its
model. They are not tracked by the garbage collector (``gc=False``: a decoded event holds no
reference cycle). Decoding is strict (no string-to-number coercion): callers fall back to the
pydantic path for anything a mirror refuses.

Two flavours, one generator (:func:`struct_of`):

- ``sequence=tuple`` (the projector's fast decoding path, ``services.projector.structs``): a list
  field is a tuple (the empty one is a shared constant, others the collector soon stops tracking);
- ``sequence=list`` (the run-level stages' records, ``shared.wire.records``): lists, which the
  cleaner and the scorer build and extend; ``bases`` and ``namespace`` add what a stage reads off a
  record (a ``lead_key`` property, a batch event's ``TYPE`` and ``SUBJECT``).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
from pydantic import BaseModel

Sequence = type[tuple] | type[list]  # type: ignore[type-arg]
_STRUCTS: dict[tuple[type[BaseModel], type], type[msgspec.Struct]] = {}
FLOAT_FIELDS: dict[type[msgspec.Struct], tuple[str, ...]] = {}  # fields that may hold a float, nested or not
# fields the model leaves out of its payload when None (its ``OMIT_NONE``): a mirror's canonical form too
OMIT_NONE: dict[type[msgspec.Struct], tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


class Extras:
    """What :func:`struct_of` adds to the generated classes of one flavour, by model."""

    def __init__(self, bases: Mapping[type[BaseModel], tuple[type, ...]] | None = None,
                 namespaces: Mapping[type[BaseModel], dict[str, Any]] | None = None) -> None:
        self.bases, self.namespaces = dict(bases or {}), dict(namespaces or {})


_EXTRAS: dict[type, Extras] = {tuple: Extras(), list: Extras()}


def add_extras(sequence: Sequence, extras: Extras) -> None:
    """Bases and class attributes for ``sequence``'s flavour; before any of its structs is generated."""
    if any(seq is sequence for _, seq in _STRUCTS):
        raise RuntimeError(f"{sequence.__name__} mirrors were generated already")
    _EXTRAS[sequence] = extras


def _mirror_type(annotation: Any, sequence: Sequence) -> Any:
    if annotation is Any or annotation in _SCALARS:
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return struct_of(annotation, sequence=sequence)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return annotation
    if origin in (Union, types.UnionType):
        return Union[tuple(_mirror_type(a, sequence) for a in args)]  # noqa: UP007  (built at run time)
    if origin is list:
        if sequence is list:
            return list[_mirror_type(args[0], sequence)]  # type: ignore[misc]
        return tuple[_mirror_type(args[0], sequence), ...]
    if origin is dict:
        return dict[_mirror_type(args[0], sequence), _mirror_type(args[1], sequence)]  # type: ignore[misc]
    raise TypeError(f"no msgspec mirror for {annotation!r}")


def _mirror_factory(factory: Any, sequence: Sequence) -> Any:
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        return struct_of(factory, sequence=sequence)
    return sequence if factory is list else factory


def struct_of(model: type[BaseModel], *, sequence: Sequence = tuple) -> type[msgspec.Struct]:
    """The msgspec Struct with ``model``'s fields, types and defaults (unknown fields ignored)."""
    key = (model, sequence)
    if key not in _STRUCTS:
        fields: list[tuple[str, Any, Any] | tuple[str, Any]] = []
        for name, f in model.model_fields.items():
            kind = _mirror_type(f.annotation, sequence)
            if f.is_required():
                fields.append((name, kind))
            elif f.default_factory is not None:
                fields.append((name, kind, msgspec.field(default_factory=_mirror_factory(f.default_factory, sequence))))
            else:
                fields.append((name, kind, sequence(f.default) if type(f.default) is list else f.default))
        extras = _EXTRAS[sequence]
        struct = msgspec.defstruct(model.__name__, fields, kw_only=True, gc=False,
                                   bases=extras.bases.get(model), namespace=extras.namespaces.get(model))
        _STRUCTS[key] = struct
        OMIT_NONE[struct] = tuple(getattr(model, "OMIT_NONE", ()))
        FLOAT_FIELDS[struct] = tuple(name for name, f in model.model_fields.items() if _may_float(f.annotation))
    return _STRUCTS[key]


def _may_float(annotation: Any) -> bool:
    if annotation is Any or annotation is float:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_may_float(f.annotation) for f in annotation.model_fields.values())
    return get_origin(annotation) is not Literal and any(_may_float(a) for a in get_args(annotation))
