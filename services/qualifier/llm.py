"""The optional LLM qualifier: one lead's facts to any OpenAI-compatible chat-completions endpoint
(``POST {LLM_BASE_URL}/chat/completions``: Ollama, vLLM and hosted APIs all speak it), its reply read as
a JSON object and validated against ``REPLY_SCHEMA``.

A reply that does not validate is asked again once (with what was wrong), then given up: the rule-based
result stands. A 429 is waited out as its ``Retry-After`` says (up to ``max_retry_after_s``), twice at
most; a timeout, a refused connection or another HTTP error gives up at once. Every call is an
:class:`~shared.schemas.ApiCall` with its status, latency and tokens. The key goes only into the
``Authorization`` header: the endpoint recorded has no user-info nor query, and no error text holds it.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jsonschema

from services.qualifier.qualifying import LeadFacts, Qualification
from shared.schemas import ApiCall

COMPLETION_TOKENS = 700  # ``max_tokens`` asked for a reply
_TEXT = {"type": "string", "minLength": 1, "maxLength": 1500}
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["fit", "pain", "data_quality", "tags", "snapshot", "spin", "first_angle"],
    "additionalProperties": False,
    "properties": {
        "fit": {"type": "integer", "minimum": 0, "maximum": 50},
        "pain": {"type": "integer", "minimum": 0, "maximum": 40},
        "data_quality": {"type": "integer", "minimum": 0, "maximum": 10},
        "tags": {"type": "array", "maxItems": 12, "items": {"type": "string", "minLength": 1, "maxLength": 40}},
        "snapshot": _TEXT,
        "spin": {
            "type": "object", "additionalProperties": False,
            "required": ["situation", "problem", "implication", "need_payoff"],
            "properties": {k: _TEXT for k in ("situation", "problem", "implication", "need_payoff")},
        },
        "first_angle": _TEXT,
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(REPLY_SCHEMA)

SYSTEM_PROMPT = (
    "You qualify B2B sales leads for a seller. From the facts given (a company's registry record, what its "
    "website says, and the seller's ideal customer profile) answer with ONE JSON object and nothing else, with "
    "the keys: fit (integer 0-50: how well the company matches the profile), pain (integer 0-40: signs of a "
    "need the seller answers), data_quality (integer 0-10: how reachable and well documented it is), tags "
    "(short strings), snapshot (one paragraph of facts, no invention), spin (an object with situation, "
    "problem, implication and need_payoff: SPIN selling notes) and first_angle (the best first thing to say "
    "in a first contact). Write in the language of the company's site."
)


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0
    max_retry_after_s: float = 30.0

    @property
    def endpoint(self) -> str:
        """The chat-completions URL as recorded: no user-info, no query (where keys may hide)."""
        parts = urlsplit(self.base_url.rstrip("/"))
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, f"{parts.path}/chat/completions", "", ""))


@dataclass
class LlmAnswer:
    reply: dict[str, Any] | None  # the validated JSON object; None: the rule-based result stands
    error: str | None = None  # why there is no reply: invalid_reply, timeout, rate_limited, http 500, token_budget...
    tokens: int = 0
    calls: list[ApiCall] = field(default_factory=list)


def facts_message(facts: LeadFacts, icp_name: str, icp_summary: dict[str, Any], rules: Qualification) -> str:
    """The user message: the facts as JSON, with the rule-based reading as a hint."""
    return json.dumps({
        "profile": {"name": icp_name, **icp_summary},
        "company": {k: v for k, v in facts.__dict__.items() if k != "site_text"},
        "site_text": facts.site_text,
        "rule_based": {"fit": rules.fit, "pain": rules.pain, "data_quality": rules.data_quality,
                       "tags": rules.tags, "signals": rules.signals},
    }, ensure_ascii=False, default=list)


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A call's tokens before it is made (4 characters a token, and the whole reply allowed)."""
    return sum(len(m["content"]) for m in messages) // 4 + COMPLETION_TOKENS


