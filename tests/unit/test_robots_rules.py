"""robots.txt rules: the allow-all shortcut answers as the parser would."""

from __future__ import annotations

import pytest

from services.enricher.robots import RobotsRules

AGENTS = ["HunterBot/0.1", "Googlebot", "OtherBot"]
URLS = ["http://s.test/", "http://s.test/contato", "http://s.test/admin/x", "http://s.test/private?q=1",
        "http://s.test/a%20b", "http://s.test/wp-admin/admin-ajax.php"]


@pytest.mark.parametrize(("text", "allow_all"), [
    ("User-agent: *\nAllow: /\n\nSitemap: http://s.test/sitemap.xml\n", True),
    ("", True),
    ("User-agent: *\nDisallow:\n", True),
    ("# nothing but comments\nSitemap: http://s.test/s.xml\n", True),
    ("User-agent: *\nDisallow: /admin\n", False),
    ("User-agent: HunterBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", False),
    ("User-agent: *\nAllow: /wp-admin/admin-ajax.php\nDisallow: /wp-admin/\n", False),
    ("User-agent: Googlebot\nDisallow: /private\n", False),
])
def test_the_allow_all_shortcut_gives_the_parsers_answers(text: str, allow_all: bool) -> None:
    rules = RobotsRules.from_response(200, text)
    assert rules.allow_all is allow_all
    parser_only = RobotsRules(text)
    parser_only.allow_all = False
    for agent in AGENTS:
        for url in URLS:
            assert rules.allowed(agent, url) == parser_only.allowed(agent, url), (agent, url)


def test_unreachable_forbidden_and_missing_robots() -> None:
    assert RobotsRules.from_response(None, None).allowed("HunterBot", "http://s.test/x")
    assert not RobotsRules.from_response(403, "").allowed("HunterBot", "http://s.test/x")
    assert RobotsRules.from_response(404, "").allowed("HunterBot", "http://s.test/x")
    assert not RobotsRules.from_response(200, "User-agent: *\nDisallow: /\n").allowed("HunterBot", "http://s.test/")


def test_crawl_delay_of_the_crawlers_group_else_of_star_fractions_included() -> None:
    text = ("User-agent: *\nCrawl-delay: 2.5 # seconds\nDisallow: /x\n\n"
            "User-agent: HunterBot\nUser-agent: OtherBot\nCrawl-delay: 7\n\n"
            "User-agent: Broken\nCrawl-delay: soon\n")
    rules = RobotsRules.from_response(200, text)
    assert rules.crawl_delay("HunterBot/0.1 (+https://x)") == 7.0
    assert rules.crawl_delay("OtherBot") == 7.0
    assert rules.crawl_delay("Googlebot") == 2.5
    assert rules.crawl_delay("Broken/1.0") == 2.5  # its own delay is unreadable
    assert RobotsRules.from_response(200, "User-agent: *\nAllow: /\n").crawl_delay("HunterBot") is None
    assert RobotsRules.from_response(None, None).crawl_delay("HunterBot") is None


def test_the_rules_cache_is_bounded_expired_first_then_oldest() -> None:
    from services.enricher.robots import RobotsCache

    cache = RobotsCache(ttl_seconds=3600, max_entries=3)
    rules = RobotsRules.from_response(200, "User-agent: *\nDisallow: /x\n")
    for i in range(5):
        cache.put(f"http://h{i}.test", rules)
    assert len(cache) == 3
    assert [cache.get(f"http://h{i}.test") is not None for i in range(5)] == [False, False, True, True, True]
    cache.put("http://h2.test", rules)  # put again: the newest now
    cache.put("http://h5.test", rules)
    assert cache.get("http://h2.test") is not None and cache.get("http://h3.test") is None

    expiring = RobotsCache(ttl_seconds=0, max_entries=2)
    for i in range(3):
        expiring.put(f"http://e{i}.test", rules)
    assert len(expiring) <= 2
