"""clean_run: one run's CompanyRecords -> CleanedLeads + DroppedLeads + counts. Pure, deterministic.

Steps:
1. registry id checked and normalised (CNPJ / SIREN / SIRET); invalid -> dropped "invalid_registry_id";
   Receita codes left in size, city or legal nature decoded (``codes.decode_codes``);
2. records with the same lead_key merged (dedup.merge_records); extras -> dropped "duplicate";
3. phones and e-mails parsed (cached per raw string);
4. MEI -> dropped "mei" (flags.mei_reason). MEI rows still count as companies carrying a phone;
5. same corporate e-mail + same normalised legal name -> merged (dedup.find_duplicates);
6. flags: accountant_like, repeated_phone (same E.164 on more than K companies of the run, plus
   the OTHER companies of the vault carrying it: ``known_phones`` or the ``vault`` lookup),
   repeated_email (same corporate address on more than K companies: its domain is then not
   offered as a website candidate), invalid_phone, invalid_email, legacy_mobile (8-digit mobile
   rewritten with the ninth digit), already_in_vault (the company was first seen in an earlier
   run: it is kept and updated, not dropped; counted in ``already_in_vault``).
Leads come out sorted by lead_key, dropped leads by (lead_key, reason code, source line).
Records in, records out of the same kind: ``shared.schemas`` models, or their msgspec mirrors
(``shared.wire.records``) that the service decodes from the wire.
The per-record part (steps 1 and 3, and the MEI test) is ``prepare_records``, which the service
runs on each batch as it arrives; ``plan_cleaning`` does the run-level rest and ``RunCleaning``
builds the leads batch by batch. ``clean_run`` is the three in a row.
Invariant: counts["in"] == counts["out"] + dropped_invalid_registry_id + dropped_mei + dropped_duplicate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from services.cleaner.codes import decode_codes
from services.cleaner.dedup import find_duplicates, merge_records
from services.cleaner.emails import ParsedEmail, parse_email_field
from services.cleaner.flags import (
    is_accountant_exempt,
    is_accounting_activity,
    mei_reason,
    normalize_legal_name,
)
from services.cleaner.identifiers import InvalidRegistryId, normalize_registry_id
from shared.domain.emails import is_free_mail_domain
from shared.domain.phones import ParsedPhone, parse_phone_field
from shared.schemas import CleanedLead, CompanyRecord, DroppedLead
from shared.wire.records import kind_of, replace
from shared.wire.records import this_module as _records

STAGE = "clean"

COUNT_KEYS = (
    "in",
    "out",
    "dropped_invalid_registry_id",
    "dropped_mei",
    "dropped_duplicate",
    "flag_accountant_like",
    "flag_repeated_phone",
    "flag_repeated_email",
    "phones_in",
    "phones_valid",
    "phones_invalid",
    "phones_mobile",
    "phones_fixed",
    "phones_whatsapp",
    "phones_legacy_mobile",
    "emails_in",
    "emails_valid",
    "emails_invalid",
    "emails_free",
    "emails_corporate",
    "emails_role",
    "leads_with_website_candidate",
    "already_in_vault",
    "vault_phones_matched",
)

_URL_PREFIX = re.compile(r"^(?:[a-z][a-z0-9+.\-]*://)?(?:www\d*\.)?", re.IGNORECASE)


@dataclass(frozen=True)
class VaultMatches:
    """What the vault already knows about a run's contacts and companies.

    ``known_phones``: E.164 -> number of companies OUTSIDE the run carrying it.
    ``known_leads``: lead_key -> the run that first brought it into the vault (earlier runs only).
    """

    known_phones: dict[str, int] = field(default_factory=dict)
    known_leads: dict[str, str] = field(default_factory=dict)


# (the run's E.164 phones, every lead_key of the run) -> what the vault knows about them
VaultLookup = Callable[[set[str], set[str]], VaultMatches]


@dataclass
class CleaningResult:
    leads: list[CleanedLead]  # or their records mirrors, as the input
    dropped: list[DroppedLead]
    counts: dict[str, int]


@dataclass(slots=True)
class _Draft:
    company: Any  # CompanyRecord or its mirror
    phones: dict[str, tuple[str, ParsedPhone]] = field(default_factory=dict)  # e164 -> (raw, parsed)
    emails: dict[str, ParsedEmail] = field(default_factory=dict)  # address -> parsed
    invalid_phones: list[str] = field(default_factory=list)
    invalid_emails: list[str] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)
    corporate: tuple[str, ...] = ()  # the addresses of ``emails`` that are not free-mail, in order
    mei: Any = None  # flags.mei_reason of the company (None: not a MEI)

    @property
    def lead_key(self) -> str:
        return self.company.lead_key


def website_domain(url: str | None) -> str | None:
    """"https://www.Acme.com.br/contato" -> "acme.com.br"; None when it is not a host name."""
    if not url:
        return None
    host = _URL_PREFIX.sub("", url.strip().lower()).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    host = host.strip(".")
    if "." not in host or " " in host or "@" in host:
        return None
    return host


def _dropped(k: ModuleType, company: Any, code: str, detail: str, lead_key: str | None = None) -> Any:
    return k.DroppedLead(
        lead_key=lead_key or company.lead_key,
        stage=STAGE,
        reason=k.Reason(code=code, detail=detail),
        source_file=company.source_file,
        source_line=company.source_line,
        raw={"registry_id": company.registry_id, "legal_name": company.legal_name or ""},
    )


def _draft(company: Any) -> _Draft:
    draft = _Draft(company)
    country = company.country or "BR"
    phones = draft.phones
    for field_value in company.phones:
        for raw, parsed in parse_phone_field(field_value, country):
            if parsed is None:
                draft.invalid_phones.append(raw)
            elif parsed.e164 not in phones:
                phones[parsed.e164] = (raw, parsed)
    emails = draft.emails
    for field_value in company.emails:
        for raw, parsed_email in parse_email_field(field_value):
            if parsed_email is None:
                draft.invalid_emails.append(raw)
            elif parsed_email.address not in emails:
                emails[parsed_email.address] = parsed_email
    if emails:
        draft.corporate = tuple(a for a, e in emails.items() if not e.free_mail)
    draft.mei = mei_reason(company)
    return draft


def _absorbed(survivor: _Draft, other: _Draft) -> _Draft:
    """The survivor with the other lead's contacts and keys (a new draft: prepared drafts are shared)."""
    merged = _Draft(survivor.company, dict(survivor.phones), dict(survivor.emails), list(survivor.invalid_phones),
                    list(survivor.invalid_emails), list(survivor.merged_from))
    for e164, value in other.phones.items():
        merged.phones.setdefault(e164, value)
    for address, value in other.emails.items():
        merged.emails.setdefault(address, value)
    merged.invalid_phones.extend(other.invalid_phones)
    merged.invalid_emails.extend(other.invalid_emails)
    merged.merged_from.append(other.lead_key)
    merged.merged_from.extend(other.merged_from)
    merged.corporate = tuple(a for a, e in merged.emails.items() if not e.free_mail)
    merged.mei = survivor.mei
    return merged


