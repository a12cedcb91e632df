"""The LLM qualifier against a loopback server speaking the OpenAI chat-completions protocol: a valid reply,
an invalid one then a valid one, two invalid ones (the rules stand), a timeout, a 429 waited out as its
Retry-After says, a spent token budget, a cached reply; the key is sent and never recorded."""

from __future__ import annotations

import json
import time
from datetime import date

import httpx
import pytest

from services.qualifier.llm import LlmConfig, estimate_tokens, retry_after
from services.qualifier.qualification import LlmQualifier, TokenBudget, llm_messages, qualify_lead
from services.qualifier.qualifying import LeadFacts, lead_facts, qualify
from shared.domain.icp import load_icp
from shared.events import LeadQualified
from tests.openai_server import FakeOpenAI, Reply, openai_server, valid
from tests.qualifier_leads import lead, site

KEY = "sk-test-Zq8v1SECRET0key"
AS_OF = date(2026, 11, 1)
ICP = load_icp("software-b2b")


def facts(text: str = "Integração de sistemas. Vagas abertas: trabalhe conosco.") -> LeadFacts:
    return lead_facts(lead(), site(text, ("HubSpot",)))


def llm(fake: FakeOpenAI, client: httpx.AsyncClient, *, budget: int = 100_000, timeout: float = 5.0) -> LlmQualifier:
    cfg = LlmConfig(base_url=fake.base_url, model="test-model", api_key=KEY, timeout_s=timeout, max_retry_after_s=5)
    return LlmQualifier(cfg, client, TokenBudget(budget), min_score=60)


def no_key(*objects: object) -> None:
    for obj in objects:
        dumped = obj.model_dump_json() if hasattr(obj, "model_dump_json") else json.dumps(obj, default=str)
        assert KEY not in dumped


async def test_a_valid_reply_gives_the_llm_s_fields_spin_notes_and_a_first_angle() -> None:
    with openai_server() as fake:
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    assert event.method == "llm" and event.model == "test-model" and event.llm_error is None
    assert (event.fit, event.pain, event.data_quality, event.score) == (44, 30, 9, 83)
    assert event.spin is not None and event.spin.problem.startswith("Manual spreadsheets")
    assert event.first_angle and event.snapshot.startswith("Acme builds") and event.tokens == 420
    [call] = calls
    assert call.service == "qualifier" and call.method == "POST" and call.status == 200 and call.error is None
    assert call.endpoint == f"{fake.base_url}/chat/completions" and call.tokens == 420 and call.latency_ms > 0
    [(_, headers, body)] = fake.requests
    assert headers["Authorization"] == f"Bearer {KEY}"  # the key is sent...
    assert body["model"] == "test-model" and body["messages"][0]["role"] == "system"
    assert "Vagas abertas" in body["messages"][1]["content"]  # the site's words are read
    no_key(event, *calls)  # ...and never recorded


async def test_an_invalid_reply_is_asked_again_once_with_what_was_wrong() -> None:
    fake = FakeOpenAI(script=[valid(fit=80)])  # fit above its bound of 50
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    assert event.method == "llm" and event.fit == 44 and event.tokens == 840
    assert [c.status for c in calls] == [200, 200]
    assert calls[0].error is not None and calls[0].error.startswith("invalid reply: fit: 80 is greater than")
    assert calls[1].error is None
    retry = fake.requests[1][2]["messages"]
    assert retry[-2]["role"] == "assistant" and "not valid (fit: 80 is greater" in retry[-1]["content"]


@pytest.mark.parametrize("bad", [Reply(content="Sure! The lead looks great."),
                                 Reply(content=json.dumps({"fit": 10})),
                                 Reply(body={"choices": []})])
async def test_two_invalid_replies_leave_the_rule_based_result(bad: Reply) -> None:
    fake = FakeOpenAI(script=[bad, bad])
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    rules, _ = await qualify_lead("r1", facts(), ICP, AS_OF)
    assert event.method == "rules" and event.llm_error == "invalid_reply" and event.spin is None
    assert (event.fit, event.pain, event.data_quality, event.snapshot) == (rules.fit, rules.pain, rules.data_quality,
                                                                          rules.snapshot)
    assert len(calls) == 2 and all(c.error and c.error.startswith("invalid reply") for c in calls)
    assert len(fake.requests) == 2


