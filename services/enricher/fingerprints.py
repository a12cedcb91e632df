"""Technology detection over Wappalyzer-format fingerprints, prefiltered by required literals.

Every regex of the database is compiled once per process. For each pattern we extract the literal
text it cannot match without (lower-cased, from the regex syntax tree); all literals of all fields go
into one Aho-Corasick automaton. Detecting a page is then one automaton pass over a lower-cased
haystack (html + url + script srcs + header and cookie text), after which only the regexes whose
literals were seen are run, plus a short always-run list of patterns without a usable literal.
DOM selectors are prefiltered the same way (class, id, attribute values, custom tag names) and
evaluated with selectolax on one lazy parse of the page.

Large pages take shortcuts (``fingerprint_scan``): regexes over huge pages look only near the
literals they need, simple selectors read the start tags around their literal instead of parsing.

``detect(page, prefilter=False)`` evaluates every pattern the reference way (brute force: whole-page
regexes, a real parse for every selector); tests compare both.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import ahocorasick
from selectolax.lexbor import LexborHTMLParser

from shared.adapters import re_parser
from shared.schemas import Technology

from .fingerprint_scan import (
    FREQUENT_TAGS,
    RAW_TEXT_OPENERS,
    WINDOW_MIN_PAGE,
    Hits,
    LiteralScanner,
    RawTags,
    lowered_text,
    page_bytes,
    regex_windows,
    select_tags,
    simple_selector,
    windowable,
)

log = logging.getLogger(__name__)

BUNDLED_PATH = Path(__file__).parent / "fingerprints" / "hunter.json"
MIN_LITERAL = 3
# Characters that may be entity-encoded in markup: a literal for a value read out of the DOM
# (script src, meta content, attribute values, text) is cut there so the raw-html prefilter stays sound.
_ENTITY_BREAKS = frozenset("&<>\"'")
_HTML_FIELDS = ("html", "scriptSrc", "scripts", "text", "css", "url")
_KEYED_FIELDS = ("meta", "headers", "cookies")
_AUX_FIELDS = frozenset({"scriptSrc", "url", "meta"})  # values short and known before the literal search
_COMMON_TAGS = frozenset(
    [
        "a", "abbr", "address", "area", "article", "aside", "audio", "b", "base", "body", "br", "button",
        "canvas", "caption", "code", "col", "dd", "details", "div", "dl", "dt", "em", "embed", "fieldset",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hr", "html", "i",
        "iframe", "img", "input", "label", "legend", "li", "link", "main", "meta", "nav", "noscript",
        "object", "ol", "option", "p", "picture", "pre", "section", "select", "small", "source", "span",
        "strong", "style", "sub", "summary", "sup", "svg", "table", "tbody", "td", "template", "textarea",
        "tfoot", "th", "thead", "time", "title", "tr", "u", "ul", "video"
    ]
)
_COMMON_ATTRS = frozenset(
    [
        "href", "src", "class", "id", "rel", "content", "name", "type", "property", "title", "alt",
        "action", "value", "style", "target", "lang", "srcset", "media", "charset", "method", "for", "role",
        "width", "height", "data-src", "http-equiv"
    ]
)


# --------------------------------------------------------------------------- page input


@dataclass
class PageInput:
    url: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    cookies: dict[str, str] = field(default_factory=dict)
    script_srcs: list[str] | None = None  # else extracted from html


_SCRIPT_SRC_RE = re.compile(r"<script\b[^>]*?\ssrc\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.I)
_SCRIPT_BODY_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_STYLE_BODY_RE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.I | re.S)
_META_RE = re.compile(r"<meta\b([^>]*)>", re.I)
_ATTR_RE = re.compile(r"([^\s=/>\"']+)\s*(?:=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?", re.S)
_CONTINUATION_BYTES = bytes(1 if 0x80 <= b < 0xC0 else 0 for b in range(256))
_TAG_RE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.I | re.S)


def _unescape(s: str) -> str:
    if "&" not in s:
        return s
    import html as _html

    return _html.unescape(s)


def parse_attrs(tag_inner: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR_RE.finditer(tag_inner):
        name = m.group(1).lower()
        val = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4)
        out.setdefault(name, _unescape(val or ""))
    return out


class _PageView:
    """Lazily derived views of a page; each is computed at most once per detection."""

    def __init__(self, page: PageInput, *, fast: bool = True) -> None:
        self.page = page
        self.html = page.html or ""
        self.fast = fast  # False: the reference way (whole-page regexes, a real parse for every selector)

    @cached_property
    def script_srcs(self) -> list[str]:
        if self.page.script_srcs is not None:
            return list(self.page.script_srcs)
        return [_unescape(m.group(1) or m.group(2) or m.group(3)) for m in self._tags("<script", _SCRIPT_SRC_RE)]

    @cached_property
    def script_elements(self) -> list[tuple[str, str]]:
        """(attributes text, content) of every script element."""
        return [(m.group(1), m.group(2)) for m in self._tags("<script", _SCRIPT_BODY_RE)]

    @cached_property
    def scripts(self) -> str:
        return "\n".join(body for attrs, body in self.script_elements if "src" not in attrs.lower())

    @cached_property
    def css(self) -> str:
        return "\n".join(m.group(1) for m in self._tags("<style", _STYLE_BODY_RE))

    @cached_property
    def text(self) -> str:
        return _unescape(re.sub(r"\s+", " ", _TAG_RE.sub(" ", self.html)))

    @cached_property
    def meta(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in self._tags("<meta", _META_RE):
            attrs = parse_attrs(m.group(1))
            key = attrs.get("name") or attrs.get("property") or attrs.get("http-equiv") or attrs.get("itemprop")
            if key and "content" in attrs:
                out.setdefault(key.lower(), []).append(attrs["content"])
        return out

    def _tags(self, opener: str, rx: re.Pattern[str]) -> list[re.Match[str]]:
        """``rx.finditer(html)`` for a case-insensitive regex whose matches start with ``opener``: tried only
        where the lowered page holds the opener (the DB's scan found where), not at every character."""
        if not self.fast or self.low is None:
            return list(rx.finditer(self.html))
        out: list[re.Match[str]] = []
        end = -1
        for i in self._text_offsets(self.positions(opener)):
            if i >= end and (m := rx.match(self.html, i)) is not None:
                out.append(m)
                end = m.end()
        return out

    @cached_property
    def _continuations(self) -> bytes | None:
        """The UTF-8 page with each continuation byte as 1, every other byte as 0 (None: an ASCII page)."""
        if self.html.isascii() or self.encoding == "latin-1":
            return None
        return self.raw.translate(_CONTINUATION_BYTES)

    def _text_offsets(self, byte_offsets: list[int]) -> list[int]:
        """Offsets in the page's text of ascending offsets in its UTF-8 bytes."""
        cont = self._continuations
        if cont is None:
            return byte_offsets
        out, prev, skipped = [], 0, 0
        for b in byte_offsets:
            skipped += cont.count(1, prev, b)
            prev = b
            out.append(b - skipped)
        return out

    @cached_property
    def tree(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.html)

    @cached_property
    def _bytes(self) -> tuple[bytes, bytes | None, str]:
        return page_bytes(self.html)

    @property
    def encoding(self) -> str:
        """Of ``raw``: "latin-1" (a byte per character, offsets are the text's) or "utf-8"."""
        return self._bytes[2]

    @property
    def raw(self) -> bytes:
        return self._bytes[0]

    @property
    def low(self) -> bytes | None:
        """The page lowered byte for byte (offsets as in ``raw``), None when only text lowering is right."""
        return self._bytes[1]

    @cached_property
    def literal_haystack(self) -> bytes:
        return self.low if self.low is not None else lowered_text(self.html)

    hits: Hits | None = None  # the DB's literal scan of the page (set by ``_candidates``)
    index_of: Callable[[str], int | None] | None = None

    @cached_property
    def _found(self) -> dict[str, tuple[bool, list[int]]]:
        return {}  # literal -> (all of them, offsets)

    def positions(self, literal: str, limit: int | None = None) -> list[int]:
        """Offsets of ``literal`` in the lowered page, ascending; past ``limit`` only the first ``limit + 1``
        (from the DB's scan when it searched for the literal, else searched for here)."""
        assert self.low is not None
        known = self._found.get(literal)
        if known is not None and (known[0] or limit is not None and len(known[1]) > limit):
            return known[1]
        index = self.index_of(literal) if self.index_of is not None and self.hits is not None else None
        if index is not None:
            assert self.hits is not None
            out = self.hits.offsets(index)
            self._found[literal] = (True, out)
            return out
        low, out, lit = self.low, [], literal.encode()
        i = low.find(lit)
        while i != -1:
            out.append(i)
            if limit is not None and len(out) > limit:
                self._found[literal] = (False, out)
                return out
            i = low.find(lit, i + 1)
        self._found[literal] = (True, out)
        return out

    @cached_property
    def script_srcs_lower(self) -> list[str]:
        return [src.lower() for src in self.script_srcs]

    @cached_property
    def raw_tags(self) -> RawTags | None:
        return RawTags(self.raw, self.low, self.positions, self.encoding) if self.low is not None else None

    @cached_property
    def script_texts(self) -> list[str]:
        """The text of every script element (what ``script`` nodes' text is to a parser)."""
        return [body for _attrs, body in self.script_elements]


# --------------------------------------------------------------------------- literal extraction

# Boilerplate found on nearly every page: a literal contained in it is a poor prefilter, so a rarer
# (even if shorter) literal of the same pattern is preferred.
_COMMON_TEXT = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><meta property="og:title" content=""><title></title>'
    '<link rel="stylesheet" type="text/css" href="https://www.example.com/assets/css/style.min.css?ver=1">'
    '<script type="text/javascript" src="/js/app.min.js" async defer></script><style></style></head>'
    '<body class="home page"><div id="main" class="container"><div class="row"><section class="section">'
    '<a href="http://www." target="_blank" rel="noopener noreferrer" title=""><img src="/images/logo.png" '
    'alt="" width="" height="" loading="lazy"></a><span class=""></span><ul><li></li></ul><p></p>'
    '<form action="" method="post"><input type="hidden" name="" value=""><button type="submit"></button>'
    '</form><iframe src="" frameborder="0"></iframe><footer></footer><nav></nav><header></header>'
    '<h1></h1><h2></h2><h3></h3><h4></h4><table><tr><td></td></tr></table><br/><hr/> '
    "data-id data-src data-type data-name javascript function return window document var let const "
    ".com/ .com.br .net .org .html .php .js .css .png .jpg .svg .gif .webp http:// https:// www. "
    "content script style element wp-content container wrapper button header footer "
).lower()


