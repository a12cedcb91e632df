"""The KPI verdict a run's completion event carries, from the report's judgement (pure)."""

from __future__ import annotations

from shared.events import KpiResult, KpiVerdict, RunStep, decode_event, envelope
from shared.run_report import judge, kpi_verdict


def test_a_verdict_is_met_only_when_every_target_is_and_none_without_targets() -> None:
    judged = judge({"min_leads": 10, "max_reject_rate": 0.1, "min_enriched_with_site_rate": 0.5},
                   {"min_leads": 12, "max_reject_rate": 0.2, "min_enriched_with_site_rate": None})
    assert kpi_verdict(judged) == KpiVerdict(met=False, targets=[
        KpiResult(name="min_leads", target=10, actual=12, met=True),
        KpiResult(name="max_reject_rate", target=0.1, actual=0.2, met=False),
        KpiResult(name="min_enriched_with_site_rate", target=0.5, actual=None, met=False)])  # nothing to measure
    assert kpi_verdict(judge({"min_hot": 1}, {"min_hot": 1})) == KpiVerdict(
        met=True, targets=[KpiResult(name="min_hot", target=1, actual=1, met=True)])
    assert kpi_verdict(judge({}, {"min_leads": 3})) is None


def test_a_step_without_a_verdict_keeps_its_old_payload_and_one_with_it_decodes_back() -> None:
    plain = RunStep(run_id="r", stage="run", status="completed", counts={"leads": 2})
    assert plain.model_dump(mode="json") == {"run_id": "r", "stage": "run", "status": "completed",
                                             "counts": {"leads": 2}, "message": ""}
    judged = plain.model_copy(update={"kpi": KpiVerdict(met=True)})
    assert decode_event(envelope(judged)) == judged
    old = envelope(plain)  # a step recorded before the field existed decodes with no verdict
    assert decode_event(old).kpi is None  # type: ignore[attr-defined]
