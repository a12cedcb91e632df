"""robots.txt rules, parsed once per host and kept for a while."""

from __future__ import annotations

import time
from urllib.robotparser import RobotFileParser


class RobotsRules:
    def __init__(self, text: str | None, *, allow_all: bool = False, disallow_all: bool = False) -> None:
        self._parser = RobotFileParser()
        self.allow_all = allow_all or text is None
        self.disallow_all = disallow_all
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

    def allowed(self, user_agent: str, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all:
            return True
        return self._parser.can_fetch(user_agent, url)


class RobotsCache:
    def __init__(self, ttl_seconds: float = 3600.0) -> None:
        self.ttl = ttl_seconds
        self._rules: dict[str, tuple[float, RobotsRules]] = {}

    def get(self, origin: str) -> RobotsRules | None:
        hit = self._rules.get(origin)
        if hit and time.monotonic() - hit[0] <= self.ttl:
            return hit[1]
        return None

    def put(self, origin: str, rules: RobotsRules) -> None:
        self._rules[origin] = (time.monotonic(), rules)