def _quality(c: frozenset[str]) -> tuple[int, int, int]:
    return (int(not any(s in _COMMON_TEXT for s in c)), min(len(s) for s in c), -len(c))


def _best(cands: list[frozenset[str]], min_len: int = MIN_LITERAL) -> frozenset[str] | None:
    best: frozenset[str] | None = None
    best_key = (-1, 0, 0)
    for c in cands:
        if not c or min(len(s) for s in c) < min_len:
            continue
        key = _quality(c)
        if key > best_key:
            best, best_key = c, key
    return best


def _lit_char(code: int) -> str | None:
    if 32 <= code < 127:
        return chr(code).lower()
    return None


def _in_single_char(items: list[Any]) -> str | None:
    chars = set()
    for op, av in items:
        if op is re_parser.LITERAL:
            ch = _lit_char(av)
            if ch is None:
                return None
            chars.add(ch)
        else:
            return None
    return chars.pop() if len(chars) == 1 else None


_MAX_SPELLINGS = 4


def _single_char(items: list[Any]) -> str | None:
    """The one literal character a parsed sequence is (``s`` or ``[s]``), else None."""
    if len(items) != 1:
        return None
    op, av = items[0]
    if op is re_parser.LITERAL:
        return _lit_char(av)
    if op is re_parser.IN:
        return _in_single_char(av)
    return None


