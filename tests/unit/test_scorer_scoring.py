"""Scoring v1 (registry), ranking and selection for enrichment, v2 (website) and buckets."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.scorer.logic import (
    RunScorer,
    _fold_names,
    bucket_for,
    final_scale,
    rank_and_select,
    score_scale,
    score_v1,
    score_v2,
)
from shared.domain.icp import IcpProfile, fold, load_icp
from shared.schemas import Address, CleanedLead, CompanyRecord, Email, Enrichment, Phone, Reason, Technology

AS_OF = date(2025, 6, 1)
ICP = load_icp("software-b2b")


def lead(key: str = "BR:19131243000197", *, phones: list[Phone] | None = None, emails: list[Email] | None = None,
         flags: list[Reason] | None = None, **company: Any) -> CleanedLead:
    values: dict[str, Any] = {
        "lead_key": key,
        "registry_id": key.split(":")[1],
        "source": "csv",
        "legal_name": "ACME SISTEMAS LTDA",
        "activity_main": "6201501",
        "opened_on": "2015-03-01",
        "capital": 100000.0,
        "status": "ATIVA",
        "address": Address(state="SP"),
    }
    values.update(company)
    return CleanedLead(
        company=CompanyRecord(**values),
        phones=phones if phones is not None else [Phone(e164="+5511987654321", kind="mobile", whatsapp=True)],
        emails=emails if emails is not None else [Email(address="contato@acme.com.br", domain="acme.com.br")],
        flags=flags or [],
    )


def poor_lead() -> CleanedLead:
    return lead(
        "BR:33000167000101",
        legal_name="PADARIA PAO BOM LTDA",
        activity_main="1091101",
        address=Address(state="AM"),
        phones=[Phone(e164="+559233334444", kind="fixed")],
        emails=[Email(address="padaria@gmail.com", domain="gmail.com", free_mail=True)],
    )


def codes(reasons: list[Reason]) -> dict[str, int]:
    return {r.code: r.points for r in reasons}


# ---- v1 -------------------------------------------------------------------------------------------


def test_a_well_fitting_lead_scores_high_with_reasons_that_add_up() -> None:
    score, reasons = score_v1(lead(), ICP, as_of=AS_OF)
    found = codes(reasons)
    assert {"icp_activity_main", "icp_region", "icp_keyword", "capital_in_band", "age_in_band", "email_corporate",
            "phone_whatsapp"} <= set(found)
    assert score == sum(found.values()) >= 80


@pytest.mark.parametrize(
    ("company", "code", "points"),
    [
        ({"activity_main": "6201-5/01"}, "icp_activity_main", 30),
        ({"activity_main": "4781400", "activities_secondary": ["6311900"]}, "icp_activity_secondary", 15),
        ({"activity_main": "4781400"}, "icp_activity_mismatch", 0),
        ({"country": "FR", "activity_main": "62.01Z", "address": Address(state="75")}, "icp_activity_main", 30),
        ({"address": Address(state="sp")}, "icp_region", 10),
        ({"country": "FR", "address": Address(postal_code="75008")}, "icp_region", 10),
        ({"legal_name": "ACME Informática e Tecnologia"}, "icp_keyword", 5),
        ({"activity_main": "8411600"}, "icp_excluded", -50),
        ({"legal_name": "CONDOMINIO EDIFICIO SOL"}, "icp_excluded", -50),
        ({"status": "BAIXADA"}, "inactive_status", -30),
    ],
)
def test_fit_rules_give_their_points(company: dict[str, Any], code: str, points: int) -> None:
    _, reasons = score_v1(lead(**company), ICP, as_of=AS_OF)
    assert codes(reasons)[code] == points


@pytest.mark.parametrize(
    ("company", "code", "present"),
    [
        ({"capital": 100000.0}, "capital_in_band", True),
        ({"capital": 1000.0}, "capital_in_band", False),
        ({"capital": 50_000_000.0}, "capital_in_band", False),
        ({"capital": None}, "capital_in_band", False),
        ({"opened_on": "2015-03-01"}, "age_in_band", True),
        ({"opened_on": "2025-01-01"}, "age_in_band", False),  # 5 months old on AS_OF
        ({"opened_on": "1980-01-01"}, "age_in_band", False),
        ({"opened_on": None}, "age_in_band", False),
        ({"address": Address(state="AM")}, "icp_region", False),
    ],
)
def test_band_rules_apply_only_inside_the_band(company: dict[str, Any], code: str, present: bool) -> None:
    _, reasons = score_v1(lead(**company), ICP, as_of=AS_OF)
    assert (code in codes(reasons)) is present


def test_company_age_uses_as_of_not_the_clock() -> None:
    young = lead(opened_on="2024-09-01")
    assert "age_in_band" not in codes(score_v1(young, ICP, as_of=date(2025, 6, 1))[1])
    assert "age_in_band" in codes(score_v1(young, ICP, as_of=date(2026, 6, 1))[1])


@pytest.mark.parametrize(
    ("phones", "emails", "expected"),
    [
        ([Phone(e164="+5511987654321", kind="mobile", whatsapp=True)], [], {"phone_whatsapp": 10}),
        ([Phone(e164="+5511987654321", kind="mobile")], [], {"phone_mobile": 6}),
        ([Phone(e164="+551133334444", kind="fixed")], [], {"phone_fixed": 4}),
        ([], [Email(address="a@acme.com.br", domain="acme.com.br")], {"email_corporate": 12}),
        ([], [Email(address="a@gmail.com", domain="gmail.com", free_mail=True)], {"email_free": 4}),
        ([], [], {"no_contact": -10}),
    ],
)
def test_contact_quality_points(phones: list[Phone], emails: list[Email], expected: dict[str, int]) -> None:
    _, reasons = score_v1(lead(phones=phones, emails=emails), ICP, as_of=AS_OF)
    contact = {k: v for k, v in codes(reasons).items() if k.startswith(("phone_", "email_", "no_contact"))}
    assert contact == expected


@pytest.mark.parametrize(("flag", "points"), [("accountant_like", -15), ("repeated_phone", -10)])
def test_cleaner_flags_subtract(flag: str, points: int) -> None:
    clean = score_v1(lead(), ICP, as_of=AS_OF)[0]
    flagged, reasons = score_v1(lead(flags=[Reason(code=flag, detail="x")]), ICP, as_of=AS_OF)
    assert codes(reasons)[flag] == points
    assert flagged == clean + points


def test_v1_is_clamped_to_0_100() -> None:
    weights = {"activity_main": 90, "region": 90}
    assert score_v1(lead(), IcpProfile(name="x", target_activities=["62"], regions=["SP"], weights=weights),
                    as_of=AS_OF)[0] == 100
    bad = lead(activity_main="8411600", status="BAIXADA", phones=[], emails=[])
    assert score_v1(bad, ICP, as_of=AS_OF)[0] == 0


def test_profile_weights_override_defaults() -> None:
    icp = IcpProfile(name="x", target_activities=["62"], weights={"activity_main": 50})
    assert codes(score_v1(lead(), icp, as_of=AS_OF)[1])["icp_activity_main"] == 50


def test_a_profile_without_activities_accepts_every_activity() -> None:
    icp = IcpProfile(name="any")
    assert "icp_activity_any" in codes(score_v1(poor_lead(), icp, as_of=AS_OF)[1])


def test_retail_template_prefers_retail() -> None:
    retail_icp = load_icp("local-retail-ecommerce")
    shop = lead(legal_name="LOJA DA MODA LTDA", activity_main="4781400")
    assert score_v1(shop, retail_icp, as_of=AS_OF)[0] > score_v1(lead(), retail_icp, as_of=AS_OF)[0]


# ---- ranking and selection ------------------------------------------------------------------------


def _scored(*scores: int) -> list[tuple[CleanedLead, int, list[Reason]]]:
    return [(lead(f"BR:{i:014d}"), s, []) for i, s in enumerate(scores)]


def test_ranks_are_by_score_then_lead_key() -> None:
    ranked = rank_and_select(_scored(50, 90, 50, 70), 0.5)
    assert [(s.lead.lead_key[-1], s.rank, s.score) for s in ranked] == [
        ("1", 1, 90), ("3", 2, 70), ("0", 3, 50), ("2", 4, 50)
    ]
    assert [s.enrich for s in ranked] == [True, True, False, False]


def test_ranking_is_by_score_then_lead_key_whatever_the_input_order() -> None:
    import random

    rnd = random.Random(4)
    scored = [(lead(f"BR:{rnd.randint(0, 40):014d}"), rnd.randint(0, 100), []) for _ in range(400)]
    expected = sorted(scored, key=lambda item: (-item[1], item[0].lead_key))
    ranked = rank_and_select(scored, 0.3)
    assert [(s.lead, s.score) for s in ranked] == [(x[0], x[1]) for x in expected]
    assert [s.lead is x[0] for s, x in zip(ranked, expected, strict=True)] == [True] * len(scored)
    assert [s.rank for s in ranked] == list(range(1, 401))
    by_run = RunScorer.rank(scored, 0.3)
    assert [s.model_dump() for s in by_run] == [s.model_copy(update={"bucket": bucket_for(s.score)}).model_dump()
                                                for s in ranked]


@pytest.mark.parametrize(
    "text",
    ["ACME SISTEMAS LTDA ACME", "Acme  Sistemas", " ACME", "ACME ", "ACME-SISTEMAS", "Tecnologia da Informação",
     "", "A", "SÃO PAULO TECH 123", "ACME\tSIS", "ACME_SIS", "ACME. SIS", "x1 y2 z3"],
)
def test_name_folding_shortcut_is_icp_fold(text: str) -> None:
    assert _fold_names(text) == fold(text)


@pytest.mark.parametrize(
    ("n", "top", "selected"),
    [(10, 0.0, 0), (10, 1.0, 10), (10, 0.2, 2), (10, 0.25, 3), (30, 0.1, 3), (3, 0.01, 1), (0, 0.5, 0), (5, 2.0, 5),
     (5, -1.0, 0)],
)
def test_top_share_is_selected_for_enrichment(n: int, top: float, selected: int) -> None:
    ranked = rank_and_select(_scored(*range(n)), top)
    assert sum(s.enrich for s in ranked) == selected
    assert all(s.enrich for s in ranked[:selected])


# ---- v2 and buckets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "bucket"),
    [(100, "hot"), (80, "hot"), (79, "warm"), (60, "warm"), (59, "nurture"), (40, "nurture"), (39, "parked"),
     (0, "parked")],
)
def test_buckets(score: int, bucket: str) -> None:
    assert bucket_for(score) == bucket


def rich_site(**fields: Any) -> Enrichment:
    values: dict[str, Any] = {
        "lead_key": "BR:19131243000197",
        "site": "https://acme.com.br/",
        "domain": "acme.com.br",
        "verified": True,
        "verified_by": ["registry_id"],
        "technologies": [
            Technology(name="RD Station", categories=["Marketing automation"]),
            Technology(name="Google Analytics", categories=["Analytics"]),
            Technology(name="WooCommerce", categories=["Ecommerce", "WordPress plugins"]),
        ],
        "socials": {"instagram": "https://instagram.com/acme", "linkedin": "https://linkedin.com/company/acme"},
        "whatsapp": ["+5511987654321"],
        "emails": ["comercial@acme.com.br"],
    }
    values.update(fields)
    return Enrichment(**values)


def _v1(cleaned: CleanedLead, icp: IcpProfile = ICP) -> Any:
    score, reasons = score_v1(cleaned, icp, as_of=AS_OF)
    return rank_and_select([(cleaned, score, reasons)], 1.0)[0]


def test_well_fitting_lead_with_verified_site_technologies_and_whatsapp_is_hot() -> None:
    modest = lead(legal_name="ACME LTDA", capital=None, emails=[])  # v1 alone is only warm
    scored = _v1(modest)
    assert bucket_for(scored.score) != "hot"
    final = score_v2(scored, rich_site(), ICP)
    assert final.bucket == "hot" and final.score >= 80
    found = codes(final.reasons)
    assert {"site_verified", "tech_ecommerce", "tech_analytics", "tech_engagement", "socials", "whatsapp_site",
            "email_corporate_found"} <= set(found)
    assert final.reasons[: len(scored.reasons)] == scored.reasons  # v1 reasons kept first


def test_poor_fit_lands_parked_even_with_a_rich_site() -> None:
    scored = _v1(poor_lead())
    final = score_v2(scored, rich_site(), ICP)
    assert final.bucket == "parked"
    assert "outside_icp_activity" in codes(final.reasons)
    assert codes(final.reasons)["site_verified"] == 4  # a third of 12


def test_no_site_costs_points() -> None:
    scored = _v1(lead())
    final = score_v2(scored, Enrichment(lead_key=scored.lead.lead_key, status="no_site"), ICP)
    assert codes(final.reasons)["no_site"] == -10
    assert final.score == scored.score - 10


@pytest.mark.parametrize("status", ["error", "budget_exceeded", "skipped"])
def test_enrichment_that_did_not_run_is_neutral_with_a_reason(status: str) -> None:
    scored = _v1(lead())
    final = score_v2(scored, Enrichment(lead_key=scored.lead.lead_key, status=status, error="timeout"), ICP)
    assert final.score == scored.score
    assert final.reasons[-1].code == "enrichment_unavailable" and status in final.reasons[-1].detail


def test_signals_of_an_unverified_site_are_ignored() -> None:
    scored = _v1(lead())
    final = score_v2(scored, rich_site(verified=False, verified_by=[]), ICP)
    added = codes(final.reasons[len(scored.reasons):])
    assert added == {"site_unverified": 3}


def test_technology_points_are_capped() -> None:
    techs = [Technology(name=f"T{i}", categories=[c]) for i, c in
             enumerate(["Ecommerce", "Advertising", "Analytics", "Live chat", "CMS", "CRM"])]
    scored = _v1(lead())
    final = score_v2(scored, rich_site(technologies=techs, socials={}, whatsapp=[], emails=[]), ICP)
    tech_points = sum(r.points for r in final.reasons if r.code.startswith("tech_"))
    assert tech_points == ICP.weight("tech_max")


def test_corporate_email_on_site_confirms_or_adds() -> None:
    with_email = codes(score_v2(_v1(lead()), rich_site(), ICP).reasons)
    without = codes(score_v2(_v1(lead(emails=[])), rich_site(), ICP).reasons)
    assert with_email["email_corporate_confirmed"] == 2 and without["email_corporate_found"] == 6
    free_only = codes(score_v2(_v1(lead(emails=[])), rich_site(emails=["x@gmail.com"]), ICP).reasons)
    assert "email_corporate_found" not in free_only


def test_scoring_is_deterministic() -> None:
    leads = [lead(f"BR:{i:014d}", capital=float(i * 10000)) for i in range(20)] + [poor_lead()]
    runs = []
    for _ in range(3):
        scored = rank_and_select([(x, *score_v1(x, ICP, as_of=AS_OF)) for x in reversed(leads)], 0.3)
        finals = [score_v2(s, rich_site(lead_key=s.lead.lead_key), ICP) for s in scored]
        runs.append(([s.model_dump() for s in scored], [f.model_dump() for f in finals]))
    assert runs[0] == runs[1] == runs[2]


# ---- the final score's scale ----------------------------------------------------------------------


def test_final_scale_keeps_sums_up_to_the_knee_and_spreads_the_rest_up_to_the_profile_maximum() -> None:
    knee, top = score_scale(ICP)
    assert (knee, top) == (86, 130)  # software-b2b: registry data alone gives at most 86 points
    assert [final_scale(p, ICP) for p in (-5, 0, 40, 79, 80, knee)] == [0, 0, 40, 79, 80, knee]
    above = [final_scale(p, ICP) for p in range(knee, top + 20)]
    assert above == sorted(above)  # monotonic: more evidence never scores less
    assert final_scale(top - 1, ICP) < 100 == final_scale(top, ICP) == final_scale(top + 10, ICP)
    # sums that were all clamped to 100 before now keep their order
    assert len({final_scale(p, ICP) for p in (100, 105, 110, 115, 120, 125, 130)}) == 7


def test_a_lead_with_every_signal_scores_100_and_one_with_a_little_less_does_not() -> None:
    best = lead(phones=[Phone(e164="+5511987654321", kind="mobile", whatsapp=True),
                        Phone(e164="+551133334444", kind="fixed")], legal_name="ACME SISTEMAS TECNOLOGIA LTDA")
    scored = _v1(best)
    assert scored.score == score_scale(ICP)[0]  # every registry signal
    full = rich_site(socials={k: f"https://{k}.com/acme" for k in ("instagram", "linkedin", "facebook")},
                     technologies=[*rich_site().technologies, Technology(name="Facebook Pixel",
                                                                         categories=["Advertising"])])
    assert score_v2(scored, full, ICP).score == 100
    assert 95 <= score_v2(scored, rich_site(), ICP).score < 100


def test_the_scale_never_changes_v1_scores_nor_the_hot_threshold() -> None:
    for weights in ({}, {"activity_main": 60, "region": 40}, {"activity_main": 5}):
        icp = ICP.model_copy(update={"weights": weights})
        knee, _ = score_scale(icp)
        assert 80 <= knee <= 100
        assert all(final_scale(p, icp) == max(0, min(100, p)) for p in range(-10, knee + 1))
        assert all(bucket_for(final_scale(p, icp)) == "hot" for p in range(80, 200))