@dataclass(slots=True)
class Prepared:
    """One company record checked on its own: its lead key and contacts, or why it is dropped.

    What ``prepare_records`` computes per record needs no other record of the run, so a service
    prepares each batch as it arrives and :func:`clean_prepared` does only the run-level rest."""

    key: str | None  # None: invalid registry id (``dropped`` says why)
    company: Any  # the record, its id normalised
    draft: _Draft | None = None
    dropped: Any = None


def prepare_records(companies: list[Any]) -> list[Prepared]:
    """Steps 1 and 3 per record: registry id checked and normalised, phones and e-mails parsed."""
    k = kind_of(companies[0]) if companies else _records
    out: list[Prepared] = []
    for company in companies:
        country = (company.country or "BR").upper()
        try:
            registry_id = normalize_registry_id(country, company.registry_id)
        except InvalidRegistryId as exc:
            out.append(Prepared(None, company, dropped=_dropped(k, company, "invalid_registry_id", str(exc))))
            continue
        key = f"{country}:{registry_id}"
        if key != company.lead_key or registry_id != company.registry_id or country != company.country:
            company = replace(company, lead_key=key, registry_id=registry_id, country=country)
        company = decode_codes(company)
        out.append(Prepared(key, company, _draft(company)))
    return out


def clean_run(
    companies: list[CompanyRecord],  # or their records mirrors
    *,
    repeated_phone_threshold: int = 3,
    known_phones: dict[str, int] | None = None,
    vault: VaultLookup | None = None,
) -> CleaningResult:
    """Clean one run's companies. See the module docstring for the rules and their order.

    ``vault`` is called once, with the run's phones and lead keys, when the run's contacts are known.
    """
    return _clean_run(prepare_records(companies), repeated_phone_threshold, known_phones, vault)