def _seq_requirement(items: Iterable[Any], breaks: frozenset[str], min_len: int) -> frozenset[str] | None:
    """The best 'any of these literals must occur' requirement of a parsed regex sequence.

    A run of literal characters is kept as its spellings: an optional character (``s?``) doubles them
    (``wss?://`` -> ``ws://`` or ``wss://``), up to ``_MAX_SPELLINGS``."""
    cands: list[frozenset[str]] = []
    cur: list[str] = [""]

    def flush() -> None:
        if min(len(c) for c in cur) >= min_len:
            cands.append(frozenset(cur))
        cur[:] = [""]

    for op, av in items:
        ch: str | None = None
        if op is re_parser.LITERAL:
            ch = _lit_char(av)
        elif op is re_parser.IN:
            ch = _in_single_char(av)
        if ch is not None and ch not in breaks:
            cur[:] = [c + ch for c in cur]
            continue
        if op is re_parser.MAX_REPEAT or op is re_parser.MIN_REPEAT:
            lo, hi, sub = av
            opt = _single_char(sub) if lo == 0 and hi == 1 else None
            if opt is not None and opt not in breaks and len(cur) * 2 <= _MAX_SPELLINGS:
                cur[:] = [*cur, *(c + opt for c in cur)]
                continue
        flush()
        if op is re_parser.SUBPATTERN:
            sub = av[-1]
            r = _seq_requirement(sub, breaks, min_len)
            if r:
                cands.append(r)
        elif op in (re_parser.MAX_REPEAT, re_parser.MIN_REPEAT) or op is re_parser.POSSESSIVE_REPEAT:
            lo, _hi, sub = av
            if lo >= 1:
                r = _seq_requirement(sub, breaks, min_len)
                if r:
                    cands.append(r)
        elif op is re_parser.ATOMIC_GROUP:
            r = _seq_requirement(av, breaks, min_len)
            if r:
                cands.append(r)
        elif op is re_parser.BRANCH:
            alts: set[str] = set()
            ok = True
            for branch in av[1]:
                r = _seq_requirement(branch, breaks, min_len)
                if not r:
                    ok = False
                    break
                alts |= r
            if ok and alts:
                cands.append(frozenset(alts))
    flush()
    return _best(cands, min_len)


