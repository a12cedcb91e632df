"""Lead scoring. Pure and deterministic: the clock comes in as ``as_of``.

- ``score_v1``: registry data only - fit to the ICP (activity, region, name keywords, capital and
  age bands, exclusions, status), contact quality, and the cleaner's flags.
- ``rank_and_select``: rank a run (1 = best, ties by lead_key) and mark the top share for enrichment.
- ``score_v2``: v1 plus website enrichment - verified site, technologies by category, socials,
  WhatsApp, corporate e-mail; a missing site costs points; an enrichment that did not run
  (error, budget, skipped) is neutral.
- ``bucket_for``: hot >= 80, warm 60-79, nurture 40-59, parked < 40.

Points come from ``IcpProfile.weight(key)`` (defaults in ``icp.DEFAULT_WEIGHTS``). Every
contribution is a Reason with its points; a v1 score is the clamped (0..100) sum. The final (v2)
score is the same sum up to the most registry data alone can give (``score_scale``'s knee, at least
80); above it, the points are rescaled so that the profile's maximum possible sum is 100: the top of
a run spreads over the 90s instead of piling up at a clamped 100 (see ``final_scale``).

Decisions:
- Website signals (technologies, socials, WhatsApp, e-mails) count only when the site is verified
  as the company's, or when no site was involved at all; from an unverified site they are ignored.
- Outside the profile's activities, positive website points count a third: a digitally mature
  company that is not a fit stays low (a poor fit lands parked).
"""

from __future__ import annotations

import math
import re
from datetime import date
from operator import itemgetter

from shared.contracts.vocabulary import Bucket
from shared.domain.emails import is_free_mail_domain
from shared.domain.icp import DEFAULT_WEIGHTS, IcpProfile, fold, normalize_code
from shared.schemas import CleanedLead, Enrichment, FinalScore, Reason, ScoredLead
from shared.wire.records import kind_of

ACTIVE_STATUSES = frozenset({"ATIVA", "ATIVO", "ACTIVE", "A", "02", "2"})
FIT_CODES = frozenset({"icp_activity_main", "icp_activity_secondary", "icp_activity_any"})
UNAVAILABLE_STATUSES = frozenset({"error", "budget_exceeded", "skipped"})
OUTSIDE_FIT_DIVISOR = 3  # website points of a lead outside the profile's activities

# Technology.categories (Wappalyzer names) -> scoring group (weight key "tech_<group>").
TECH_GROUPS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ecommerce",
            "ecommerce frontends",
            "payment processors",
            "cart abandonment",
            "cross border ecommerce",
            "buy now pay later",
            "shopify apps",
            "shopify themes",
            "fulfilment",
            "shipping carriers",
            "returns",
        ),
        "ecommerce",
    ),
    **dict.fromkeys(("advertising", "retargeting", "affiliate programs", "referral marketing"), "advertising"),
    **dict.fromkeys(
        ("analytics", "tag managers", "a/b testing", "rum", "segmentation", "personalisation"), "analytics"
    ),
    **dict.fromkeys(
        (
            "live chat",
            "crm",
            "marketing automation",
            "customer data platform",
            "email",
            "appointment scheduling",
            "loyalty & rewards",
            "reviews",
            "surveys",
        ),
        "engagement",
    ),
    **dict.fromkeys(("cms", "page builders", "blogs"), "cms"),
}
TECH_GROUP_ORDER = ("ecommerce", "advertising", "analytics", "engagement", "cms")


_Points = tuple[str, str, int]  # (code, detail, points) of a v1 reason, made a Reason at the end


def _reason(code: str, detail: str, points: int) -> Reason:
    return Reason(code=code, detail=detail, points=points)


def _clamp(value: int) -> int:
    return max(0, min(100, value))


def bucket_for(score: int) -> Bucket:
    """hot >= 80, warm 60-79, nurture 40-59, parked < 40."""
    if score >= 80:
        return "hot"
    if score >= 60:
        return "warm"
    if score >= 40:
        return "nurture"
    return "parked"


_MISSING: object = object()  # a memo miss (a memoised None means "no reason")
_BUCKETS = tuple(bucket_for(score) for score in range(101))


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _region(lead: CleanedLead) -> str | None:
    address = lead.company.address
    if address.state:
        return normalize_code(address.state)
    if (lead.company.country or "").upper() == "FR" and address.postal_code:
        code = address.postal_code.strip()
        return code[:3] if code.startswith("97") else code[:2]
    return None


