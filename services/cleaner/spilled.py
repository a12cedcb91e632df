"""A run cleaned from disk: the same leads, drops and counts as ``plan_cleaning``, with memory that does
not grow with the run.

The service keeps each prepared batch in a ``shared.run_spill.RunSpill``; a run over its threshold
is there as rows of SQLite tables written batch by batch (``spill_rows``):

- ``rec``: one row per valid record (its key, MEI and accounting-activity marks, head office, legal
  name, and the prepared record itself, msgpack);
- ``bad``: the records whose registry id is invalid (their drop);
- ``phone`` / ``email``: each record's E.164 phones and corporate addresses, with its key.

:class:`SpilledCleaning` then runs the steps of ``services.cleaner.logic`` as queries over those
tables: same-key groups merged (only keys seen twice are read), MEI drops, the e-mail + name
duplicates (only match keys two leads share are held, for the union-find), companies per phone and
per address (only counts above one are kept: one is the default), accounting firms per phone, the
vault's phones and known leads (asked in chunks). The leads are built in lead_key order a batch at
a time, each batch reading only its own phones' and addresses' counts; the drops come out of an
index in the order ``RunCleaning.finish`` sorts them in (a stable sort: ties keep the order the
in-memory path made them in, kept here as (phase, position)).

What stays in memory is a batch of leads, SQLite's page cache, and what is proportional to the
run's duplicates (merged groups), not to the run. :func:`plan_run` picks the path: the in-memory
one for a run its store kept in memory, this one for a spilled run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import msgspec

from services.cleaner.dedup import merge_records
from services.cleaner.emails import ParsedEmail
from services.cleaner.flags import is_accounting_activity, normalize_legal_name
from services.cleaner.logic import (
    COUNT_KEYS,
    Prepared,
    RunCleaning,
    VaultLookup,
    _absorbed,
    _build_lead,
    _Draft,
    _draft,
    _dropped,
    _RunContext,
    plan_cleaning,
)
from shared.domain.phones import ParsedPhone
from shared.run_spill import Rows, RunSpill, Segment
from shared.wire import records

SCHEMA = (
    "CREATE TABLE rec (seg INTEGER, idx INTEGER, key TEXT, mei INTEGER, acct INTEGER, head INTEGER, name TEXT,"
    " data BLOB)",
    "CREATE TABLE bad (seg INTEGER, idx INTEGER, lk TEXT, data BLOB)",
    "CREATE TABLE phone (seg INTEGER, e164 TEXT, key TEXT, acct INTEGER)",
    "CREATE TABLE email (seg INTEGER, address TEXT, key TEXT, head INTEGER, name TEXT)",
)
_DERIVED = ("grp", "mei_keys", "acct_keys", "merged", "shared_addr", "cand", "phone_n", "acct_phone", "email_n",
            "known", "dropped")
VAULT_CHUNK = 20_000  # phones or keys per vault question


class _Mei(NamedTuple):
    code: str
    detail: str


class _Spilled(msgspec.Struct, array_like=True, gc=False):
    """A prepared record (``_Draft``) as a row keeps it (msgspec decodes the named tuples itself)."""

    company: records.CompanyRecord
    phones: dict[str, tuple[str, ParsedPhone]]  # e164 -> (raw, parsed), in order
    emails: dict[str, ParsedEmail]  # address -> parsed, in order
    invalid_phones: list[str]
    invalid_emails: list[str]
    merged_from: list[str]
    mei: tuple[str, str] | None


_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE_DRAFT = msgspec.msgpack.Decoder(_Spilled).decode
_DECODE_DROPPED = msgspec.msgpack.Decoder(records.DroppedLead).decode


def _encode_draft(d: _Draft) -> bytes:
    return _ENCODE(_Spilled(d.company, d.phones, d.emails, d.invalid_phones, d.invalid_emails, d.merged_from,
                            (d.mei.code, d.mei.detail) if d.mei is not None else None))


def _decode_draft(data: bytes) -> _Draft:
    s = _DECODE_DRAFT(data)
    emails = s.emails
    draft = _Draft(s.company, s.phones, emails, s.invalid_phones, s.invalid_emails, s.merged_from)
    if emails:
        draft.corporate = tuple(a for a, e in emails.items() if not e.free_mail)
    if s.mei is not None:
        draft.mei = _Mei(*s.mei)
    return draft


def _is_accounting(company: Any) -> bool:
    activity = company.activity_main
    return bool(activity and activity.startswith("69") and is_accounting_activity(activity))


def spill_rows(seg: int, prepared: list[Prepared]) -> Rows:
    """The rows of one prepared batch (records mirrors only)."""
    rec, bad, phone, email = [], [], [], []
    for idx, p in enumerate(prepared):
        if p.key is None:
            bad.append((seg, idx, p.dropped.lead_key, _ENCODE(p.dropped)))
            continue
        draft = p.draft
        assert draft is not None
        company = draft.company
        acct = _is_accounting(company)
        rec.append((seg, idx, p.key, draft.mei is not None, acct, company.head_office is True, company.legal_name,
                    _encode_draft(draft)))
        phone.extend((seg, e164, p.key, acct) for e164 in draft.phones)
        head = company.head_office is True
        email.extend((seg, a, p.key, head, company.legal_name) for a in draft.corporate)
    return {"rec": rec, "bad": bad, "phone": phone, "email": email}


def cleaning_spill(directory: Any, threshold: int) -> RunSpill[Prepared]:
    """The store a cleaner keeps its runs' prepared batches in."""
    return RunSpill(directory, threshold, SCHEMA, spill_rows)


