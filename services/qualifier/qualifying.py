"""The rule-based qualifier: a lead's fit, pain / need signals and data quality against an ICP profile,
read from its registry record and what its site shows, with tags and a one-paragraph snapshot made of
facts. Pure and offline: the same lead, site, profile and date give the same qualification.

Points (0-100 in all):
- fit (0-50): main activity targeted 18 (a secondary one 8; a profile without activities 10), region 6,
  capital in the band 6, age in the band 6, a profile keyword in the names or on the site 4, active in
  the registry 6, a verified site 4. An excluded activity or name word leaves no fit.
- pain / need (0-40): the profile's ``pain_keywords`` on the site, 6 each up to 18; its
  ``hiring_keywords``, 6 each up to 12; ``technologies_wanted`` detected, 4 each up to 10; a
  ``technologies_avoided`` one takes 10 away (never below 0).
- data quality (0-10): a corporate e-mail 3, a phone 2, WhatsApp 2, a verified site 2, a social profile 1.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date

from shared.domain.icp import IcpProfile, fold, normalize_code
from shared.schemas import Enrichment, ScoredLead

ACTIVE = frozenset({"ATIVA", "A", "ACTIVE"})
PAIN_EACH, PAIN_MAX = 6, 18
HIRING_EACH, HIRING_MAX = 6, 12
TECH_EACH, TECH_MAX = 4, 10
TECH_AVOIDED = 10


@dataclass(frozen=True)
class LeadFacts:
    """What the qualifiers read of a lead: its registry record and contacts, and its site's words."""

    lead_key: str
    country: str
    name: str
    legal_name: str
    activity_main: str
    activity_name: str
    activities_secondary: tuple[str, ...]
    status: str
    opened_on: str
    capital: float | None
    size: str
    city: str
    state: str
    region: str
    corporate_email: bool
    free_email: bool
    phone: bool
    whatsapp: bool
    site: str  # the verified site's URL, "" without one
    domain: str
    site_text: str  # title, description and the homepage's text excerpt, as read
    technologies: tuple[str, ...]
    socials: tuple[str, ...]
    accountant_like: bool

    def content_hash(self) -> str:
        """SHA-256 of the facts (the site's content among them): the key, with the lead, of an LLM's reply."""
        blob = json.dumps(self.__dict__, sort_keys=True, ensure_ascii=False, default=list)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Qualification:
    fit: int
    pain: int
    data_quality: int
    tags: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    snapshot: str = ""

    @property
    def score(self) -> int:
        return self.fit + self.pain + self.data_quality


def _region(lead: ScoredLead) -> str:
    address = lead.lead.company.address
    if address.state:
        return normalize_code(address.state)
    if (lead.lead.company.country or "").upper() == "FR" and address.postal_code:
        code = address.postal_code.strip()
        return code[:3] if code.startswith("97") else code[:2]
    return ""


def lead_facts(scored: ScoredLead, enrichment: Enrichment | None) -> LeadFacts:
    """The facts of a lead as its enriched event carries them."""
    lead, company = scored.lead, scored.lead.company
    en = enrichment if enrichment is not None and enrichment.status == "ok" else None
    site_ok = bool(en and en.site and en.verified)
    site_domain = (en.domain or "") if en else ""
    site_emails = [e for e in (en.emails if en else []) if site_domain and e.endswith("@" + site_domain)]
    text = " ".join(t for t in ((en.title, en.description, en.text_excerpt) if en else ()) if t)
    return LeadFacts(
        lead_key=company.lead_key,
        country=(company.country or "BR").upper(),
        name=company.trade_name or company.legal_name or company.registry_id,
        legal_name=company.legal_name or "",
        activity_main=company.activity_main or "",
        activity_name=company.activity_main_name or "",
        activities_secondary=tuple(company.activities_secondary),
        status=(company.status or "").strip().upper(),
        opened_on=company.opened_on or "",
        capital=company.capital,
        size=company.size or "",
        city=company.address.city or "",
        state=company.address.state or "",
        region=_region(scored),
        corporate_email=any(not e.free_mail for e in lead.emails) or bool(site_emails),
        free_email=any(e.free_mail for e in lead.emails),
        phone=bool(lead.phones) or bool(en and en.phones),
        whatsapp=any(p.whatsapp for p in lead.phones) or bool(en and en.whatsapp),
        site=(en.site or "") if site_ok and en else "",
        domain=site_domain if site_ok else "",
        site_text=text if site_ok else "",
        technologies=tuple(sorted({t.name for t in en.technologies})) if site_ok and en else (),
        socials=tuple(sorted(en.socials)) if en else (),
        accountant_like=any(f.code == "accountant_like" for f in lead.flags),
    )


