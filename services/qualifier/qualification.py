"""One lead's qualification, end to end: the rule-based one always; above ``LLM_MIN_SCORE`` the LLM's
when an endpoint is configured — reused when the same lead was qualified by the same model from the same
facts (``content_hash``), else asked within the run's token budget — and the rule-based result when the
LLM's reply does not stand. What the stream holds is passed in (``previous``), so this module holds no bus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

import httpx

from services.qualifier.llm import SYSTEM_PROMPT, LlmConfig, ask_llm, estimate_tokens, facts_message
from services.qualifier.qualifying import LeadFacts, Qualification, qualify
from shared.domain.icp import IcpProfile
from shared.events import LeadQualified, SpinNotes
from shared.schemas import ApiCall

Previous = Callable[[str], Awaitable[LeadQualified | None]]  # lead key -> its latest qualification


@dataclass
class TokenBudget:
    """Tokens spent per run against ``per_run``: a call reserves its estimate first, so calls running at
    once never spend past the budget together."""

    per_run: int
    spent: dict[str, int] = field(default_factory=dict)

    def left(self, run_id: str) -> int:
        return self.per_run - self.spent.get(run_id, 0)

    def reserve(self, run_id: str, tokens: int) -> bool:
        if tokens > self.left(run_id):
            return False
        self.spent[run_id] = self.spent.get(run_id, 0) + tokens
        return True

    def settle(self, run_id: str, reserved: int, used: int) -> None:
        self.spent[run_id] = self.spent.get(run_id, 0) - reserved + used


def icp_summary(icp: IcpProfile) -> dict[str, object]:
    return {"description": icp.description, "activities": icp.target_activities, "regions": icp.regions,
            "pain_keywords": icp.pain_keywords, "hiring_keywords": icp.hiring_keywords,
            "technologies_wanted": icp.technologies_wanted, "technologies_avoided": icp.technologies_avoided}


def llm_messages(facts: LeadFacts, icp: IcpProfile, rules: Qualification) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": facts_message(facts, icp.name, icp_summary(icp), rules)}]


def rules_event(run_id: str | None, facts: LeadFacts, icp: IcpProfile, q: Qualification, content_hash: str,
                **extra: object) -> LeadQualified:
    return LeadQualified(run_id=run_id, lead_key=facts.lead_key, icp=icp.name, method="rules", score=q.score,
                         fit=q.fit, pain=q.pain, data_quality=q.data_quality, tags=q.tags, signals=q.signals,
                         snapshot=q.snapshot, content_hash=content_hash, **extra)  # type: ignore[arg-type]


@dataclass
class LlmQualifier:
    cfg: LlmConfig
    client: httpx.AsyncClient
    budget: TokenBudget
    min_score: int


async def qualify_lead(run_id: str, facts: LeadFacts, icp: IcpProfile, as_of: date, *,
                       llm: LlmQualifier | None = None,
                       previous: Previous | None = None) -> tuple[LeadQualified, list[ApiCall]]:
    """The lead's ``LeadQualified`` event and the LLM calls made for it (none offline)."""
    rules = qualify(facts, icp, as_of)
    content_hash = facts.content_hash()
    if llm is None or rules.score < llm.min_score:
        return rules_event(run_id, facts, icp, rules, content_hash), []
    model = llm.cfg.model
    if previous is not None:
        before = await previous(facts.lead_key)
        if (before is not None and before.method == "llm" and before.content_hash == content_hash
                and before.model == model and before.icp == icp.name):
            return before.model_copy(update={"run_id": run_id, "tokens": 0, "cached": True}), []
    messages = llm_messages(facts, icp, rules)
    reserved = estimate_tokens(messages)
    if not llm.budget.reserve(run_id, reserved):
        return rules_event(run_id, facts, icp, rules, content_hash, model=model, llm_error="token_budget"), []
    answer = None
    try:
        answer = await ask_llm(llm.client, llm.cfg, messages, lead_key=facts.lead_key,
                               tokens_left=lambda: llm.budget.left(run_id) + reserved)
    finally:
        llm.budget.settle(run_id, reserved, answer.tokens if answer is not None else 0)
    if answer.reply is None:
        return rules_event(run_id, facts, icp, rules, content_hash, model=model, tokens=answer.tokens,
                           llm_error=answer.error), answer.calls
    r = answer.reply
    event = LeadQualified(run_id=run_id, lead_key=facts.lead_key, icp=icp.name, method="llm",
                          score=r["fit"] + r["pain"] + r["data_quality"], fit=r["fit"], pain=r["pain"],
                          data_quality=r["data_quality"], tags=list(dict.fromkeys(r["tags"])),
                          signals=rules.signals, snapshot=r["snapshot"], spin=SpinNotes(**r["spin"]),
                          first_angle=r["first_angle"], content_hash=content_hash, model=model, tokens=answer.tokens)
    return event, answer.calls
