"""ICP profiles saved as events: validation with per-field errors, the event, YAML, resolution.

A profile is saved by publishing ``IcpProfileSaved`` on ``icp.saved.<name>`` (the gateway API and
``hunter icp save`` both do); the latest event on that subject is the profile. The scorer resolves
a run's ``icp`` name from (a) the saved profile of that name, then (b) ``icp_dir`` files and the
shipped templates (:func:`shared.domain.icp.load_icp`). A YAML path is always a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from shared.domain.icp import PROFILE_NAME, IcpNotFound, IcpProfile, load_icp
from shared.events import IcpProfileSaved, Subjects


class IcpProfileInvalid(ValueError):
    """A profile that cannot be saved; ``errors`` maps a field (or "profile") to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(part) for part in err["loc"])
        if not loc:  # a whole-model rule ("capital_min is greater than capital_max"): name its field
            first = msg.split(" ", 1)[0]
            loc = first if first in IcpProfile.model_fields else "profile"
        errors.setdefault(loc, msg)
    return errors


def validate_profile(data: Mapping[str, Any], *, name: str | None = None) -> IcpProfile:
    """A profile dict (from the API or a YAML file) -> IcpProfile, or IcpProfileInvalid with field errors.

    ``name`` (a URL path parameter, a file stem) is used when the dict has none; when both are
    given they must agree.
    """
    if not isinstance(data, Mapping):
        raise IcpProfileInvalid({"profile": "an ICP profile must be a mapping of fields"})
    values = dict(data)
    if name is not None:
        given = values.setdefault("name", name)
        if given != name:
            raise IcpProfileInvalid({"name": f"{given!r} does not match the profile being saved ({name!r})"})
    errors: dict[str, str] = {}
    profile_name = values.get("name")
    if not isinstance(profile_name, str) or not PROFILE_NAME.fullmatch(profile_name):
        errors["name"] = "required: lower-case letters, digits, '-' or '_' (starting with a letter or digit)"
    try:
        profile = IcpProfile.model_validate(values)
    except ValidationError as exc:
        raise IcpProfileInvalid({**errors, **_field_errors(exc)}) from None
    if errors:
        raise IcpProfileInvalid(errors)
    return profile


def profile_dict(profile: IcpProfile) -> dict[str, Any]:
    """What an IcpProfileSaved event carries (every field, JSON-safe)."""
    return profile.model_dump(mode="json")


def saved_event(profile: IcpProfile) -> IcpProfileSaved:
    return IcpProfileSaved(name=profile.name, profile=profile_dict(profile))


def saved_subject(name: str) -> str:
    return Subjects.ICP_SAVED.format(name=name)


def profile_from_saved(event: IcpProfileSaved) -> IcpProfile:
    return validate_profile(event.profile, name=event.name)


def profile_yaml(profile: IcpProfile) -> str:
    return yaml.safe_dump(profile_dict(profile), sort_keys=False, allow_unicode=True)


def load_profile_yaml(path: Path, *, name: str | None = None) -> IcpProfile:
    """A YAML file -> validated profile; the name defaults to the file's stem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise IcpProfileInvalid({"profile": f"{path.name} is not valid YAML: {exc}"}) from None
    if data is None:
        data = {}
    if isinstance(data, Mapping) and name is None and "name" not in data:
        name = path.stem
    return validate_profile(data, name=name)


def is_profile_name(value: str | None) -> bool:
    """True for a name that may have a saved profile (not None, not a YAML path)."""
    return value is not None and PROFILE_NAME.fullmatch(value.strip()) is not None


def resolve_icp(name: str | None, saved: IcpProfileSaved | None, icp_dir: Path | None = None) -> IcpProfile:
    """The profile a run uses: the saved one when there is one, else a file or template."""
    if saved is not None:
        return profile_from_saved(saved)
    return load_icp(name, icp_dir)


def unknown_icp_reason(name: str | None, saved: IcpProfileSaved | None, icp_dir: Path | None = None) -> str | None:
    """Why a run cannot use the ICP ``name`` (no saved profile, file or template by that name, or an
    unreadable one), or ``None`` when it can: checked when the run is requested, so a typo is refused
    at once instead of failing the run at its scoring step."""
    if name is None or not name.strip() or saved is not None:
        return None
    try:
        load_icp(name, icp_dir)
    except (IcpNotFound, ValueError, OSError, yaml.YAMLError) as exc:
        return str(exc)
    return None


async def icp_request_error(bus: Any, name: str | None, icp_dir: Path | None = None) -> str | None:
    """``unknown_icp_reason`` with the saved profiles on ``bus`` (a ``shared.bus.Bus``): what the
    gateway and ``hunter hunt`` check before they publish a run."""
    if name and is_profile_name(name):
        try:
            stored = await bus.last(saved_subject(name.strip()))
            event = stored.event() if stored is not None else None
            if isinstance(event, IcpProfileSaved):
                profile_from_saved(event)
                return None
        except ValueError as exc:  # a saved profile that does not validate (any more)
            return f"the saved ICP profile {name!r} is unusable: {exc}"
    return unknown_icp_reason(name, None, icp_dir)