def clean_prepared(
    prepared: list[Prepared],
    *,
    repeated_phone_threshold: int = 3,
    known_phones: dict[str, int] | None = None,
    vault: VaultLookup | None = None,
) -> CleaningResult:
    """``clean_run`` of the records ``prepare_records`` prepared (in run order, batch after batch):
    the same result. The prepared records are not changed (they may be cached and read again)."""
    return _clean_run(prepared, repeated_phone_threshold, known_phones, vault)


def _clean_run(
    prepared: list[Prepared],
    repeated_phone_threshold: int,
    known_phones: dict[str, int] | None,
    vault: VaultLookup | None,
) -> CleaningResult:
    cleaning = plan_cleaning(prepared, repeated_phone_threshold=repeated_phone_threshold, known_phones=known_phones,
                             vault=vault)
    leads = cleaning.build(0, len(cleaning))
    return CleaningResult(leads=leads, dropped=cleaning.dropped, counts=cleaning.finish())


class RunCleaning:
    """A run cleaned up to its leads, which are built on demand, in lead_key order: a service
    encodes and publishes one batch while the next is built. ``build`` every lead (once, in
    order), then ``finish`` for the counts; ``dropped`` is sorted by then."""

    def __init__(self, drafts: dict[str, _Draft], context: _RunContext, dropped: list[Any]) -> None:
        self._drafts, self._context, self.dropped = drafts, context, dropped
        self.keys = sorted(drafts)
        self.counts = context.counts
        self._built = 0

    def __len__(self) -> int:
        return len(self.keys)

    def build(self, start: int, stop: int) -> list[Any]:
        drafts, context = self._drafts, self._context
        leads = [_build_lead(drafts[key], context) for key in self.keys[start:stop]]
        self._built += len(leads)
        return leads

    def finish(self) -> dict[str, int]:
        counts, dropped = self.counts, self.dropped
        counts["phones_in"] = counts["phones_valid"] + counts["phones_invalid"]
        counts["emails_in"] = counts["emails_valid"] + counts["emails_invalid"]
        counts["out"] = self._built
        for d in dropped:
            counts[f"dropped_{d.reason.code}"] = counts.get(f"dropped_{d.reason.code}", 0) + 1
        dropped.sort(key=lambda d: (d.lead_key or "", d.reason.code, d.source_file or "", d.source_line or -1))
        return counts

    def iter_dropped(self, size: int) -> Iterator[list[Any]]:
        """The drops, sorted (after ``finish``), ``size`` at a time."""
        for start in range(0, len(self.dropped), size):
            yield self.dropped[start:start + size]