def _matching_prefix(code: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if code.startswith(prefix):
            return prefix
    return None


def _words_found(words: tuple[str, ...], text: str) -> list[str]:
    """Words of ``words`` that start a word of ``text`` (both folded): "tech" finds "techsul"."""
    # both sides are folded (single spaces), so "starts a word" is: at the start, or after a space
    return _words_in(_spaced(words), text)


def _spaced(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((w, f" {w}") for w in words)


def _words_in(spaced: tuple[tuple[str, str], ...], text: str) -> list[str]:
    """``_words_found`` over ``_spaced(words)``, computed once per run."""
    return [w for w, with_space in spaced if text.startswith(w) or with_space in text]


def _fold_names(text: str) -> str:
    """``icp.fold(text)``; registry names are mostly upper-case ASCII words and digits separated by
    single spaces, which fold to their lower-case self."""
    if text.isascii() and text.replace(" ", "").isalnum() and "  " not in text and text[0] != " " and text[-1] != " ":
        return text.lower()
    return fold(text)


class _Memo:
    """What one run's scoring computes once per profile, and per repeated value (activity codes,
    states, opening dates and statuses repeat across a run): same results, computed once."""

    def __init__(self, icp: IcpProfile, as_of: date) -> None:
        self.icp, self.as_of = icp, as_of
        self.w = {key: icp.weight(key) for key in DEFAULT_WEIGHTS}
        self.activity: dict[str | None, tuple[str, _Points | None, _Points | None]] = {}
        self.region: dict[tuple[str | None, str | None, str | None], _Points | None] = {}
        self.age: dict[str | None, _Points | None] = {}
        self.mismatch: dict[str | None, _Points] = {}
        self.status: dict[str | None, _Points | None] = {}
        self.excluded_any = _any_word(icp.excluded_keywords)
        self.keyword_any = _any_word(icp.folded_keywords)
        self.excluded_words = _spaced(icp.excluded_keywords)
        self.keywords = _spaced(icp.folded_keywords)
        self.has_capital_band = icp.capital_min is not None or icp.capital_max is not None
        self.capital_low = icp.capital_min if icp.capital_min is not None else 0.0
        self.capital_high = icp.capital_max if icp.capital_max is not None else math.inf


def _any_word(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """A quick test for ``_words_found(words, text) != []`` (a word at the start or after a space)."""
    if not words:
        return None
    return re.compile("(?:^| )(?:" + "|".join(re.escape(w) for w in words) + ")")


def _activity(memo: _Memo, activity_main: str | None) -> tuple[str, _Points | None, _Points | None]:
    """(normalised code, the main-activity reason or None when secondaries decide, exclusion reason)."""
    hit = memo.activity.get(activity_main)
    if hit is not None:
        return hit
    icp, w = memo.icp, memo.w
    main = normalize_code(activity_main or "")
    fit: _Points | None = None
    if not icp.activity_prefixes:
        fit = ("icp_activity_any", "the profile targets every activity", w["activity_main"])
    elif main and (prefix := _matching_prefix(main, icp.activity_prefixes)):
        fit = ("icp_activity_main", f"main activity {activity_main} matches {prefix}", w["activity_main"])
    excluded = _matching_prefix(main, icp.excluded_activity_prefixes) if main else None
    exclusion = None if excluded is None else (
        "icp_excluded", f"activity {activity_main} excluded ({excluded})", w["excluded"])
    memo.activity[activity_main] = hit = (main, fit, exclusion)
    return hit


def _fit_reasons(lead: CleanedLead, icp: IcpProfile, as_of: date, memo: _Memo | None = None) -> list[_Points]:
    company = lead.company
    memo = memo or _Memo(icp, as_of)
    w = memo.w
    reasons: list[_Points] = []

    main, fit, exclusion = _activity(memo, company.activity_main)
    if fit is not None:
        reasons.append(fit)
    else:
        secondary = next(
            (
                (code, prefix)
                for code in company.activities_secondary
                if (prefix := _matching_prefix(normalize_code(code), icp.activity_prefixes))
            ),
            None,
        ) if company.activities_secondary else None
        if secondary is not None:
            reasons.append(
                (
                    "icp_activity_secondary",
                    f"secondary activity {secondary[0]} matches {secondary[1]}",
                    w["activity_secondary"],
                )
            )
        else:
            mismatch = memo.mismatch.get(company.activity_main)
            if mismatch is None:
                detail = f"activity {company.activity_main or 'unknown'} outside the profile"
                memo.mismatch[company.activity_main] = mismatch = ("icp_activity_mismatch", detail, 0)
            reasons.append(mismatch)

    legal, trade = company.legal_name, company.trade_name
    names = _fold_names(f"{legal} {trade}" if legal and trade else legal or trade or "")
    if exclusion is not None:
        reasons.append(exclusion)
    elif memo.excluded_any is not None and memo.excluded_any.search(names) and (
        found := _words_in(memo.excluded_words, names)
    ):
        reasons.append(("icp_excluded", f"name contains {', '.join(found)}", w["excluded"]))

    if icp.region_codes:
        address = company.address
        # what _region reads: the state, else a French postal code (a key per Brazilian CEP would hold millions)
        key = (address.state, None, None) if address.state else (
            None, company.country, address.postal_code if (company.country or "").upper() == "FR" else None)
        region_reason = memo.region.get(key, _MISSING)
        if region_reason is _MISSING:
            region = _region(lead)
            region_reason = ("icp_region", f"region {region} targeted", w["region"]) if (
                region is not None and region in icp.region_codes) else None
            memo.region[key] = region_reason
        if region_reason is not None:
            reasons.append(region_reason)

    if memo.keyword_any is not None and memo.keyword_any.search(names) and (
        found := _words_in(memo.keywords, names)
    ):
        reasons.append(("icp_keyword", f"name contains {', '.join(found)}", w["keyword"]))

    capital = company.capital
    if capital is not None and memo.has_capital_band and memo.capital_low <= capital <= memo.capital_high:
        reasons.append(("capital_in_band", f"capital {capital:,.0f} in the band", w["capital"]))

    opened_on = company.opened_on
    age = memo.age.get(opened_on, _MISSING)
    if age is _MISSING:
        age = None
        opened = _parse_date(opened_on)
        if opened is not None and (icp.min_age_years is not None or icp.max_age_years is not None):
            years = (as_of - opened).days / 365.25
            low = icp.min_age_years if icp.min_age_years is not None else 0.0
            high = icp.max_age_years if icp.max_age_years is not None else math.inf
            if low <= years <= high:
                age = ("age_in_band", f"{years:.1f} years old on {as_of.isoformat()}", w["age"])
        memo.age[opened_on] = age
    if age is not None:
        reasons.append(age)

    status = company.status
    inactive = memo.status.get(status, _MISSING)
    if inactive is _MISSING:
        inactive = None
        if status and status.strip().upper() not in ACTIVE_STATUSES:
            inactive = ("inactive_status", f"registry status {status}", w["inactive"])
        memo.status[status] = inactive
    if inactive is not None:
        reasons.append(inactive)
    return reasons


_FLAG_CODES = ("accountant_like", "repeated_phone")


def _contact_reasons(lead: CleanedLead, icp: IcpProfile, memo: _Memo | None = None) -> list[_Points]:
    w = memo.w if memo is not None else {key: icp.weight(key) for key in DEFAULT_WEIGHTS}
    reasons: list[_Points] = []
    emails, phones = lead.emails, lead.phones
    if emails:
        corporate = None
        for e in emails:
            if not e.free_mail:
                corporate = e
                break
        if corporate is not None:
            reasons.append(("email_corporate", corporate.address, w["email_corporate"]))
        else:
            reasons.append(("email_free", emails[0].address, w["email_free"]))

    if phones:
        whatsapp = mobile = fixed = None
        for p in phones:
            if whatsapp is None and p.whatsapp:
                whatsapp = p
            kind = p.kind
            if kind == "mobile":
                if mobile is None:
                    mobile = p
            elif kind == "fixed" and fixed is None:
                fixed = p
        if whatsapp is not None:
            reasons.append(("phone_whatsapp", whatsapp.e164, w["whatsapp"]))
        elif mobile is not None:
            reasons.append(("phone_mobile", mobile.e164, w["mobile"]))
        if fixed is not None:
            reasons.append(("phone_fixed", fixed.e164, w["fixed"]))
    elif not emails:
        reasons.append(("no_contact", "no valid phone or e-mail", w["no_contact"]))

    for flag in lead.flags:
        if flag.code in _FLAG_CODES:
            reasons.append((flag.code, flag.detail, w[flag.code]))
    return reasons


def score_v1(lead: CleanedLead, icp: IcpProfile, *, as_of: date, memo: _Memo | None = None) -> tuple[int, list[Reason]]:
    """Registry-data score 0..100 and the reasons behind it (each with its points).

    The reasons are of the lead's kind: ``shared.schemas.Reason``, or the records mirror for a
    mirrored lead. ``memo`` (one per run) spares recomputing what repeats across the run."""
    memo = memo or _Memo(icp, as_of)
    points = _fit_reasons(lead, icp, as_of, memo)
    points += _contact_reasons(lead, icp, memo)
    make = kind_of(lead).Reason
    total = 0
    reasons = []
    for code, detail, p in points:
        total += p
        reasons.append(make(code=code, detail=detail, points=p))
    return _clamp(total), reasons


def rank_and_select(scored: list[tuple[CleanedLead, int, list[Reason]]], enrich_top: float) -> list[ScoredLead]:
    """Rank by score (1 = best; ties by lead_key ascending); enrich the top ceil(enrich_top * n)."""
    return _ranked(scored, enrich_top, with_bucket=False)


def _ranked(scored: list[tuple[CleanedLead, int, list[Reason]]], enrich_top: float, *,
            with_bucket: bool) -> list[ScoredLead]:
    n = len(scored)
    if enrich_top <= 0:
        selected = 0
    elif enrich_top >= 1:
        selected = n
    else:
        selected = min(n, math.ceil(enrich_top * n - 1e-9))  # 0.1 * 30 is 3.0000000000000004
    # by (-score, lead_key): two stable sorts on plain keys (cheaper than comparing tuples)
    ordered = sorted(scored, key=lambda item: item[0].lead_key)
    ordered.sort(key=itemgetter(1), reverse=True)  # reverse=True keeps the sort stable
    make = kind_of(ordered[0][0]).ScoredLead if ordered else ScoredLead
    if with_bucket:
        return [
            make(lead=lead, score=score, reasons=reasons, rank=i + 1, enrich=i < selected,
                 bucket=_BUCKETS[score] if 0 <= score <= 100 else bucket_for(score))
            for i, (lead, score, reasons) in enumerate(ordered)
        ]
    return [
        make(lead=lead, score=score, reasons=reasons, rank=i + 1, enrich=i < selected)
        for i, (lead, score, reasons) in enumerate(ordered)
    ]


def _technology_reasons(enrichment: Enrichment, icp: IcpProfile) -> list[Reason]:
    found: dict[str, list[str]] = {}
    for tech in sorted(enrichment.technologies, key=lambda t: t.name.lower()):
        for category in tech.categories:
            group = TECH_GROUPS.get(category.strip().lower())
            if group is not None and tech.name not in found.setdefault(group, []):
                found[group].append(tech.name)
    reasons: list[Reason] = []
    budget = icp.weight("tech_max")
    for group in TECH_GROUP_ORDER:
        if group in found and budget > 0:
            points = min(icp.weight(f"tech_{group}"), budget)
            budget -= points
            reasons.append(_reason(f"tech_{group}", ", ".join(found[group]), points))
    return reasons


def _site_signal_reasons(scored: ScoredLead, enrichment: Enrichment, icp: IcpProfile) -> list[Reason]:
    w = icp.weight
    reasons = _technology_reasons(enrichment, icp)
    if enrichment.socials:
        networks = sorted(enrichment.socials)
        reasons.append(_reason("socials", ", ".join(networks), min(w("social") * len(networks), w("social_max"))))
    if enrichment.whatsapp:
        reasons.append(_reason("whatsapp_site", enrichment.whatsapp[0], w("whatsapp_site")))
    corporate = sorted(
        e.strip().lower() for e in enrichment.emails if "@" in e and not is_free_mail_domain(e.rsplit("@", 1)[1])
    )
    if corporate:
        had_corporate = any(r.code == "email_corporate" for r in scored.reasons)
        if had_corporate:
            reasons.append(_reason("email_corporate_confirmed", corporate[0], w("email_corporate_confirmed")))
        else:
            reasons.append(_reason("email_corporate_found", corporate[0], w("email_corporate_found")))
    return reasons


def _max_points(icp: IcpProfile) -> tuple[int, int]:
    """(most points registry data alone can give, most points a lead can have after enrichment) under the
    profile: every positive signal the profile uses, the best of each alternative (main or secondary
    activity, WhatsApp or mobile, which e-mail)."""
    w = lambda key: max(0, icp.weight(key))  # noqa: E731 - penalties never add to a maximum
    fit = w("activity_main") if not icp.activity_prefixes else max(w("activity_main"), w("activity_secondary"))
    fit += w("region") if icp.region_codes else 0
    fit += w("keyword") if icp.folded_keywords else 0
    fit += w("capital") if icp.capital_min is not None or icp.capital_max is not None else 0
    fit += w("age") if icp.min_age_years is not None or icp.max_age_years is not None else 0
    phones = max(w("whatsapp"), w("mobile")) + w("fixed")
    v1 = fit + phones + max(w("email_corporate"), w("email_free"))
    emails = max(w("email_corporate") + w("email_corporate_confirmed"), w("email_free") + w("email_corporate_found"),
                 w("email_corporate_found"))
    techs = min(w("tech_max"), sum(w(f"tech_{group}") for group in TECH_GROUP_ORDER))
    v2 = fit + phones + emails + w("site_verified") + techs + w("social_max") + w("whatsapp_site")
    return v1, v2


def score_scale(icp: IcpProfile) -> tuple[int, int]:
    """(knee, top) of ``final_scale``: the knee is the most registry data alone can give (at least 80, the
    hot threshold, at most 100), the top the profile's maximum sum after enrichment."""
    v1, v2 = _max_points(icp)
    return min(100, max(80, v1)), v2


def final_scale(points: int, icp: IcpProfile) -> int:
    """The final score of a sum of points: the sum itself up to the knee, then rescaled linearly so the
    profile's maximum sum is 100 (rounded down: 100 only with every signal). Monotonic, so enrichment
    never lowers a score, v1 scores and buckets (the knee is at least 80) are unchanged, and the leads
    whose sums passed 100 - clamped to 100 alike before - keep their order."""
    knee, top = score_scale(icp)
    if points <= knee or top <= knee:
        return _clamp(points)
    return min(100, knee + (100 - knee) * (points - knee) // (top - knee))


def score_v2(scored: ScoredLead, enrichment: Enrichment, icp: IcpProfile) -> FinalScore:
    """Final score: v1 plus website signals. Keeps every v1 reason, then the v2 ones."""
    w = icp.weight
    added: list[Reason] = []
    if enrichment.status in UNAVAILABLE_STATUSES:
        detail = enrichment.status + (f": {enrichment.error}" if enrichment.error else "")
        added.append(_reason("enrichment_unavailable", detail, 0))
    elif enrichment.status == "no_site" or not enrichment.site:
        added.append(_reason("no_site", "no website found", w("no_site")))
        added += _site_signal_reasons(scored, enrichment, icp)  # found elsewhere (search, maps)
    elif enrichment.verified:
        detail = f"{enrichment.domain or enrichment.site} verified by {', '.join(enrichment.verified_by) or 'unknown'}"
        added.append(_reason("site_verified", detail, w("site_verified")))
        added += _site_signal_reasons(scored, enrichment, icp)
    else:
        added.append(
            _reason(
                "site_unverified",
                f"{enrichment.domain or enrichment.site} not verified as the company's; its signals are ignored",
                w("site_unverified"),
            )
        )

    if not any(r.code in FIT_CODES for r in scored.reasons) and any(r.points > 0 for r in added):
        added = [
            r.model_copy(update={"points": r.points // OUTSIDE_FIT_DIVISOR}) if r.points > 0 else r for r in added
        ]
        detail = f"website points divided by {OUTSIDE_FIT_DIVISOR} outside the profile's activities"
        added.append(_reason("outside_icp_activity", detail, 0))

    score = final_scale(scored.score + sum(r.points for r in added), icp)
    return FinalScore(
        lead_key=scored.lead.lead_key,
        score=score,
        bucket=bucket_for(score),
        reasons=[*scored.reasons, *added],
    )


class RunScorer:
    """v1 of one run's leads, batch after batch (as the batches arrive), then ranked as a whole.

    ``score_leads(leads, ...)`` is ``RunScorer(...).rank(RunScorer(...).score(leads))``: scoring a
    lead needs only the lead, the profile and the date; ranking and the top share need the run."""

    def __init__(self, icp: IcpProfile, as_of: date) -> None:
        self.icp, self.as_of = icp, as_of
        self.memo = _Memo(icp, as_of)

    def score(self, leads: list[CleanedLead]) -> list[tuple[CleanedLead, int, list[Reason]]]:
        icp, as_of, memo = self.icp, self.as_of, self.memo
        return [(lead, *score_v1(lead, icp, as_of=as_of, memo=memo)) for lead in leads]

    @staticmethod
    def rank(scored: list[tuple[CleanedLead, int, list[Reason]]], enrich_top: float) -> list[ScoredLead]:
        """Rank, select the top share for enrichment, bucket (``scored`` is not changed)."""
        return _ranked(scored, enrich_top, with_bucket=True)


def score_leads(leads: list[CleanedLead], icp: IcpProfile, as_of: date, enrich_top: float) -> list[ScoredLead]:
    """v1 over a whole run: score, rank, select the top share for enrichment, bucket.

    Call it with the cyclic GC paused (``shared.gc_policy.gc_paused``, as a service's handler does):
    ~10 acyclic objects per lead, and its full passes over a whole run in memory cost half the time.
    """
    return RunScorer.rank(RunScorer(icp, as_of).score(leads), enrich_top)
