"""Fast scans of raw html for technology detection: literal search, simple selectors, regex windows.

* :class:`LiteralScanner` finds which of many lower-case ASCII literals occur in a page: one
  Aho-Corasick pass, with the Rust ``ahocorasick_rs`` DFA when installed (several times faster on
  large pages) else ``pyahocorasick``. The page is lowered as UTF-8 bytes (ASCII only, fast) unless it
  holds one of the few non-ASCII characters whose lower case is ASCII.
* :func:`simple_selector` / :func:`select_tags` answer selectors without a full HTML parse when they
  are compound selectors (tag, ``#id``, ``.class``, ``[attr op "value"]``, no combinators or pseudo
  classes): only the start tags around the occurrences of the selector's literal are read.
* :func:`regex_windows` gives the spans of a huge page a regex needs to look at: around the
  occurrences of the literals it cannot match without.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

try:  # optional: a much faster automaton (Rust, DFA)
    import ahocorasick_rs
except ImportError:  # pragma: no cover - depends on the environment
    ahocorasick_rs = None

# non-ASCII characters whose str.lower() contains ASCII letters (KELVIN SIGN, capital I with dot)
_ASCII_LOWERING = ("\u212a", "\u0130")


def page_bytes(html: str) -> tuple[bytes, bytes | None, str]:
    """``(raw, low, encoding)``: the page as bytes (Latin-1 when every character fits, one byte each, else
    UTF-8) and lowered byte for byte (ASCII letters only), or ``low`` None when lowering it as text could
    turn a non-ASCII character into an ASCII literal (then use :func:`lowered_text`, whose offsets do not
    line up with ``raw``). ASCII literals are found alike in either encoding."""
    try:
        raw = html.encode("latin-1")
    except UnicodeEncodeError:
        raw = html.encode("utf-8", "replace")
        if any(c in html for c in _ASCII_LOWERING):
            return raw, None, "utf-8"
        return raw, raw.lower(), "utf-8"
    return raw, raw.lower(), "latin-1"


def lowered_text(html: str) -> bytes:
    return html.lower().encode("utf-8", "replace")


class LiteralScanner:
    """Which literals (lower-case ASCII) occur in a lower-cased haystack, as their ids."""

    def __init__(self, literals: dict[str, int]) -> None:
        self._words = list(literals)
        self._ids = [literals[w] for w in self._words]
        self._by_id = {i: w for w, i in literals.items()}
        self._index_of: dict[str, int] = {}
        self._rs = None
        self._py = None
        if not self._words:
            return
        if ahocorasick_rs is not None:
            self._rs = ahocorasick_rs.BytesAhoCorasick(
                [w.encode() for w in self._words], implementation=ahocorasick_rs.Implementation.DFA
            )
            self._index_of = {w: i for i, w in enumerate(self._words)}
        else:
            self._py = ahocorasick.Automaton()
            for w, i in literals.items():
                self._py.add_word(w, i)
            self._py.make_automaton()
            self._index_of = dict(literals)

    @property
    def backend(self) -> str:
        return "ahocorasick_rs" if self._rs is not None else "pyahocorasick"

    def present(self, haystack: bytes) -> set[int]:
        """Ids of the literals occurring in ``haystack`` (the hits are only counted, not kept)."""
        return self.scan(haystack).present

    def scan(self, haystack: bytes) -> Hits:
        """Every occurrence of every literal, grouped by literal when first asked for."""
        if self._rs is not None:
            return Hits(self._rs.find_matches_as_indexes(haystack, overlapping=True), self._ids)
        by_index: list[tuple[int, int, int]] = []
        if self._py is not None:
            words = self._by_id
            for end, lid in self._py.iter(haystack.decode("latin-1")):  # ASCII literals: offsets stay bytes'
                by_index.append((lid, end - len(words[lid]) + 1, end + 1))
        return Hits(by_index, None)

    def index_of(self, literal: str) -> int | None:
        """The key of ``literal`` in this scanner's :class:`Hits` (None: not one of its literals)."""
        return self._index_of.get(literal)


class Hits:
    """The (literal index, start, end) matches of a literal scan: which literals occur, and where."""

    def __init__(self, matches: list[tuple[int, int, int]], ids: list[int] | None) -> None:
        self._matches = matches
        self._ids = ids  # literal index -> literal id (None: the indexes are the ids)
        self._sorted: list[tuple[int, int, int]] | None = None
        self._keys: list[int] = []

    @property
    def present(self) -> set[int]:
        if not self._matches:
            return set()
        found = set(map(_FIRST, self._matches))
        ids = self._ids
        return found if ids is None else {ids[i] for i in found}

    def offsets(self, index: int) -> list[int]:
        """Start offsets (ascending) of the literal with this index."""
        if self._sorted is None:  # grouped once, in C: a stable sort on the index keeps offsets ascending
            self._sorted = sorted(self._matches, key=_FIRST)
            self._keys = list(map(_FIRST, self._sorted))
        lo = bisect.bisect_left(self._keys, index)
        hi = bisect.bisect_right(self._keys, index, lo)
        return list(map(_SECOND, self._sorted[lo:hi]))