def plan_cleaning(
    prepared: list[Prepared],
    *,
    repeated_phone_threshold: int = 3,
    known_phones: dict[str, int] | None = None,
    vault: VaultLookup | None = None,
) -> RunCleaning:
    """Steps 1-6 over the prepared records of a run (call with the GC paused: ``gc_paused``);
    the leads themselves are built by :meth:`RunCleaning.build`."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["in"] = len(prepared)
    dropped: list[Any] = []
    k = kind_of(prepared[0].company) if prepared else _records

    # 1-3: ids, same-key merge, contacts (per record: prepare_records).
    by_key: dict[str, list[Prepared]] = {}
    for p in prepared:
        if p.key is None:
            dropped.append(p.dropped)
        elif p.key in by_key:
            by_key[p.key].append(p)
        else:
            by_key[p.key] = [p]
    drafts: dict[str, _Draft] = {}
    mei_drafts: list[_Draft] = []
    for key, group in by_key.items():
        if len(group) == 1:
            draft = group[0].draft  # type: ignore[assignment]
        else:
            company, merged_away = merge_records([p.company for p in group])
            draft = _draft(company)
            for record in merged_away:
                dropped.append(_dropped(k, record, "duplicate", f"merged into {key}", lead_key=key))
                draft.merged_from.append(key)
        # 4: MEI (mei_reason, from the draft).
        if draft.mei is not None:
            mei_drafts.append(draft)
            dropped.append(_dropped(k, draft.company, draft.mei.code, draft.mei.detail))
        else:
            drafts[key] = draft

    # 5: same corporate e-mail + same legal name. Only addresses seen on 2+ leads can match.
    address_leads = Counter(a for d in drafts.values() for a in d.corporate)
    candidates: dict[str, tuple[bool, list[str]]] = {}
    for key, draft in drafts.items():
        if not draft.corporate:
            continue
        shared = [a for a in draft.corporate if address_leads[a] > 1]
        name = normalize_legal_name(draft.company.legal_name) if shared else ""
        if name:
            candidates[key] = (draft.company.head_office is True, [f"{a}|{name}" for a in shared])
    for merged_key, survivor_key in sorted(find_duplicates(candidates).items()):
        other = drafts.pop(merged_key)
        drafts[survivor_key] = _absorbed(drafts[survivor_key], other)
        dropped.append(_dropped(k, other.company, "duplicate", f"merged into {survivor_key}"))

    # 6: shared phones and e-mails across the run's distinct companies (MEI rows included).
    phone_companies: Counter[str] = Counter()
    email_companies: Counter[str] = Counter()
    accounting_phones: dict[str, str] = {}
    phone_get, email_get = phone_companies.get, email_companies.get
    for draft in (*drafts.values(), *mei_drafts):
        for e164 in draft.phones:
            phone_companies[e164] = phone_get(e164, 0) + 1
        for a in draft.corporate:
            email_companies[a] = email_get(a, 0) + 1
        activity = draft.company.activity_main
        if activity and activity.startswith("69") and is_accounting_activity(activity):
            for e164 in draft.phones:
                if e164 not in accounting_phones or draft.lead_key < accounting_phones[e164]:
                    accounting_phones[e164] = draft.lead_key
    matches = VaultMatches(known_phones=dict(known_phones or {}))
    if vault is not None:
        run_keys = set(drafts)  # a draft's key is its lead_key
        for d in (*drafts.values(), *mei_drafts):
            if d.merged_from:
                run_keys.update(d.merged_from)
        run_keys.update(d.lead_key for d in mei_drafts)
        run_keys.update(d.lead_key for d in dropped if d.lead_key)
        found = vault(set(phone_companies), run_keys)
        for e164, n in found.known_phones.items():
            matches.known_phones[e164] = matches.known_phones.get(e164, 0) + n
        matches.known_leads.update(found.known_leads)
    for e164, n in matches.known_phones.items():
        if e164 in phone_companies and n > 0:
            phone_companies[e164] += n
            counts["vault_phones_matched"] += 1

    context = _RunContext(phone_companies, email_companies, accounting_phones, repeated_phone_threshold, counts,
                          matches.known_leads, k)
    return RunCleaning(drafts, context, dropped)


@dataclass(slots=True)
class _RunContext:
    phone_companies: Counter[str]
    email_companies: Counter[str]
    accounting_phones: dict[str, str]
    threshold: int
    counts: dict[str, int]
    known_leads: dict[str, str]
    kind: ModuleType  # shared.schemas or shared.wire.records


def _build_lead(draft: _Draft, run: _RunContext) -> Any:
    company = draft.company
    counts = run.counts
    threshold = run.threshold
    k = run.kind
    make_phone, make_email, make_reason = k.Phone, k.Email, k.Reason
    flags: list[Any] = []
    evidence: list[str] = []

    phones = []
    repeated: list[str] = []
    legacy: list[str] = []
    phone_companies, accounting_phones = run.phone_companies, run.accounting_phones
    for e164, (raw, parsed) in draft.phones.items():
        shared = phone_companies.get(e164, 1)
        kind = parsed.kind
        phones.append(make_phone(e164=e164, kind=kind, whatsapp=parsed.whatsapp, raw=raw, shared_count=shared))
        if kind == "mobile":
            counts["phones_mobile"] += 1
            if parsed.whatsapp:
                counts["phones_whatsapp"] += 1
            elif parsed.legacy:
                counts["phones_legacy_mobile"] += 1
                legacy.append(f"{raw} -> {e164}")
        elif kind == "fixed":
            counts["phones_fixed"] += 1
        if shared > threshold:
            repeated.append(f"{e164} on {shared} companies")
        if accounting_phones:
            firm = accounting_phones.get(e164)
            if firm is not None and firm != company.lead_key:
                evidence.append(f"phone {e164} shared with accounting firm {firm}")
    counts["phones_valid"] += len(phones)

    emails = []
    candidates: list[str] = []
    own = website_domain(company.website) if company.website else None
    if own is not None and not is_free_mail_domain(own):
        candidates.append(own)
    repeated_emails: list[str] = []
    for e in draft.emails.values():
        emails.append(make_email(address=e.address, domain=e.domain, free_mail=e.free_mail, role=e.role))
        if e.role:
            counts["emails_role"] += 1
        if e.free_mail:
            counts["emails_free"] += 1
        else:
            counts["emails_corporate"] += 1
            shared = run.email_companies.get(e.address, 1)
            if shared > threshold:
                repeated_emails.append(f"{e.address} on {shared} companies")
            elif e.domain not in candidates:
                candidates.append(e.domain)
        if e.accountant_domain is not None:
            evidence.append(f"e-mail domain {e.domain} contains '{e.accountant_domain}'")
        elif e.accountant_local is not None:
            evidence.append(f"e-mail {e.address} contains '{e.accountant_local}'")
    counts["emails_valid"] += len(emails)

    if evidence and not is_accountant_exempt(company):
        flags.append(make_reason(code="accountant_like", detail="; ".join(evidence)))
        counts["flag_accountant_like"] += 1
        # the accounting office's domain is not the company's website
        office_domains = {e.domain for e in draft.emails.values() if e.accountant_domain is not None}
        candidates = [c for c in candidates if c == own or c not in office_domains]
    if repeated:
        flags.append(make_reason(code="repeated_phone", detail="; ".join(repeated)))
        counts["flag_repeated_phone"] += 1
    if repeated_emails:
        flags.append(make_reason(code="repeated_email", detail="; ".join(repeated_emails)))
        counts["flag_repeated_email"] += 1
    if legacy:
        flags.append(make_reason(code="legacy_mobile", detail="; ".join(legacy)))
    if draft.invalid_phones:
        flags.append(make_reason(code="invalid_phone", detail="; ".join(draft.invalid_phones)))
        counts["phones_invalid"] += len(draft.invalid_phones)
    if draft.invalid_emails:
        flags.append(make_reason(code="invalid_email", detail="; ".join(draft.invalid_emails)))
        counts["emails_invalid"] += len(draft.invalid_emails)
    if candidates:
        counts["leads_with_website_candidate"] += 1
    if run.known_leads:
        first_run = run.known_leads.get(company.lead_key)
        if first_run is not None:
            flags.append(make_reason(code="already_in_vault", detail=f"first seen in run {first_run}; updated"))
            counts["already_in_vault"] += 1

    return k.CleanedLead(
        company=company,
        phones=phones,
        emails=emails,
        flags=flags,
        website_candidates=candidates,
        merged_from=sorted(draft.merged_from) if draft.merged_from else [],
        trace_id=None,
    )