def regex_literals(pattern: str, *, dom_value: bool = False, min_len: int = MIN_LITERAL) -> frozenset[str] | None:
    """Literals (lower-case) one of which must occur in any text the regex matches; None if unknown."""
    if not pattern:
        return None
    try:
        parsed = re_parser.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - invalid patterns are counted by the caller
        return None
    breaks = _ENTITY_BREAKS if dom_value else frozenset()
    found = _seq_requirement(list(parsed), breaks, min_len)
    if found is None and min_len > 2:  # a two-letter literal still beats running the regex everywhere
        found = _seq_requirement(list(parsed), breaks, 2)
    return found


_SEL_TOKEN_RE = re.compile(
    r"""\[\s*([^\]\s~|^$*=]+)\s*(?:([~|^$*]?=)\s*(?:"((?:\\.|[^"])*)"|'((?:\\.|[^'])*)'|([^\]\s]+))\s*(?:[is]\s*)?)?\]"""
    r"""|([#.])((?:\\.|[\w-])+)"""
    r"""|:not\((?:[^()]|\([^()]*\))*\)|:[\w-]+(?:\((?:[^()]|\([^()]*\))*\))?"""
    r"""|((?:\\.|[\w-])+)""",
)


def _split_selector_list(sel: str) -> list[str]:
    parts, depth, quote, cur = [], 0, "", []
    for ch in sel:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def _unescape_css(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def selector_literals(sel: str) -> frozenset[str] | None:
    """Literals one of which must occur in the raw html for the selector list to match anything."""
    alts: set[str] = set()
    for alt in _split_selector_list(sel):
        best = ""
        for m in _SEL_TOKEN_RE.finditer(alt):
            attr, _op, v1, v2, v3, prefix, ident, tag = m.groups()
            cands: list[str] = []
            if attr:
                a = _unescape_css(attr).lower()
                if a not in _COMMON_ATTRS:
                    cands.append(a)
                val = v1 if v1 is not None else v2 if v2 is not None else v3
                if val:
                    cands.extend(re.split(r"[&<>\"'\s]", _unescape_css(val).lower()))
            elif prefix:
                cands.append(_unescape_css(ident).lower())
            elif tag:
                t = _unescape_css(tag).lower()
                if t not in _COMMON_TAGS and t != "*":
                    cands.append(t)
            for c in cands:
                if c.isascii() and _quality(frozenset([c])) > _quality(frozenset([best or " "])):
                    best = c
        if len(best) < 2:
            return None
        alts.add(best)
    return frozenset(alts) if alts else None


# --------------------------------------------------------------------------- compiled patterns


@dataclass(slots=True)
class Pattern:
    tech: int
    field: str  # html scriptSrc scripts text css url meta headers cookies dom
    key: str | None  # meta/header/cookie name (lower-case), css selector for dom
    regex: re.Pattern[str] | None  # None: presence is enough
    version: str | None = None
    confidence: int = 100
    dom_attr: str | None = None  # dom: attribute to test; "" = node text
    literals: frozenset[str] | None = None


@dataclass(slots=True)
class Tech:
    name: str
    categories: list[str]
    category_ids: list[str]
    implies: list[tuple[str, int]]
    requires: list[str]
    requires_category: list[str]
    excludes: list[str]


def _split_tags(value: str) -> tuple[str, str | None, int]:
    parts = value.split("\\;")
    version, confidence = None, 100
    for tag in parts[1:]:
        k, _, v = tag.partition(":")
        if k == "version":
            version = v
        elif k == "confidence":
            with contextlib.suppress(ValueError):
                confidence = int(v)
    return parts[0], version, confidence


def resolve_version(template: str | None, m: re.Match[str] | None) -> str | None:
    """Wappalyzer version templates: ``\\1``, ``\\1.\\2``, ternary ``\\1?yes:no``."""
    if not template:
        return None
    version = template
    groups = [m.group(0)] + list(m.groups()) if m else []
    for index in range(len(groups) - 1, -1, -1):
        g = groups[index] or ""
        tern = re.search(rf"\\{index}\?([^:]+):(.*)$", version)
        if tern:
            version = version.replace(tern.group(0), tern.group(1) if g else tern.group(2))
        version = version.replace(f"\\{index}", g)
    version = version.strip()
    return version or None


def _version_key(v: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-_]", v))


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class FingerprintDB:
    def __init__(self, technologies: dict[str, dict], categories: dict[str, Any] | None = None) -> None:
        self.invalid_patterns = 0
        self.techs: list[Tech] = []
        self.patterns: list[Pattern] = []
        self._index: dict[str, int] = {}
        cat_names: dict[str, str] = {}
        for cid, c in (categories or {}).items():
            cat_names[str(cid)] = c.get("name", str(cid)) if isinstance(c, dict) else str(c)
        for name, spec in technologies.items():
            if not isinstance(spec, dict):
                continue
            cids = [str(c) for c in _as_list(spec.get("cats"))]
            cats = [cat_names.get(c, c) for c in cids]
            implies = []
            for imp in _as_list(spec.get("implies")):
                n, _v, conf = _split_tags(str(imp))
                implies.append((n, conf))
            t = Tech(
                name=name,
                categories=cats,
                category_ids=cids,
                implies=implies,
                requires=[_split_tags(str(r))[0] for r in _as_list(spec.get("requires"))],
                requires_category=[str(c) for c in _as_list(spec.get("requiresCategory"))],
                excludes=[_split_tags(str(r))[0] for r in _as_list(spec.get("excludes"))],
            )
            self._index[name] = len(self.techs)
            self.techs.append(t)
            self._add_patterns(len(self.techs) - 1, spec)
        if self.invalid_patterns:
            log.warning("fingerprints: %d invalid patterns skipped", self.invalid_patterns)
        self._build_prefilter()

    # ---- building

    def _compile(self, regex: str) -> re.Pattern[str] | None | bool:
        if regex == "":
            return None
        try:
            return re.compile(regex, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError):
            self.invalid_patterns += 1
            return False

    def _add(self, tech: int, fld: str, key: str | None, value: str, *, dom_attr: str | None = None) -> None:
        raw, version, conf = _split_tags(str(value))
        rx = self._compile(raw)
        if rx is False:
            return
        dom_value = fld in ("scriptSrc", "text", "meta") or fld == "dom"
        lits = regex_literals(raw, dom_value=dom_value) if rx is not None else None
        self.patterns.append(Pattern(tech, fld, key, rx, version, conf, dom_attr, lits))  # type: ignore[arg-type]

    def _add_patterns(self, tech: int, spec: dict) -> None:
        for fld in _HTML_FIELDS:
            for v in _as_list(spec.get(fld)):
                self._add(tech, fld, None, v)
        for fld in _KEYED_FIELDS:
            d = spec.get(fld)
            if not isinstance(d, dict):
                continue
            for k, vals in d.items():
                for v in _as_list(vals) or [""]:
                    self._add(tech, fld, k.strip().lower(), v)
        dom = spec.get("dom")
        if isinstance(dom, str):
            dom = [dom]
        if isinstance(dom, list):
            for sel in dom:
                self._add_dom(tech, str(sel), {"exists": ""})
        elif isinstance(dom, dict):
            for sel, checks in dom.items():
                self._add_dom(tech, sel, checks if isinstance(checks, dict) else {"exists": ""})

    def _add_dom(self, tech: int, sel_value: str, checks: dict) -> None:
        sel, sel_version, sel_conf = _split_tags(sel_value)
        if not sel.strip():
            return
        sel_lits = selector_literals(sel)
        added = False
        for kind, arg in checks.items():
            if kind == "exists":
                raw, version, conf = _split_tags(str(arg or ""))
                self.patterns.append(
                    Pattern(tech, "dom", sel, None, version or sel_version, min(conf, sel_conf), None, sel_lits)
                )
                added = True
            elif kind == "text":
                self._add_dom_regex(tech, sel, "", str(arg or ""), sel_lits, sel_conf)
                added = True
            elif kind == "attributes" and isinstance(arg, dict):
                for attr, val in arg.items():
                    self._add_dom_regex(tech, sel, attr.lower(), str(val or ""), sel_lits, sel_conf)
                    added = True
            # "properties" needs a JS runtime: not evaluated statically.
        if not added and not checks:
            self.patterns.append(Pattern(tech, "dom", sel, None, sel_version, sel_conf, None, sel_lits))

    def _add_dom_regex(
        self, tech: int, sel: str, attr: str, value: str, sel_lits: frozenset[str] | None, sel_conf: int
    ) -> None:
        raw, version, conf = _split_tags(value)
        rx = self._compile(raw)
        if rx is False:
            return
        cands = [sel_lits] if sel_lits else []
        if attr and attr not in _COMMON_ATTRS and attr.isascii():
            cands.append(frozenset([attr]))
        # node text may be split by inline tags in raw html, except a script's: its raw content
        if rx is not None and (attr or not cands or sel.strip().lower() == "script"):
            lits_rx = regex_literals(raw, dom_value=True)
            if lits_rx:
                cands.append(lits_rx)
        lits = _best(cands, 2)
        self.patterns.append(Pattern(tech, "dom", sel, rx, version, min(conf, sel_conf), attr, lits))  # type: ignore[arg-type]

    def _build_prefilter(self) -> None:
        # Literals are searched where their field's values come from: the page (html, scripts, css, text,
        # dom), the short "aux" text of url, script srcs and meta values, or the header/cookie text.
        # A literal of a script src searched in the whole page would be found in any long page.
        self._kv = ahocorasick.Automaton()
        doc_ids: dict[str, int] = {}
        aux_ids: dict[str, int] = {}
        kv_ids: dict[str, int] = {}
        self._lit_patterns: list[list[int]] = []
        extra: set[str] = set()
        self._always: list[int] = []
        self._keyed_always: dict[tuple[str, str], list[int]] = {}
        for pid, p in enumerate(self.patterns):
            if p.literals:
                kv = p.field in ("headers", "cookies")
                ids = kv_ids if kv else aux_ids if p.field in _AUX_FIELDS else doc_ids
                for lit in p.literals:
                    lid = ids.get(lit)
                    if lid is None:
                        lid = ids[lit] = len(self._lit_patterns)
                        self._lit_patterns.append([])
                        if kv:
                            self._kv.add_word(lit, lid)
                    self._lit_patterns[lid].append(pid)
            elif p.field in _KEYED_FIELDS:
                self._keyed_always.setdefault((p.field, p.key or ""), []).append(pid)
            else:
                self._always.append(pid)
        # also searched for: what the raw-html DOM checks look up (their anchors, raw-text element openers)
        for p in self.patterns:
            if p.field == "dom" and p.key:
                for c in self._simple_selector(p.key) or ():
                    extra.add(c.anchor)
                    if c.tag and c.tag not in FREQUENT_TAGS:
                        extra.add("<" + c.tag)
        for word in sorted(extra | set(RAW_TEXT_OPENERS) | {"<meta"}):
            if word not in doc_ids:
                doc_ids[word] = len(self._lit_patterns)
                self._lit_patterns.append([])
        self._keyed_always_by_field: dict[str, dict[str, list[int]]] = {}
        for (fld, key), pids in self._keyed_always.items():
            self._keyed_always_by_field.setdefault(fld, {})[key] = pids
        self._doc_ids = doc_ids
        self._has_doc = bool(doc_ids)
        self._has_aux = bool(aux_ids)
        self._has_kv = bool(kv_ids)
        self._doc = LiteralScanner(doc_ids)
        self._aux = LiteralScanner(aux_ids)
        if kv_ids:
            self._kv.make_automaton()
        self.literal_count = len(doc_ids) + len(aux_ids) + len(kv_ids)

    # ---- loading

    @classmethod
    def load(cls, source: str | Path) -> FingerprintDB:
        """A dir (``technologies/*.json`` + ``categories.json``), one JSON file, or an http(s) URL."""
        key = str(source)
        cached = _DB_CACHE.get(key)
        if cached is None:
            techs, cats = read_fingerprint_source(key)
            cached = _DB_CACHE[key] = cls(techs, cats)
        return cached

    @classmethod
    def bundled(cls) -> FingerprintDB:
        return cls.load(BUNDLED_PATH)

    @classmethod
    def from_settings(cls, settings: Any) -> FingerprintDB:
        path = getattr(settings, "fingerprints_path", None)
        return cls.load(path) if path else cls.bundled()

    def __len__(self) -> int:
        return len(self.techs)

    @property
    def always_run_count(self) -> int:
        return len(self._always)

    # ---- detection

    def _candidates(self, view: _PageView) -> list[int]:
        page = view.page
        lids: set[int] = set()
        if self._has_doc:
            view.hits = self._doc.scan(view.literal_haystack)
            view.index_of = self._doc.index_of
            lids = view.hits.present
        has_meta = b"<meta" in view.literal_haystack
        if self._has_aux:
            aux = [page.url, *view.script_srcs]
            if has_meta:
                aux.extend(v for values in view.meta.values() for v in values)
            lids |= self._aux.present("\x00".join(aux).lower().encode("utf-8", "replace"))
        if self._has_kv and (page.headers or page.cookies):
            kv = "\n".join(f"{k}: {v}" for k, v in page.headers.items())
            kv += "\x00" + "\n".join(f"{k}={v}" for k, v in page.cookies.items())
            lids.update(v for _, v in self._kv.iter(kv.lower()))
        out: set[int] = set(self._always)
        lp = self._lit_patterns
        for lid in lids:
            out.update(lp[lid])
        # the keyed checks with no literal run when their header, cookie or meta name is on the page: looked
        # up by the page's few names (the full DB has ~800 such keys)
        keyed = self._keyed_always_by_field
        for fld in ("headers", "cookies", "meta"):
            by_key = keyed.get(fld)
            if not by_key:
                continue
            names = page.headers if fld == "headers" else page.cookies if fld == "cookies" else \
                view.meta if has_meta else ()
            if names:
                for name in names:
                    pids = by_key.get(name)
                    if pids is not None:
                        out.update(pids)
        return sorted(out)

    def detect(self, page: PageInput, *, prefilter: bool = True) -> list[Technology]:
        view = _PageView(page, fast=prefilter)
        pids: Iterable[int] = self._candidates(view) if prefilter else range(len(self.patterns))
        conf: dict[int, int] = {}
        versions: dict[int, set[str]] = {}
        seen: dict[tuple[str, str | None, str | None, str | None], tuple[bool, re.Match[str] | None]] = {}
        for pid in pids:
            p = self.patterns[pid]
            check = (p.field, p.key, p.regex.pattern if p.regex is not None else None, p.dom_attr)
            outcome = seen.get(check)
            if outcome is None:  # the same check of several technologies runs once
                outcome = seen[check] = self._evaluate(p, view)
            hit, m = outcome
            if not hit:
                continue
            conf[p.tech] = conf.get(p.tech, 0) + p.confidence
            v = resolve_version(p.version, m)
            if v:
                versions.setdefault(p.tech, set()).add(v)
        return self._resolve(conf, versions)

    def _evaluate(self, p: Pattern, view: _PageView) -> tuple[bool, re.Match[str] | None]:
        f = p.field
        rx = p.regex
        if f == "html" or f == "url" or f in ("scripts", "css", "text"):
            hay = {"html": view.html, "url": view.page.url}.get(f) if f in ("html", "url") else getattr(view, f)
            if rx is None:
                return bool(hay), None
            if view.fast and f == "html" and len(hay) >= WINDOW_MIN_PAGE and p.literals and view.low is not None \
                    and windowable(rx.pattern):
                return _search_windows(rx, view, p.literals)
            m = rx.search(hay)
            return m is not None, m
        if f == "scriptSrc":
            lits = p.literals
            for src, low in zip(view.script_srcs, view.script_srcs_lower, strict=True):
                if view.fast and lits and rx is not None and not any(lit in low for lit in lits):
                    continue  # the regex cannot match a src without one of its literals
                m = rx.search(src) if rx is not None else None
                if m is not None or rx is None:
                    return True, m
            return False, None
        if f in _KEYED_FIELDS:
            if f == "meta":
                values = view.meta.get(p.key or "", [])
            else:
                src = view.page.headers if f == "headers" else view.page.cookies
                values = [src[p.key]] if p.key in src else []
            for val in values:
                if rx is None:
                    return True, None
                m = rx.search(val)
                if m is not None:
                    return True, m
            return False, None
        if f == "dom":
            return self._evaluate_dom(p, view)
        return False, None

    def _evaluate_dom(self, p: Pattern, view: _PageView) -> tuple[bool, re.Match[str] | None]:
        sel = p.key or ""
        if sel in self._bad_selectors:
            return False, None
        fast = self._evaluate_dom_raw(p, view) if view.fast else None
        if fast is not None:
            return fast
        try:
            if p.regex is None and not p.dom_attr:
                return view.tree.css_first(sel) is not None, None
            nodes = view.tree.css(sel)
        except Exception:  # noqa: BLE001 - selectors lexbor cannot parse
            self._bad_selectors.add(sel)
            log.debug("fingerprints: unsupported selector %r", sel)
            return False, None
        for node in nodes:
            if p.dom_attr:
                val = node.attributes.get(p.dom_attr)
                if val is None:
                    continue
                if p.regex is None:
                    return True, None
                m = p.regex.search(val)
            else:
                if p.regex is None:
                    return True, None
                m = p.regex.search(node.text(deep=True) or "")
            if m is not None:
                return True, m
        return False, None

    def _evaluate_dom_raw(self, p: Pattern, view: _PageView) -> tuple[bool, re.Match[str] | None] | None:
        """The DOM check without parsing the page, when the selector allows it; None: parse instead."""
        compounds = self._simple_selector(p.key or "")
        if compounds is None:
            return None
        if p.dom_attr == "":  # node text: only ``script`` elements, whose text is their raw content
            if p.regex is None or any(c.tag != "script" or c.checks for c in compounds):
                return None
            for body in view.script_texts:
                m = p.regex.search(body)
                if m is not None:
                    return True, m
            return False, None
        if view.raw_tags is None:
            return None
        tags = select_tags(view.raw_tags, compounds)
        if tags is None:
            return None
        if not p.dom_attr:
            return bool(tags), None
        for attrs in tags:
            val = attrs.get(p.dom_attr)
            if val is None:
                continue
            if p.regex is None:
                return True, None
            m = p.regex.search(val)
            if m is not None:
                return True, m
        return False, None

    @cached_property
    def _bad_selectors(self) -> set[str]:
        return set()

    @cached_property
    def _simple_selectors(self) -> dict[str, Any]:
        return {}

    def _simple_selector(self, sel: str) -> tuple[Any, ...] | None:
        if sel not in self._simple_selectors:
            alts = _split_selector_list(sel)
            anchors = {a: next(iter(lits)) for a in alts if (lits := selector_literals(a)) and len(lits) == 1}
            self._simple_selectors[sel] = simple_selector(alts, anchors)
        return self._simple_selectors[sel]

    def _resolve(self, conf: dict[int, int], versions: dict[int, set[str]]) -> list[Technology]:
        techs = self.techs
        idx = self._index
        detected: dict[int, int] = {}

        def add(ti: int, c: int, depth: int = 0) -> None:
            c = min(100, c)
            if detected.get(ti, -1) >= c or depth > 20:
                return
            detected[ti] = c
            for name, ic in techs[ti].implies:
                j = idx.get(name)
                if j is not None:
                    add(j, min(c, ic), depth + 1)

        pending = []
        for ti, c in conf.items():
            t = techs[ti]
            if t.requires or t.requires_category:
                pending.append((ti, c))
            else:
                add(ti, c)
        changed = True
        while pending and changed:
            changed = False
            for item in list(pending):
                ti, c = item
                t = techs[ti]
                req_ok = all(idx.get(r) in detected for r in t.requires)
                cat_ok = not t.requires_category or any(
                    set(t.requires_category) & set(techs[d].category_ids + techs[d].categories) for d in detected
                )
                if req_ok and cat_ok:
                    add(ti, c)
                    pending.remove(item)
                    changed = True
        excluded = {idx[e] for ti in detected for e in techs[ti].excludes if e in idx}
        out = []
        for ti, c in detected.items():
            if ti in excluded:
                continue
            vs = versions.get(ti)
            version = max(vs, key=_version_key) if vs else None
            t = techs[ti]
            # built from the DB's own values (str, list of str, int 0..100): no validation to do
            out.append(Technology.model_construct(name=t.name, version=version, categories=list(t.categories),
                                                  confidence=c))
        out.sort(key=lambda t: t.name.lower())
        return out


_DB_CACHE: dict[str, FingerprintDB] = {}


def _search_windows(
    rx: re.Pattern[str], view: _PageView, literals: frozenset[str]
) -> tuple[bool, re.Match[str] | None]:
    """A regex over a huge page, only near the literals it cannot match without (it may not reach
    further than ``WINDOW_REACH`` characters from one); the whole page when they are too frequent."""
    spans = regex_windows(view.positions, literals, len(view.raw))
    if spans is None:
        m = rx.search(view.html)
        return m is not None, m
    raw = view.raw
    for lo, hi in spans:
        m = rx.search(raw[lo:hi].decode(view.encoding, "replace"))
        if m is not None:
            return True, m
    return False, None


# --------------------------------------------------------------------------- sources


def _split_doc(doc: Any) -> tuple[dict, dict | None]:
    if isinstance(doc, dict) and isinstance(doc.get("technologies"), dict):
        return doc["technologies"], doc.get("categories")
    if isinstance(doc, dict) and isinstance(doc.get("apps"), dict):
        return doc["apps"], doc.get("categories")
    return doc, None


def _read_categories(*candidates: Path) -> dict | None:
    for c in candidates:
        if c.is_file():
            return json.loads(c.read_text(encoding="utf-8"))
    return None


def read_fingerprint_source(source: str) -> tuple[dict[str, dict], dict | None]:
    """Technologies and categories from a dir, a JSON file or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        import httpx

        resp = httpx.get(source, follow_redirects=True, timeout=60.0)
        resp.raise_for_status()
        return _split_doc(resp.json())
    path = Path(source)
    if path.is_dir():
        tech_dir = next(
            (d for d in (path / "technologies", path / "src" / "technologies") if d.is_dir()), None
        )
        techs: dict[str, dict] = {}
        cats = _read_categories(path / "categories.json", path / "src" / "categories.json")
        if tech_dir is None:
            for f in sorted(path.glob("*.json")):
                if f.name in ("categories.json", "groups.json", "schema.json"):
                    continue
                t, c = _split_doc(json.loads(f.read_text(encoding="utf-8")))
                techs.update(t)
                cats = cats or c
        else:
            for f in sorted(tech_dir.glob("*.json")):
                techs.update(json.loads(f.read_text(encoding="utf-8")))
        return techs, cats
    if path.is_file():
        techs, cats = _split_doc(json.loads(path.read_text(encoding="utf-8")))
        if cats is None:
            cats = _read_categories(path.parent / "categories.json", path.parent.parent / "categories.json")
        return techs, cats
    raise FileNotFoundError(f"fingerprint source not found: {source}")


def update_fingerprints(source: str, dest: Path) -> int:
    """Copy or download a fingerprint DB into ``dest`` (a file, or a dir receiving technologies.json).

    Writes one self-contained JSON ``{"categories": ..., "technologies": ...}``; returns the number
    of technologies. Loadable afterwards with ``FingerprintDB.load(dest)``.
    """
    techs, cats = read_fingerprint_source(str(source))
    if not isinstance(techs, dict) or not techs:
        raise ValueError(f"no technologies found in {source}")
    dest = Path(dest)
    if dest.is_dir() or dest.suffix != ".json":
        dest.mkdir(parents=True, exist_ok=True)
        dest = dest / "technologies.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"categories": cats or {}, "technologies": techs}), encoding="utf-8")
    shutil.move(str(tmp), dest)
    _DB_CACHE.pop(str(dest), None)
    return len(techs)


def detect_technologies(db: FingerprintDB, page: PageInput) -> list[Technology]:
    return db.detect(page)