def read_reply(body: Any) -> tuple[dict[str, Any] | None, str | None, str]:
    """(the validated reply, or None with what is wrong; the message's text as sent back)."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None, "no choices[0].message.content in the reply", ""
    if not isinstance(content, str):
        return None, "the message's content is not text", ""
    text = content.strip()
    if text.startswith("```"):  # a fenced block: the JSON inside
        text = text.strip("`").removeprefix("json").strip()
    try:
        reply = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}", content
    errors = sorted(_VALIDATOR.iter_errors(reply), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "reply"
        return None, f"{where}: {errors[0].message}"[:300], content
    return reply, None, content


def _tokens(body: Any, messages: list[dict[str, str]], content: str) -> int:
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        total = usage.get("total_tokens")
        if isinstance(total, int) and total >= 0:
            return total
        parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
        if all(isinstance(p, int) for p in parts):
            return int(parts[0]) + int(parts[1])  # type: ignore[arg-type]
    return sum(len(m["content"]) for m in messages) // 4 + len(content) // 4


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date); None: unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


async def ask_llm(client: httpx.AsyncClient, cfg: LlmConfig, messages: list[dict[str, str]], *, lead_key: str,
                  tokens_left: Callable[[], int],
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> LlmAnswer:
    """Ask for one lead's qualification; ``tokens_left()`` is the run's budget left, read before each call."""
    answer = LlmAnswer(reply=None)
    headers = {"Content-Type": "application/json"}
    if cfg.api_key:
        headers["Authorization"] = f"Bearer {cfg.api_key}"
    conversation = list(messages)
    invalid, throttled = 0, 0
    while True:
        if estimate_tokens(conversation) > tokens_left() - answer.tokens:
            answer.error = "token_budget"
            return answer
        request = {"model": cfg.model, "messages": conversation, "temperature": 0, "max_tokens": COMPLETION_TOKENS,
                   "response_format": {"type": "json_object"}}
        call = ApiCall(service="qualifier", endpoint=cfg.endpoint, method="POST", lead_key=lead_key)
        answer.calls.append(call)
        t0 = time.perf_counter()
        try:
            response = await client.post(cfg.endpoint, json=request, headers=headers, timeout=cfg.timeout_s)
        except httpx.TimeoutException as exc:
            call.latency_ms = (time.perf_counter() - t0) * 1000
            call.error = answer.error = f"timeout ({type(exc).__name__})"
            return answer
        except httpx.HTTPError as exc:
            call.latency_ms = (time.perf_counter() - t0) * 1000
            call.error = answer.error = redact(f"unreachable: {type(exc).__name__}: {exc}", cfg.api_key)[:300]
            return answer
        call.latency_ms = (time.perf_counter() - t0) * 1000
        call.status, call.bytes = response.status_code, len(response.content)
        if response.status_code == 429:
            wait = retry_after(response.headers.get("retry-after"))
            throttled += 1
            if throttled > 2 or (wait or 0.0) > cfg.max_retry_after_s:
                call.error = answer.error = "rate_limited"
                return answer
            call.error = "rate_limited (retried)"
            await sleep(wait if wait is not None else 1.0)
            continue
        if response.status_code >= 400:
            call.error = answer.error = f"http {response.status_code}"
            return answer
        try:
            body = response.json()
        except ValueError:
            body = None
        reply, problem, content = read_reply(body)
        call.tokens = _tokens(body, conversation, content)
        answer.tokens += call.tokens
        if reply is not None:
            answer.reply = reply
            return answer
        invalid += 1
        call.error = redact(f"invalid reply: {problem}", cfg.api_key)[:300]
        if invalid >= 2:
            answer.error = "invalid_reply"
            return answer
        conversation = [*messages, {"role": "assistant", "content": content[:4000]},
                        {"role": "user", "content": f"That reply is not valid ({problem}). Answer again with only "
                                                    "the JSON object, every key present and within its bounds."}]