def _found(words: list[str], folded_text: str) -> list[str]:
    """The words (phrases) of ``words`` found whole in the folded text, in the profile's order, once each."""
    padded = f" {folded_text} "
    out: list[str] = []
    for word in words:
        key = fold(word)
        if key and f" {key} " in padded and word not in out:
            out.append(word)
    return out


def _years(opened_on: str, as_of: date) -> float | None:
    try:
        return (as_of - date.fromisoformat(opened_on[:10])).days / 365.25
    except ValueError:
        return None


def _in_band(value: float | None, low: float | None, high: float | None) -> bool:
    """Whether the profile sets a band and the value is in it."""
    if value is None or (low is None and high is None):
        return False
    return (low if low is not None else -math.inf) <= value <= (high if high is not None else math.inf)


def _prefix(code: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if code.startswith(p)), None)


def _fit(f: LeadFacts, icp: IcpProfile, as_of: date, names: str, text: str) -> tuple[int, list[str], list[str]]:
    points, signals, tags = 0, [], []
    main = normalize_code(f.activity_main)
    excluded = _prefix(main, icp.excluded_activity_prefixes) if main else None
    excluded_word = next((w for w in icp.excluded_keywords if f" {w} " in f" {names} "), None)
    if excluded or excluded_word:
        why = f"activity {f.activity_main} excluded" if excluded else f"name contains {excluded_word!r}"
        return 0, [f"excluded by the profile: {why}"], ["excluded"]
    if not icp.activity_prefixes:
        points += 10
    elif main and _prefix(main, icp.activity_prefixes):
        points += 18
        signals.append(f"main activity {f.activity_main} targeted")
        tags.append("target-activity")
    elif any(_prefix(normalize_code(c), icp.activity_prefixes) for c in f.activities_secondary):
        points += 8
        signals.append("a secondary activity targeted")
        tags.append("secondary-activity")
    if icp.region_codes and f.region in icp.region_codes:
        points += 6
        signals.append(f"region {f.region} targeted")
    if _in_band(f.capital, icp.capital_min, icp.capital_max):
        points += 6
        signals.append("capital in the band")
    years = _years(f.opened_on, as_of)
    if _in_band(years, icp.min_age_years, icp.max_age_years):
        points += 6
        signals.append(f"{years:.0f} years old, in the band")
    keywords = _found(icp.keywords, f"{names} {text}")
    if keywords:
        points += 4
        signals.append(f"profile keywords: {', '.join(keywords[:3])}")
    if f.status in ACTIVE:
        points += 6
    else:
        signals.append(f"registry status {f.status or 'unknown'}")
        tags.append("inactive")
    if f.site:
        points += 4
    return min(points, 50), signals, tags


