"""ICP (ideal customer profile) definitions: the model, the shipped YAML templates, loading.

A profile says which companies a campaign wants (activities, regions, capital band, age band,
name keywords, exclusions) and may override the scoring points (``weights``, keys of
``DEFAULT_WEIGHTS``). Templates live in ``icp_templates/<name>.yaml``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import KpiTargets

TEMPLATES_DIR = Path(__file__).parent / "icp_templates"
DEFAULT_TEMPLATE = "software-b2b"

# Points per signal. v1 = registry data, v2 = website enrichment. Negative = penalty.
DEFAULT_WEIGHTS: dict[str, int] = {
    # v1: fit
    "activity_main": 30,
    "activity_secondary": 15,
    "region": 10,
    "keyword": 5,
    "capital": 8,
    "age": 7,
    "excluded": -50,
    "inactive": -30,
    # v1: contact quality
    "email_corporate": 12,
    "email_free": 4,
    "whatsapp": 10,
    "mobile": 6,
    "fixed": 4,
    "no_contact": -10,
    # v1: flags
    "accountant_like": -15,
    "repeated_phone": -10,
    # v2: website
    "site_verified": 12,
    "site_unverified": 3,
    "no_site": -10,
    "tech_ecommerce": 8,
    "tech_advertising": 6,
    "tech_analytics": 3,
    "tech_engagement": 6,
    "tech_cms": 2,
    "tech_max": 18,
    "social": 2,
    "social_max": 6,
    "whatsapp_site": 6,
    "email_corporate_found": 6,
    "email_corporate_confirmed": 2,
}

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]+")
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]*")  # a profile name is also a subject token
_NAME = PROFILE_NAME


class IcpNotFound(LookupError):
    """No template or file by that name."""


def fold(text: str) -> str:
    """Lower-case, accents removed, punctuation to single spaces: "Tecnologia-da Informação" ->
    "tecnologia da informacao"."""
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_NON_ALNUM.sub(" ", text).lower().split())


def normalize_code(code: str) -> str:
    """Activity / region codes compared without punctuation: "62.01Z" -> "6201Z", "6201-5/01" -> "6201501"."""
    return _NON_ALNUM.sub("", code).upper()


class IcpProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    target_activities: list[str] = Field(default_factory=list)  # CNAE/NAF codes or prefixes; [] = any
    regions: list[str] = Field(default_factory=list)  # UF or department codes; [] = any
    capital_min: float | None = None
    capital_max: float | None = None
    min_age_years: float | None = None
    max_age_years: float | None = None
    keywords: list[str] = Field(default_factory=list)  # matched in legal / trade names
    exclusions: list[str] = Field(default_factory=list)  # activity prefixes (digits) or name keywords
    weights: dict[str, int] = Field(default_factory=dict)  # overrides of DEFAULT_WEIGHTS
    # what the qualifier (services/qualifier) reads a lead's site for; none of them changes the score
    pain_keywords: list[str] = Field(default_factory=list)  # words of a need the offer answers
    hiring_keywords: list[str] = Field(default_factory=list)  # words of a team that grows (jobs pages)
    technologies_wanted: list[str] = Field(default_factory=list)  # detected technology names that fit the offer
    technologies_avoided: list[str] = Field(default_factory=list)  # names that speak against it
    targets: KpiTargets | None = None  # KPI targets a run with this profile is judged against (run report)

    @field_validator("target_activities", "regions", "keywords", "exclusions", "pain_keywords", "hiring_keywords",
                     "technologies_wanted", "technologies_avoided", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) for v in value]
        return value

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown weight keys {unknown}; known: {sorted(DEFAULT_WEIGHTS)}")
        return value

    @model_validator(mode="after")
    def _bands(self) -> IcpProfile:
        if self.capital_min is not None and self.capital_max is not None and self.capital_min > self.capital_max:
            raise ValueError("capital_min is greater than capital_max")
        if (
            self.min_age_years is not None
            and self.max_age_years is not None
            and self.min_age_years > self.max_age_years
        ):
            raise ValueError("min_age_years is greater than max_age_years")
        return self

    def weight(self, key: str) -> int:
        return self.weights.get(key, DEFAULT_WEIGHTS[key])

    @cached_property
    def activity_prefixes(self) -> tuple[str, ...]:
        return tuple(c for c in (normalize_code(a) for a in self.target_activities) if c)

    @cached_property
    def region_codes(self) -> frozenset[str]:
        return frozenset(normalize_code(r) for r in self.regions if normalize_code(r))

    @cached_property
    def excluded_activity_prefixes(self) -> tuple[str, ...]:
        """Exclusions that look like activity codes (start with a digit)."""
        return tuple(normalize_code(x) for x in self.exclusions if x.strip()[:1].isdigit())

    @cached_property
    def excluded_keywords(self) -> tuple[str, ...]:
        return tuple(fold(x) for x in self.exclusions if x.strip() and not x.strip()[:1].isdigit())

    @cached_property
    def folded_keywords(self) -> tuple[str, ...]:
        return tuple(fold(k) for k in self.keywords if k.strip())


def list_templates(icp_dir: Path | None = None) -> list[str]:
    """Names of the shipped templates, plus the profiles in ``icp_dir`` when given."""
    names = {p.stem for p in TEMPLATES_DIR.glob("*.yaml")}
    if icp_dir is not None and Path(icp_dir).is_dir():
        names |= {p.stem for p in Path(icp_dir).glob("*.yaml")} | {p.stem for p in Path(icp_dir).glob("*.yml")}
    return sorted(names)


def load_icp_file(path: Path) -> IcpProfile:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an ICP profile must be a YAML mapping")
    data.setdefault("name", path.stem)
    return IcpProfile.model_validate(data)


def load_icp(name_or_path: str | None, icp_dir: Path | None = None) -> IcpProfile:
    """Load a profile.

    None -> the default template ("software-b2b"); a name -> ``icp_dir/<name>.yaml`` (user
    profiles win over templates), else the shipped template; a path (ends in .yaml/.yml or
    contains a path separator) -> that YAML file.
    """
    if name_or_path is None or not name_or_path.strip():
        return load_icp_file(TEMPLATES_DIR / f"{DEFAULT_TEMPLATE}.yaml")
    value = name_or_path.strip()
    looks_like_path = value.endswith((".yaml", ".yml")) or "/" in value or "\\" in value
    if looks_like_path:
        path = Path(value)
        if not path.is_file() and icp_dir is not None and (Path(icp_dir) / value).is_file():
            path = Path(icp_dir) / value
        if not path.is_file():
            raise IcpNotFound(f"ICP file {value!r} not found")
        return load_icp_file(path)
    if not _NAME.fullmatch(value):
        raise IcpNotFound(f"invalid ICP name {value!r}")
    candidates = []
    if icp_dir is not None:
        candidates += [Path(icp_dir) / f"{value}.yaml", Path(icp_dir) / f"{value}.yml"]
    candidates.append(TEMPLATES_DIR / f"{value}.yaml")
    for path in candidates:
        if path.is_file():
            return load_icp_file(path)
    raise IcpNotFound(f"unknown ICP {value!r}; available: {', '.join(list_templates(icp_dir))}")
