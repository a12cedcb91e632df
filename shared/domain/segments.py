"""Export rows (one per lead, the base columns) and the segments users take away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.schemas import Enrichment, FinalScore, ScoredLead

COLUMNS = [
    "lead_key", "registry_id", "razao_social", "nome_fantasia", "cidade", "uf", "cnae", "score", "bucket",
    "contact_quality", "phone", "whatsapp", "email", "site", "instagram", "linkedin", "google_maps_url",
    "technologies", "accountant_like", "reasons",
]
# the ranker's propensity and the qualifier's reading, from the vault when the export is written
ANNOTATION_COLUMNS = [
    "propensity", "propensity_features", "qualification_score", "qualification_fit", "qualification_pain",
    "qualification_data_quality", "qualification_method", "qualification_tags", "qualification_snapshot",
    "qualification_first_angle",
]
COLUMNS += ANNOTATION_COLUMNS

Row = dict[str, Any]


def contact_quality(scored: ScoredLead, enrichment: Enrichment | None) -> str:
    lead = scored.lead
    corporate = any(not e.free_mail for e in lead.emails) or bool(enrichment and enrichment.emails)
    mobile = any(p.whatsapp for p in lead.phones) or bool(enrichment and enrichment.whatsapp)
    if corporate and mobile:
        return "high"
    if corporate or mobile or lead.phones:
        return "medium"
    return "low"


def build_row(scored: ScoredLead, enrichment: Enrichment | None, final: FinalScore | None) -> Row:
    lead, company = scored.lead, scored.lead.company
    flags = {f.code for f in lead.flags}
    whatsapp = next((p.e164 for p in lead.phones if p.whatsapp), None)
    email = next((e.address for e in lead.emails if not e.free_mail), None) or next(
        (e.address for e in lead.emails), None
    )
    if enrichment is not None and enrichment.status == "ok":
        whatsapp = whatsapp or next(iter(enrichment.whatsapp), None)
        email = email or next(iter(enrichment.emails), None)
    reasons = final.reasons if final else scored.reasons
    site_ok = enrichment is not None and enrichment.verified and enrichment.site
    return {
        "lead_key": lead.lead_key,
        "registry_id": company.registry_id,
        "razao_social": company.legal_name or "",
        "nome_fantasia": company.trade_name or "",
        "cidade": company.address.city or "",
        "uf": company.address.state or "",
        "cnae": company.activity_main or "",
        "score": final.score if final else scored.score,
        "bucket": final.bucket if final else (scored.bucket or ""),
        "contact_quality": contact_quality(scored, enrichment),
        "phone": lead.phones[0].e164 if lead.phones else "",
        "whatsapp": whatsapp or "",
        "email": email or "",
        "site": (enrichment.site if site_ok and enrichment else "") or "",
        "instagram": (enrichment.socials.get("instagram", "") if enrichment else ""),
        "linkedin": (enrichment.socials.get("linkedin", "") if enrichment else ""),
        "google_maps_url": (enrichment.google_maps_url or "") if enrichment else "",
        "technologies": ", ".join(sorted(t.name for t in enrichment.technologies)) if enrichment else "",
        "accountant_like": "accountant_like" in flags,
        "reasons": "; ".join(f"{r.code}({r.points:+d})" if r.points else r.code for r in reasons),
        **{c: None for c in ANNOTATION_COLUMNS},
    }


def annotate_row(row: Row, found: dict[str, Any]) -> Row:
    """Fill a row's propensity and qualification columns from ``lead_annotations``' entry for its lead."""
    if "propensity" in found:
        row["propensity"] = round(float(found["propensity"]), 4)
        row["propensity_features"] = "; ".join(found.get("top_features", []))
    q = found.get("qualification")
    if q is not None:
        row.update(qualification_score=q["score"], qualification_fit=q["fit"], qualification_pain=q["pain"],
                   qualification_data_quality=q["data_quality"], qualification_method=q["method"],
                   qualification_tags=", ".join(q["tags"]), qualification_snapshot=q["snapshot"],
                   qualification_first_angle=q["first_angle"] or "")
    return row


SEGMENTS: dict[str, Callable[[Row], bool]] = {
    "hot": lambda r: r["bucket"] == "hot",
    "hot_whatsapp": lambda r: r["bucket"] == "hot" and bool(r["whatsapp"]),
    "no_accountant": lambda r: not r["accountant_like"],
    "site_tech": lambda r: bool(r["site"]) and bool(r["technologies"]),
    "all": lambda r: True,
}


def select_segment(rows: list[Row], segment: str) -> list[Row]:
    try:
        keep = SEGMENTS[segment]
    except KeyError as exc:
        raise ValueError(f"unknown segment {segment!r}; known: {', '.join(SEGMENTS)}") from exc
    return sorted((r for r in rows if keep(r)), key=lambda r: (-int(r["score"] or 0), r["lead_key"]))