def _pain(f: LeadFacts, icp: IcpProfile, text: str) -> tuple[int, list[str], list[str]]:
    signals: list[str] = []
    tags: list[str] = []
    pains = _found(icp.pain_keywords, text)
    hiring = _found(icp.hiring_keywords, text)
    techs = {t.casefold(): t for t in f.technologies}
    wanted = [techs[w.casefold()] for w in icp.technologies_wanted if w.casefold() in techs]
    avoided = [techs[w.casefold()] for w in icp.technologies_avoided if w.casefold() in techs]
    points = min(PAIN_MAX, PAIN_EACH * len(pains)) + min(HIRING_MAX, HIRING_EACH * len(hiring))
    points += min(TECH_MAX, TECH_EACH * len(wanted)) - TECH_AVOIDED * len(avoided)
    if pains:
        signals.append(f"site speaks of {', '.join(pains[:4])}")
        tags.append("pain")
    if hiring:
        signals.append(f"hiring: {', '.join(hiring[:3])}")
        tags.append("hiring")
    if wanted:
        signals.append(f"uses {', '.join(wanted)}")
        tags.extend(f"uses:{t}" for t in wanted)
    if avoided:
        signals.append(f"uses {', '.join(avoided)} (avoided by the profile)")
        tags.extend(f"avoid:{t}" for t in avoided)
    return max(0, min(points, 40)), signals, tags


def _quality(f: LeadFacts) -> tuple[int, list[str]]:
    points, tags = 0, []
    if f.corporate_email:
        points += 3
        tags.append("corporate-email")
    elif f.free_email:
        tags.append("free-email")
    if f.phone:
        points += 2
    if f.whatsapp:
        points += 2
        tags.append("whatsapp")
    if f.site:
        points += 2
    else:
        tags.append("no-site")
    if f.socials:
        points += 1
    if f.accountant_like:
        tags.append("accountant-contact")
    return min(points, 10), tags


def _money(value: float, country: str) -> str:
    unit = "€" if country == "FR" else "R$"
    if value >= 1_000_000:
        return f"{unit} {value / 1_000_000:.1f} million"
    if value >= 1_000:
        return f"{unit} {value / 1_000:.0f} thousand"
    return f"{unit} {value:.0f}"


def snapshot(f: LeadFacts, as_of: date, signals: list[str]) -> str:
    """One paragraph of facts: who, what, where, how old and big, its site and what it shows, how to reach it."""
    who = f.name if not f.legal_name or f.legal_name == f.name else f"{f.name} ({f.legal_name})"
    what = f.activity_name.lower() if f.activity_name else "activity"
    where = "/".join(p for p in (f.city.title(), f.state) if p)
    parts = [f"{who}: {what} {f.activity_main}".rstrip() + (f" in {where}" if where else "")]
    years = _years(f.opened_on, as_of)
    traits = []
    if years is not None:
        traits.append(f"{max(years, 0):.0f} years old")
    if f.size:
        traits.append(f.size.lower())
    if f.capital:
        traits.append(f"capital {_money(f.capital, f.country)}")
    if traits:
        parts.append(", ".join(traits))
    if f.site:
        more = len(f.technologies) - 6
        shown = ", ".join(f.technologies[:6]) + (f" and {more} more" if more > 0 else "")
        parts.append(f"site {f.domain or f.site}" + (f" runs {shown}" if f.technologies else ""))
    else:
        parts.append("no verified site")
    channels = [c for c, on in (("corporate e-mail", f.corporate_email), ("phone", f.phone),
                                ("WhatsApp", f.whatsapp)) if on]
    parts.append(f"reachable by {', '.join(channels)}" if channels else "no direct channel known")
    told = [s for s in signals if s.startswith(("site speaks", "hiring", "uses", "excluded"))]
    return ". ".join([*parts, *told]) + "."


def qualify(f: LeadFacts, icp: IcpProfile, as_of: date) -> Qualification:
    """The rule-based qualification of a lead (see the module's docstring for the points)."""
    names = fold(f"{f.legal_name} {f.name}")
    text = fold(f.site_text)
    fit, fit_signals, fit_tags = _fit(f, icp, as_of, names, text)
    pain, pain_signals, pain_tags = _pain(f, icp, text)
    quality, quality_tags = _quality(f)
    signals = [*fit_signals, *pain_signals]
    tags = list(dict.fromkeys([*fit_tags, *pain_tags, *quality_tags]))
    return Qualification(fit=fit, pain=pain, data_quality=quality, tags=tags, signals=signals,
                         snapshot=snapshot(f, as_of, signals))