_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)


# --------------------------------------------------------------------------- simple selectors

_COMPOUND_RE = re.compile(
    r"""\[\s*([\w:-]+)\s*(?:([~|^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([\w-]+))\s*)?\]"""
    r"""|([#.])((?:[\w-])+)"""
    r"""|([a-zA-Z][\w-]*|\*)"""
)


@dataclass(frozen=True, slots=True)
class Compound:
    tag: str | None
    checks: tuple[tuple[str, str, str | None], ...]  # (attr, op, value); op "" = presence
    anchor: str  # lower-case literal every matching start tag contains


def _compound(alt: str, anchor_of: dict[str, str]) -> Compound | None:
    pos, tag = 0, None
    checks: list[tuple[str, str, str | None]] = []
    for m in _COMPOUND_RE.finditer(alt):
        if m.start() != pos:
            return None  # combinator, pseudo class, escape...: not a simple compound selector
        pos = m.end()
        attr, op, v1, v2, v3, prefix, ident, name = m.groups()
        if attr:
            value = v1 if v1 is not None else v2 if v2 is not None else v3
            checks.append((attr.lower(), op or "", value))
        elif prefix:
            checks.append(("id", "=", ident) if prefix == "#" else ("class", "~=", ident))
        elif name:
            if checks or tag is not None:  # a type selector comes first, once
                return None
            tag = None if name == "*" else name.lower()
    if pos != len(alt):
        return None
    anchor = anchor_of.get(alt)
    if not anchor:
        return None
    return Compound(tag, tuple(checks), anchor)


def simple_selector(selector_list: Sequence[str], anchors: dict[str, str]) -> tuple[Compound, ...] | None:
    """The compound selectors of a selector list, or None when one of them needs a real parser."""
    out = []
    for alt in selector_list:
        c = _compound(alt.strip(), anchors)
        if c is None:
            return None
        out.append(c)
    return tuple(out) or None


def _check(attrs: dict[str, str], attr: str, op: str, value: str | None) -> bool:
    have = attrs.get(attr)
    if have is None:
        return False
    if not op:
        return True
    v = value or ""
    if op == "=":
        return have == v
    if op == "~=":
        return v in have.split()
    if op == "*=":
        return bool(v) and v in have
    if op == "^=":
        return bool(v) and have.startswith(v)
    if op == "$=":
        return bool(v) and have.endswith(v)
    if op == "|=":
        return have == v or have.startswith(v + "-")
    return False


_TAG_NAME_RE = re.compile(rb"<([a-z][^\s/>]*)")
_RAW_TEXT_DELIMITERS = [(b"<!--", b"-->")] + [
    (b"<" + name, b"</" + name) for name in (b"script", b"style", b"textarea", b"title", b"noscript", b"template")
]
_TAG_NAME_END = (b">", b" ", b"\t", b"\n", b"\r", b"/", b"\f")


# Tags too common on pages for their "<tag" openers to be worth looking up (thousands of hits):
# for these, the start tags are found from the selector's literal instead.
FREQUENT_TAGS = frozenset(
    {"a", "abbr", "article", "b", "br", "button", "dd", "div", "dl", "dt", "em", "footer", "form", "h1", "h2",
     "h3", "h4", "h5", "h6", "header", "i", "img", "input", "label", "li", "main", "nav", "ol", "option", "p",
     "path", "section", "small", "span", "strong", "svg", "table", "tbody", "td", "th", "tr", "u", "ul"}
)
RAW_TEXT_OPENERS = [opener.decode() for opener, _closer in _RAW_TEXT_DELIMITERS]
Positions = Callable[..., list[int]]  # (literal, limit=None): offsets, ascending; past limit, the first limit + 1