def plan_run(store: RunSpill[Prepared], run: str, segments: Sequence[Segment], *, repeated_phone_threshold: int = 3,
             vault: VaultLookup | None = None) -> RunCleaning | SpilledCleaning:
    """The run's cleaning: in memory when its store kept it there, else from its database.

    Either way: ``len``, ``build(start, stop)`` in order, ``finish()`` for the counts, then
    ``iter_dropped(size)``; the same leads, drops and counts."""
    if store.spilled(run):
        return SpilledCleaning(store.open(run, segments), sum(s.count for s in segments),
                               repeated_phone_threshold=repeated_phone_threshold, vault=vault)
    return plan_cleaning(store.take_items(run, segments), repeated_phone_threshold=repeated_phone_threshold,
                         vault=vault)


class _RunKeys:
    """The run's lead keys for a vault question about phones: answers ``in`` from the database; empty
    when asked as a whole (so the vault is not asked which of them it knows: that is asked apart)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __contains__(self, key: object) -> bool:
        return self.db.execute("SELECT 1 FROM rec WHERE key = ? UNION ALL SELECT 1 FROM bad WHERE lk = ? LIMIT 1",
                               (key, key)).fetchone() is not None

    def __bool__(self) -> bool:
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class SpilledCleaning:
    """``RunCleaning`` over a spilled run's database (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection, records_in: int, *, repeated_phone_threshold: int = 3,
                 known_phones: dict[str, int] | None = None, vault: VaultLookup | None = None) -> None:
        self.db, self.threshold = db, repeated_phone_threshold
        self.counts = counts = dict.fromkeys(COUNT_KEYS, 0)
        counts["in"] = records_in
        self.kind = records
        self._built = 0
        self._pos = 0
        for table in _DERIVED:
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("CREATE TABLE dropped (lk TEXT, code TEXT, sf TEXT, sl INTEGER, phase INTEGER, pos INTEGER,"
                   " data BLOB)")
        db.execute("CREATE INDEX IF NOT EXISTS rec_key ON rec (key)")
        db.execute("BEGIN")
        self._invalid()
        self._groups()
        self._email_name_duplicates()
        self._contact_counts()
        self.known = self._ask_vault(vault, known_phones)
        db.execute("COMMIT")
        (distinct,) = db.execute("SELECT COUNT(DISTINCT key) FROM rec").fetchone()
        (meis,) = db.execute("SELECT COUNT(*) FROM mei_keys").fetchone()
        (merged,) = db.execute("SELECT COUNT(*) FROM merged").fetchone()
        self._len = distinct - meis - merged
        self._leads = self._drafts()

    def __len__(self) -> int:
        return self._len

    # ---- steps 1-5 ------------------------------------------------------------------------------------

    def _drop(self, dropped: Any, phase: int) -> None:
        self._pos += 1
        d = dropped
        self.db.execute("INSERT INTO dropped VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (d.lead_key or "", d.reason.code, d.source_file or "", d.source_line or -1, phase, self._pos,
                         _ENCODE(d)))

    def _invalid(self) -> None:
        rows = self.db.execute("SELECT b.data FROM bad b JOIN segs s ON s.seg = b.seg ORDER BY s.rank, b.idx")
        for (data,) in rows:
            self._drop(_DECODE_DROPPED(data), 0)

    def _groups(self) -> None:
        """Step 2 (same key merged) for the keys seen more than once, and step 4 (MEI drops)."""
        db, k = self.db, self.kind
        db.execute("CREATE TABLE grp (key TEXT PRIMARY KEY, mei INTEGER, acct INTEGER, head INTEGER, name TEXT,"
                   " data BLOB)")
        db.execute("CREATE TABLE mei_keys (key TEXT PRIMARY KEY)")
        # cursors, never fetchall: the keys seen twice, the MEI rows are a share of the run
        keys = db.cursor().execute("SELECT key FROM rec GROUP BY key HAVING COUNT(*) > 1")
        for (key,) in keys:
            rows = db.execute("SELECT r.data FROM rec r JOIN segs s ON s.seg = r.seg WHERE r.key = ?"
                              " ORDER BY s.rank, r.idx", (key,)).fetchall()
            company, merged_away = merge_records([_DECODE_DRAFT(data).company for (data,) in rows])
            draft = _draft(company)
            for record in merged_away:
                self._drop(_dropped(k, record, "duplicate", f"merged into {key}", lead_key=key), 1)
                draft.merged_from.append(key)
            if draft.mei is not None:
                self._drop(_dropped(k, draft.company, draft.mei.code, draft.mei.detail), 1)
            db.execute("INSERT INTO grp VALUES (?, ?, ?, ?, ?, ?)",
                       (key, draft.mei is not None, _is_accounting(company), company.head_office is True,
                        company.legal_name, _encode_draft(draft)))
        for (data,) in db.cursor().execute("SELECT data FROM rec WHERE mei AND key NOT IN (SELECT key FROM grp)"):
            draft = _decode_draft(data)
            self._drop(_dropped(k, draft.company, draft.mei.code, draft.mei.detail), 1)
        db.execute("INSERT INTO mei_keys SELECT key FROM rec WHERE mei AND key NOT IN (SELECT key FROM grp)"
                   " UNION SELECT key FROM grp WHERE mei")

    def _email_name_duplicates(self) -> None:
        """Step 5: leads sharing a corporate address and a normalised legal name: fills ``merged``
        (key -> survivor)."""
        db = self.db
        db.execute("CREATE TABLE merged (key TEXT PRIMARY KEY, survivor TEXT)")
        db.execute("CREATE TABLE shared_addr (address TEXT PRIMARY KEY)")
        db.execute("INSERT INTO shared_addr SELECT address FROM email WHERE key NOT IN (SELECT key FROM mei_keys)"
                   " GROUP BY address HAVING COUNT(DISTINCT key) > 1")
        db.execute("CREATE TABLE cand (match TEXT, key TEXT, head INTEGER)")
        # a key seen twice takes its merged record's name and head office (grp), else its record's
        rows = db.cursor().execute(
            "SELECT e.key, COALESCE(g.name, e.name), COALESCE(g.head, e.head), group_concat(e.address, char(10))"
            " FROM email e JOIN shared_addr s ON s.address = e.address LEFT JOIN grp g ON g.key = e.key"
            " WHERE e.key NOT IN (SELECT key FROM mei_keys) GROUP BY e.key")
        insert = db.cursor()
        for key, legal_name, head, addresses in rows:
            name = normalize_legal_name(legal_name)
            if name:
                insert.executemany("INSERT INTO cand VALUES (?, ?, ?)",
                                   ((f"{a}|{name}", key, head) for a in set(addresses.split("\n"))))
        # the groups: connected components over the match keys two leads or more share, found by passing the
        # smallest key along (key -> match -> key) until nothing changes; on disk, however many leads merge
        db.execute("CREATE TABLE edge AS SELECT match, key FROM cand"
                   " WHERE match IN (SELECT match FROM cand GROUP BY match HAVING COUNT(*) > 1)")
        db.execute("CREATE TABLE lab (key TEXT PRIMARY KEY, label TEXT, head INTEGER) WITHOUT ROWID")
        db.execute("INSERT INTO lab SELECT key, key, MAX(head) FROM cand WHERE key IN (SELECT key FROM edge)"
                   " GROUP BY key")
        for table in ("mlab", "klab"):
            db.execute(f"CREATE TABLE {table} (node TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID")
        while True:
            db.execute("DELETE FROM mlab")
            db.execute("INSERT INTO mlab SELECT e.match, MIN(l.label) FROM edge e JOIN lab l ON l.key = e.key"
                       " GROUP BY e.match")
            db.execute("DELETE FROM klab")
            db.execute("INSERT INTO klab SELECT e.key, MIN(m.label) FROM edge e JOIN mlab m ON m.node = e.match"
                       " GROUP BY e.key")
            changed = db.execute("UPDATE lab SET label = k.label FROM klab k WHERE k.node = lab.key"
                                 " AND k.label < lab.label").rowcount
            if not changed:
                break
        # the survivor: the head office, else the smallest key (dedup.find_duplicates)
        db.execute(
            "INSERT INTO merged SELECT l.key, s.key FROM lab l JOIN (SELECT label, key FROM (SELECT label, key,"
            " ROW_NUMBER() OVER (PARTITION BY label ORDER BY NOT head, key) AS n FROM lab) WHERE n = 1) s"
            " ON s.label = l.label WHERE l.key != s.key")
        db.execute("CREATE INDEX merged_survivor ON merged (survivor, key)")
        # each merged lead's drop is made as its survivor absorbs it (``_drafts``): phase 2's drops have
        # lead keys of their own, so their positions never break a tie

    def _draft_of(self, key: str) -> _Draft:
        row = self.db.execute("SELECT data FROM grp WHERE key = ?", (key,)).fetchone() or self.db.execute(
            "SELECT data FROM rec WHERE key = ? LIMIT 1", (key,)).fetchone()
        return _decode_draft(row[0])

    # ---- step 6 ---------------------------------------------------------------------------------------

    def _contact_counts(self) -> None:
        """Companies per phone and per corporate address (above one only), accounting firm per phone."""
        db = self.db
        owner = "COALESCE(m.survivor, {t}.key)"
        db.execute("CREATE TABLE phone_n (e164 TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID")
        db.execute(f"INSERT INTO phone_n SELECT p.e164, COUNT(DISTINCT {owner.format(t='p')}) AS n FROM phone p"
                   " LEFT JOIN merged m ON m.key = p.key GROUP BY p.e164 HAVING n > 1")
        db.execute("CREATE TABLE email_n (address TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID")
        db.execute(f"INSERT INTO email_n SELECT e.address, COUNT(DISTINCT {owner.format(t='e')}) AS n FROM email e"
                   " LEFT JOIN merged m ON m.key = e.key GROUP BY e.address HAVING n > 1")
        db.execute("CREATE TABLE acct_keys (key TEXT PRIMARY KEY)")
        db.execute("INSERT INTO acct_keys SELECT key FROM rec WHERE acct AND key NOT IN (SELECT key FROM grp)"
                   " UNION SELECT key FROM grp WHERE acct")
        db.execute("CREATE TABLE acct_phone (e164 TEXT PRIMARY KEY, firm TEXT) WITHOUT ROWID")
        db.execute(
            f"INSERT INTO acct_phone SELECT o.e164, MIN(o.owner) FROM (SELECT p.e164 AS e164, {owner.format(t='p')}"
            " AS owner FROM phone p LEFT JOIN merged m ON m.key = p.key WHERE p.acct OR p.key IN (SELECT key FROM grp)"
            " OR p.key IN (SELECT key FROM merged)) o WHERE o.owner IN (SELECT key FROM acct_keys) GROUP BY o.e164")

    def _ask_vault(self, vault: VaultLookup | None, known_phones: dict[str, int] | None) -> bool:
        """The vault's phones (added to the counts) and known leads (table ``known``); whether any is known."""
        db, counts = self.db, self.counts
        db.execute("CREATE TABLE known (key TEXT PRIMARY KEY, first_run TEXT) WITHOUT ROWID")
        extra: dict[str, int] = dict(known_phones or {})
        if vault is not None:
            db.execute("CREATE INDEX IF NOT EXISTS bad_lk ON bad (lk)")
            run_keys = _RunKeys(db)
            phones = db.execute("SELECT DISTINCT e164 FROM phone ORDER BY e164")
            while chunk := phones.fetchmany(VAULT_CHUNK):
                for e164, n in vault({p for (p,) in chunk}, run_keys).known_phones.items():  # type: ignore[arg-type]
                    extra[e164] = extra.get(e164, 0) + n
            keys = db.execute("SELECT key FROM rec UNION SELECT lk FROM bad WHERE lk IS NOT NULL AND lk != ''")
            known = db.cursor()
            while chunk := keys.fetchmany(VAULT_CHUNK):
                found = vault(set(), {key for (key,) in chunk}).known_leads
                known.executemany("INSERT OR REPLACE INTO known VALUES (?, ?)", found.items())
        if extra:  # only the run's phones count
            db.execute("CREATE INDEX IF NOT EXISTS phone_e164 ON phone (e164)")
        for e164, n in sorted(extra.items()):
            if n > 0 and db.execute("SELECT 1 FROM phone WHERE e164 = ? LIMIT 1", (e164,)).fetchone():
                db.execute("INSERT INTO phone_n VALUES (?, 1 + ?) ON CONFLICT (e164) DO UPDATE SET n = n + ?",
                           (e164, n, n))
                counts["vault_phones_matched"] += 1
        return db.execute("SELECT 1 FROM known LIMIT 1").fetchone() is not None

    # ---- the leads ------------------------------------------------------------------------------------

    def _absorbing(self) -> Iterator[tuple[str, list[str]]]:
        """Each survivor of step 5 with the keys it absorbs, in key order."""
        rows = self.db.cursor().execute("SELECT survivor, key FROM merged INDEXED BY merged_survivor"
                                        " ORDER BY survivor, key")
        survivor, keys = None, []
        for row in rows:
            if row[0] != survivor:
                if survivor is not None:
                    yield survivor, keys
                survivor, keys = row[0], []
            keys.append(row[1])
        if survivor is not None:
            yield survivor, keys

    def _drafts(self) -> Iterator[_Draft]:
        """The run's final drafts in lead_key order (MEI and merged-away leads left out)."""
        absorbing = self._absorbing()
        survivor, absorbed = next(absorbing, (None, []))
        rows = self.db.cursor().execute(
            "SELECT r.key, r.data, g.data, COALESCE(g.mei, r.mei), m.key IS NOT NULL FROM rec r INDEXED BY rec_key"
            " LEFT JOIN grp g ON g.key = r.key LEFT JOIN merged m ON m.key = r.key ORDER BY r.key")
        last = None
        while chunk := rows.fetchmany(1000):
            for key, data, group_data, mei, merged in chunk:
                if key == last:
                    continue
                last = key
                if mei or merged:
                    continue
                draft = _decode_draft(group_data if group_data is not None else data)
                while survivor is not None and survivor < key:  # (a survivor is never MEI nor merged away)
                    survivor, absorbed = next(absorbing, (None, []))
                for other_key in absorbed if survivor == key else ():
                    other = self._draft_of(other_key)
                    draft = _absorbed(draft, other)
                    self._drop(_dropped(self.kind, other.company, "duplicate", f"merged into {key}"), 2)
                yield draft

    def _lookup(self, sql: str, values: set[str]) -> dict[str, Any]:
        if not values:
            return {}
        return dict(self.db.execute(sql, (json.dumps(sorted(values)),)).fetchall())

    def build(self, start: int, stop: int) -> list[Any]:
        """The next leads (``start`` must be where the last call stopped)."""
        if start != self._built:
            raise ValueError(f"leads are built in order: {start} asked, {self._built} built")
        drafts = [d for _, d in zip(range(stop - start), self._leads, strict=False)]
        phones = {e164 for d in drafts for e164 in d.phones}
        addresses = {a for d in drafts for a in d.corporate}
        keys = {d.lead_key for d in drafts}
        context = _RunContext(
            self._lookup("SELECT e164, n FROM phone_n WHERE e164 IN (SELECT value FROM json_each(?))", phones),
            self._lookup("SELECT address, n FROM email_n WHERE address IN (SELECT value FROM json_each(?))", addresses),
            self._lookup("SELECT e164, firm FROM acct_phone WHERE e164 IN (SELECT value FROM json_each(?))", phones),
            self.threshold, self.counts,
            self._lookup("SELECT key, first_run FROM known WHERE key IN (SELECT value FROM json_each(?))", keys)
            if self.known else {},
            self.kind)
        leads = [_build_lead(d, context) for d in drafts]
        self._built += len(leads)
        return leads

    def finish(self) -> dict[str, int]:
        counts = self.counts
        counts["phones_in"] = counts["phones_valid"] + counts["phones_invalid"]
        counts["emails_in"] = counts["emails_valid"] + counts["emails_invalid"]
        counts["out"] = self._built
        for code, n in self.db.execute("SELECT code, COUNT(*) FROM dropped GROUP BY code"):
            counts[f"dropped_{code}"] = counts.get(f"dropped_{code}", 0) + n
        self.db.execute("CREATE INDEX dropped_order ON dropped (lk, code, sf, sl, phase, pos)")
        return counts

    def iter_dropped(self, size: int) -> Iterator[list[Any]]:
        """The drops in ``RunCleaning.finish``'s order, ``size`` at a time (after ``finish``)."""
        rows = self.db.cursor().execute(
            "SELECT data FROM dropped INDEXED BY dropped_order ORDER BY lk, code, sf, sl, phase, pos")
        while chunk := rows.fetchmany(size):
            yield [_DECODE_DROPPED(data) for (data,) in chunk]