async def test_a_slow_endpoint_times_out_and_the_rules_stand() -> None:
    fake = FakeOpenAI(script=[Reply(content=valid().content, delay=3.0)])
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            t0 = time.monotonic()
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client, timeout=0.5))
            took = time.monotonic() - t0
    assert event.method == "rules" and event.llm_error is not None and event.llm_error.startswith("timeout")
    [call] = calls
    assert call.status is None and call.error == event.llm_error and 400 <= call.latency_ms < 2500
    assert took < 2.5


async def test_a_429_is_retried_after_its_retry_after() -> None:
    fake = FakeOpenAI(script=[Reply(status=429, headers={"Retry-After": "1"})])
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    assert event.method == "llm" and [c.status for c in calls] == [429, 200]
    assert calls[0].error == "rate_limited (retried)"
    (first, *_), (second, *_) = fake.requests
    assert second - first >= 1.0  # waited as asked


async def test_a_429_asking_longer_than_allowed_gives_up() -> None:
    fake = FakeOpenAI(script=[Reply(status=429, headers={"Retry-After": "120"})])
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    assert event.method == "rules" and event.llm_error == "rate_limited" and len(calls) == 1


async def test_a_spent_token_budget_asks_no_more_and_the_rules_stand() -> None:
    with openai_server() as fake:
        async with httpx.AsyncClient() as client:
            f = facts()
            estimate = estimate_tokens(llm_messages(f, ICP, qualify(f, ICP, AS_OF)))
            qualifier = llm(fake, client, budget=estimate + 100)  # room for one call's estimate, not two
            first, first_calls = await qualify_lead("r1", f, ICP, AS_OF, llm=qualifier)
            second, second_calls = await qualify_lead("r1", facts("Outro site, vagas"), ICP, AS_OF, llm=qualifier)
            other_run, _ = await qualify_lead("r2", facts("Outro site, vagas"), ICP, AS_OF, llm=qualifier)
    assert first.method == "llm" and len(first_calls) == 1 and qualifier.budget.spent["r1"] == 420
    assert second.method == "rules" and second.llm_error == "token_budget" and second_calls == []
    assert other_run.method == "llm"  # the budget is per run
    assert len(fake.requests) == 2


async def test_a_reply_for_the_same_lead_and_content_is_reused() -> None:
    with openai_server() as fake:
        async with httpx.AsyncClient() as client:
            qualifier = llm(fake, client)
            first, _ = await qualify_lead("r1", facts(), ICP, AS_OF, llm=qualifier)

            async def previous(lead_key: str) -> LeadQualified | None:
                return first

            again, calls = await qualify_lead("r2", facts(), ICP, AS_OF, llm=qualifier, previous=previous)
            changed, changed_calls = await qualify_lead("r2", facts("Nova página: vagas"), ICP, AS_OF, llm=qualifier,
                                                        previous=previous)
    assert again.cached and again.tokens == 0 and again.run_id == "r2" and calls == []
    assert again.spin == first.spin and again.content_hash == first.content_hash
    assert not changed.cached and len(changed_calls) == 1  # the page changed: asked again
    assert len(fake.requests) == 2


async def test_leads_under_the_threshold_are_not_sent_and_errors_never_hold_the_key() -> None:
    async with httpx.AsyncClient() as client:
        refused = LlmQualifier(LlmConfig(base_url=f"http://user:{KEY}@127.0.0.1:9/v1?key={KEY}", model="m",
                                         api_key=KEY, timeout_s=2), client, TokenBudget(100_000), min_score=0)
        event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=refused)
        low, low_calls = await qualify_lead("r1", facts(), ICP, AS_OF,
                                            llm=LlmQualifier(refused.cfg, client, TokenBudget(100_000), min_score=101))
    assert event.method == "rules" and event.llm_error and event.llm_error.startswith("unreachable")
    assert calls[0].endpoint == "http://127.0.0.1:9/v1/chat/completions"
    no_key(event, *calls)
    assert low.llm_error is None and low_calls == []


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("2", now) == 2.0 and retry_after("Sun, 01 Nov 2026 12:00:05 GMT", now) == 5.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


async def test_a_server_error_is_recorded_and_the_rules_stand() -> None:
    fake = FakeOpenAI(script=[Reply(status=503, body={"error": {"message": f"overloaded (key {KEY})"}})])
    with openai_server(fake):
        async with httpx.AsyncClient() as client:
            event, calls = await qualify_lead("r1", facts(), ICP, AS_OF, llm=llm(fake, client))
    assert event.method == "rules" and event.llm_error == "http 503" and len(fake.requests) == 1
    [call] = calls
    assert call.status == 503 and call.error == "http 503" and call.tokens == 0
    no_key(event, *calls)  # the server's body (which echoes the key here) is never kept
