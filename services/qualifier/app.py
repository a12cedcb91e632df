"""Qualifier: qualifies each enriched lead (``lead.enriched.*``) against its run's ICP and publishes
``lead.qualified.<lead>`` (``LeadQualified``), with the LLM's calls as ``ApiCallsRecorded``.

It follows ``lead.enriched`` rather than ``lead.rescored``: the enriched event carries the whole lead
(registry record, contacts, score reasons) and what its site showed, all a qualification reads; the
rescored one carries only the final score, so every lead would have to be read back from the stream.
With ``LLM_BASE_URL`` and ``LLM_MODEL`` set, leads whose rule-based score reaches ``LLM_MIN_SCORE`` are
qualified by the LLM too (``services/qualifier/llm.py``), within ``LLM_RUN_TOKEN_BUDGET`` tokens a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from services.qualifier.llm import LlmConfig
from services.qualifier.qualification import LlmQualifier, TokenBudget, qualify_lead
from services.qualifier.qualifying import lead_facts
from shared.domain.icp import IcpNotFound, IcpProfile
from shared.domain.icp_profiles import is_profile_name, resolve_icp, saved_subject
from shared.events import (
    ApiCallsRecorded,
    IcpProfileSaved,
    LeadEnriched,
    LeadQualified,
    Subjects,
    subject_token,
)
from shared.service import Ctx, Service

service = Service("qualifier")
app = service.app


@dataclass
class Qualifier:
    """The qualifier's per-process state: the LLM (None: rules only) and each run's ICP profile."""

    llm: LlmQualifier | None
    icps: dict[str, IcpProfile] = field(default_factory=dict)


def llm_from_settings() -> LlmQualifier | None:
    s = service.settings
    if not (s.llm_base_url and s.llm_model):
        if s.llm_base_url or s.llm_model:
            service.log.warning("llm_disabled", reason="LLM_BASE_URL and LLM_MODEL are both needed; rules only")
        return None
    cfg = LlmConfig(base_url=s.llm_base_url, model=s.llm_model, api_key=s.llm_api_key, timeout_s=s.llm_timeout_s,
                    max_retry_after_s=s.llm_max_retry_after_s)
    return LlmQualifier(cfg, httpx.AsyncClient(follow_redirects=False), TokenBudget(s.llm_run_token_budget),
                        s.llm_min_score)


qualifier = Qualifier(llm_from_settings())


async def run_icp(run_id: str) -> IcpProfile:
    """The ICP profile the run was scored with: its saved profile, else a file or a shipped template."""
    if run_id not in qualifier.icps:
        request = await service.bus.run_request(run_id)
        name = request.icp if request is not None else None
        stored = await service.bus.last(saved_subject(name.strip())) if name and is_profile_name(name) else None
        saved = stored.event() if stored is not None else None
        try:
            qualifier.icps[run_id] = resolve_icp(name, saved if isinstance(saved, IcpProfileSaved) else None,
                                                 service.settings.icp_dir)
        except IcpNotFound as exc:
            raise ValueError(f"run {run_id}: {exc}") from exc
    return qualifier.icps[run_id]


async def previous_qualification(lead_key: str) -> LeadQualified | None:
    stored = await service.bus.last(Subjects.LEAD_QUALIFIED.format(lead=subject_token(lead_key)))
    return stored.event_as(LeadQualified) if stored is not None else None


@service.on("lead.enriched.*", LeadEnriched, durable="qualifier", max_workers=8)
async def on_lead_enriched(event: LeadEnriched, ctx: Ctx) -> None:
    env = ctx.env
    icp = await run_icp(event.run_id)
    facts = lead_facts(event.lead, event.enrichment)
    qualified, calls = await qualify_lead(event.run_id, facts, icp, env.occurred_at.date(), llm=qualifier.llm,
                                          previous=previous_qualification)
    key = facts.lead_key
    out: list[tuple[object, dict[str, object]]] = []
    if calls:
        out.append((ApiCallsRecorded(run_id=event.run_id, calls=calls),
                    {"service": "qualifier", "key": (event.run_id, key, "qualifier_calls"),
                     "causation_id": env.event_id}))
    out.append((qualified, {"lead": subject_token(key), "key": (event.run_id, key), "lead_key": key,
                            "causation_id": env.event_id}))
    await service.bus.publish_events(out)  # type: ignore[arg-type]
    if qualified.llm_error:
        service.log.info("llm_qualification_failed", lead_key=key, run_id=event.run_id, reason=qualified.llm_error)
