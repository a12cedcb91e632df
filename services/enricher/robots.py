"""robots.txt rules, parsed once per host and kept for a while."""

from __future__ import annotations

import time
from urllib.robotparser import RobotFileParser


class RobotsRules:
    def __init__(self, text: str | None, *, allow_all: bool = False, disallow_all: bool = False) -> None:
        self._parser = RobotFileParser()
        self.allow_all = allow_all or text is None
        self.disallow_all = disallow_all
        self._delays = crawl_delays(text) if text else {}
        self._delay_for: dict[str, float | None] = {}
        if text is not None and not allow_all:
            self._parser.parse(text.splitlines())
            # only Allow lines (or none): every URL is allowed, known without asking the parser each time
            entries = [*self._parser.entries, self._parser.default_entry]
            self.allow_all = all(line.allowance for entry in entries if entry for line in entry.rulelines)

    @classmethod
    def from_response(cls, status: int | None, text: str | None) -> RobotsRules:
        if status is None or status >= 500:
            return cls(None, allow_all=True)  # unreachable robots: do not block the site on it
        if status in (401, 403):
            return cls(None, disallow_all=True)
        if status >= 400:
            return cls(None, allow_all=True)
        return cls(text or "")

    def crawl_delay(self, user_agent: str) -> float | None:
        """Seconds the site asks between requests (``Crawl-delay`` of the group naming this crawler, else of
        ``*``), fractions included (the standard library reads whole seconds only)."""
        if not self._delays:
            return None
        if user_agent not in self._delay_for:
            token = user_agent.split("/")[0].lower()
            mine = [delay for agent, delay in self._delays.items() if agent != "*" and agent in token]
            self._delay_for[user_agent] = mine[0] if mine else self._delays.get("*")
        return self._delay_for[user_agent]

    def allowed(self, user_agent: str, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all:
            return True
        return self._parser.can_fetch(user_agent, url)


def crawl_delays(text: str) -> dict[str, float]:
    """``Crawl-delay`` per user-agent token (lower-case) of a robots.txt: a group is its consecutive
    ``User-agent`` lines and the rules after them; an unreadable or negative delay is ignored."""
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for line in text.splitlines():
        key, sep, value = line.split("#", 1)[0].partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.lower())
            continue
        in_rules = True
        if key == "crawl-delay" and agents:
            try:
                delay = float(value)
            except ValueError:
                continue
            if delay >= 0 and delay == delay:  # not NaN
                for agent in agents:
                    delays.setdefault(agent, delay)
    return delays


class RobotsCache:
    """Rules per origin for ``ttl_seconds``; at most ``max_entries`` kept (expired ones dropped first, then
    the oldest): a long crawl meets millions of hosts, and each one's rules cost a kilobyte or two."""

    def __init__(self, ttl_seconds: float = 3600.0, *, max_entries: int = 50_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max(1, max_entries)
        self._rules: dict[str, tuple[float, RobotsRules]] = {}

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, origin: str) -> RobotsRules | None:
        hit = self._rules.get(origin)
        if hit and time.monotonic() - hit[0] <= self.ttl:
            return hit[1]
        return None

    def put(self, origin: str, rules: RobotsRules) -> None:
        now = time.monotonic()
        self._rules.pop(origin, None)  # re-inserted last: the order is the age
        self._rules[origin] = (now, rules)
        if len(self._rules) > self.max_entries:
            self._rules = {o: hit for o, hit in self._rules.items() if now - hit[0] <= self.ttl}
            while len(self._rules) > self.max_entries:
                del self._rules[next(iter(self._rules))]