class RawTags:
    """Start tags of a page found from literal occurrences, skipping comments and raw-text elements.
    ``positions(literal)`` gives the sorted offsets of a literal in ``low`` (every literal asked for,
    including :data:`RAW_TEXT_OPENERS`, must have been searched for)."""

    def __init__(self, raw: bytes, low: bytes, positions: Positions, encoding: str = "utf-8") -> None:
        self.raw = raw
        self.encoding = encoding
        self.low = low
        self.positions = positions
        self._spans: tuple[list[int], list[int]] | None = None

    def _raw_text_spans(self) -> tuple[list[int], list[int]]:
        """Sorted (starts, ends) of comments and raw-text element contents, found with forward scans."""
        low, spans = self.low, []
        for opener, closer in _RAW_TEXT_DELIMITERS:
            until = -1
            for i in self.positions(opener.decode()):
                if i < until:
                    continue
                after = low[i + len(opener):i + len(opener) + 1]
                if opener == b"<!--" or after in _TAG_NAME_END:
                    end = low.find(closer, i + len(opener))
                    until = end = len(low) if end == -1 else end
                    spans.append((i + 1, end))
        spans.sort()
        reach, furthest = [], 0  # furthest end of the spans opened so far: spans can nest or overlap
        for _start, end in spans:
            furthest = max(furthest, end)
            reach.append(furthest)
        return [a for a, _ in spans], reach

    def _inside_raw_text(self, i: int) -> bool:
        """Whether offset ``i`` lies in a comment or in the content of a raw-text element."""
        if self._spans is None:
            self._spans = self._raw_text_spans()
        starts, reach = self._spans
        k = bisect.bisect_right(starts, i) - 1
        return k >= 0 and i < reach[k]

    def tags_around(self, literal: str, limit: int, tag: str | None = None) -> list[dict[str, str]] | None:
        """Attributes of the start tags (named ``tag``, if given) holding ``literal``; None past ``limit``
        occurrences of it."""
        from .fingerprints import parse_attrs

        low, out, seen = self.low, [], set()
        if tag is not None and tag not in FREQUENT_TAGS:
            openers = self.positions("<" + tag)
            if len(openers) < len(self.positions(literal, len(openers))):
                return self._tags_named(tag, openers, literal)  # fewer such tags than literals: read each tag
        hits = self.positions(literal, limit)
        if len(hits) > limit:
            return None
        for i in hits:
            lt = low.rfind(b"<", 0, i)
            if lt != -1 and lt not in seen and low.rfind(b">", lt, i) == -1:
                gt = low.find(b">", i)
                m = _TAG_NAME_RE.match(low, lt)
                seen.add(lt)
                if gt != -1 and m is not None and (tag is None or m.group(1) == tag.encode()) \
                        and not self._inside_raw_text(lt):
                    out.append(parse_attrs(self.raw[m.end():gt].decode(self.encoding, "replace")))
        return out


    def _tags_named(self, tag: str, openers: list[int], literal: str) -> list[dict[str, str]]:
        from .fingerprints import parse_attrs

        low, out, lit, after = self.low, [], literal.encode(), len(tag) + 1
        for lt in openers:
            if low[lt + after:lt + after + 1] not in _TAG_NAME_END:
                continue
            gt = low.find(b">", lt)
            if gt != -1 and low.find(lit, lt, gt) != -1 and not self._inside_raw_text(lt):
                out.append(parse_attrs(self.raw[lt + after:gt].decode(self.encoding, "replace")))
        return out


def select_tags(raw: RawTags, compounds: Iterable[Compound], limit: int = 1000) -> list[dict[str, str]] | None:
    """Attributes of the start tags matching any of ``compounds``, in no particular order; None: too many
    candidates, parse the page instead."""
    out: list[dict[str, str]] = []
    for c in compounds:
        tags = raw.tags_around(c.anchor, limit, c.tag)
        if tags is None:
            return None
        out.extend(attrs for attrs in tags if all(_check(attrs, a, op, v) for a, op, v in c.checks))
    return out


# --------------------------------------------------------------------------- regex windows

# From this size on, a regex runs only in windows around its literals: a case-insensitive regex over a
# whole 20 KB page costs ~120 us (the same result on every bench page and farm homepage, tested)
WINDOW_MIN_PAGE = 8_000
WINDOW_REACH = 1024
# anchors and context tests see a window's edges as the text's: a caret outside a class, $, lookarounds, \b \B \A \Z
_WINDOW_UNSAFE_RE = re.compile(r"(?<!\[)\^|\$|\(\?<?[=!]|\\[bBAZ]")


def windowable(pattern: str) -> bool:
    """A regex whose matches are the same inside a window as in the whole text (no anchors or context tests)."""
    return _WINDOW_UNSAFE_RE.search(pattern) is None


def regex_windows(positions: Positions, literals: Iterable[str], size: int, *, reach: int = WINDOW_REACH,
                  limit: int = 64) -> list[tuple[int, int]] | None:
    """Merged byte spans ``reach`` bytes around each literal occurrence; None past ``limit`` occurrences.
    A window's edges may cut a UTF-8 sequence: decode with errors="replace"."""
    hits: list[int] = []
    for literal in literals:
        hits.extend(positions(literal, limit - len(hits)))
        if len(hits) > limit:
            return None
    hits.sort()
    spans: list[tuple[int, int]] = []
    for i in hits:
        lo, hi = max(0, i - reach), min(size, i + reach)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans
