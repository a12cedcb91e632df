"""clean_run: drops (invalid id, MEI, duplicates), flags (accountant, repeated phone), counts, determinism."""

from __future__ import annotations

import random
from typing import Any

import pytest

from services.cleaner.logic import COUNT_KEYS, clean_prepared, clean_run, prepare_records, website_domain
from shared.schemas import Address, CompanyRecord


def cnpj(n: int, branch: int = 1) -> str:
    """A valid numeric CNPJ for basico ``n`` and ordem ``branch``."""
    base = [int(c) for c in f"{n:08d}{branch:04d}"]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        r = sum(d * w for d, w in zip(base, weights, strict=True)) % 11
        base.append(0 if r < 2 else 11 - r)
    return "".join(map(str, base))


def company(n: int, branch: int = 1, **fields: Any) -> CompanyRecord:
    rid = fields.pop("registry_id", cnpj(n, branch))
    values: dict[str, Any] = {
        "lead_key": f"BR:{rid}",
        "registry_id": rid,
        "source": "csv",
        "legal_name": f"EMPRESA {n} LTDA",
        "activity_main": "6201501",
        "address": Address(state="SP"),
    }
    values.update(fields)
    return CompanyRecord(**values)


def flag(result_lead: Any, code: str) -> Any:
    return next((f for f in result_lead.flags if f.code == code), None)


# ---- drops ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "dropped"),
    [
        ({"mei": True}, True),
        ({"legal_nature": "2135", "legal_name": "JOAO DA SILVA 12345678901"}, True),
        ({"legal_nature": "213-5", "legal_name": "MARIA SOUZA 123.456.789-01"}, True),
        ({"legal_nature": "2135", "legal_name": "JOAO DA SILVA 12345678901", "mei": False}, False),
        ({"legal_nature": "2135", "legal_name": "JOAO DA SILVA COMERCIO"}, False),
        ({"legal_nature": "2062", "legal_name": "ACME 12345678901"}, False),
        ({"mei": False}, False),
    ],
)
def test_mei_rows_are_dropped_with_reason(fields: dict[str, Any], dropped: bool) -> None:
    result = clean_run([company(1, **fields)])
    assert (len(result.dropped) == 1) is dropped
    if dropped:
        assert result.dropped[0].reason.code == "mei"
        assert result.dropped[0].stage == "clean"
        assert result.counts["dropped_mei"] == 1
    else:
        assert len(result.leads) == 1


@pytest.mark.parametrize(
    ("country", "registry_id"),
    [("BR", "19131243000198"), ("BR", "1913124300019"), ("BR", "00000000000000"), ("FR", "732829321")],
)
def test_invalid_registry_ids_are_dropped_with_reason(country: str, registry_id: str) -> None:
    record = CompanyRecord(
        lead_key=f"{country}:{registry_id}", country=country, registry_id=registry_id, source="csv", source_line=7
    )
    result = clean_run([record])
    assert result.leads == []
    [dropped] = result.dropped
    assert dropped.reason.code == "invalid_registry_id"
    assert registry_id in dropped.reason.detail
    assert (dropped.lead_key, dropped.source_line) == (f"{country}:{registry_id}", 7)
    assert result.counts["dropped_invalid_registry_id"] == 1


def test_punctuated_cnpj_is_normalised_in_the_lead_key() -> None:
    record = CompanyRecord(lead_key="BR:19.131.243/0001-97", registry_id="19.131.243/0001-97", source="csv")
    [lead] = clean_run([record]).leads
    assert (lead.lead_key, lead.company.registry_id) == ("BR:19131243000197", "19131243000197")


def test_siret_leads_are_kept() -> None:
    record = CompanyRecord(
        lead_key="FR:73282932000074", country="FR", registry_id="73282932000074", source="sirene",
        phones=["01 42 68 53 00"],
    )
    [lead] = clean_run([record]).leads
    assert lead.phones[0].e164 == "+33142685300"


# ---- phones and e-mails on the lead ---------------------------------------------------------------


def test_phones_are_normalised_deduplicated_and_typed_on_the_lead() -> None:
    record = company(1, phones=["11 987654321", "(11) 98765-4321", "(11) 3333-4444", "123", "11 87654320"])
    [lead] = clean_run([record]).leads
    assert [(p.e164, p.kind, p.whatsapp) for p in lead.phones] == [
        ("+5511987654321", "mobile", True),
        ("+551133334444", "fixed", False),
        ("+5511987654320", "mobile", False),
    ]
    assert lead.phones[0].raw == "11 987654321"
    assert flag(lead, "invalid_phone").detail == "123"
    assert flag(lead, "legacy_mobile").detail == "11 87654320 -> +5511987654320"


def test_emails_feed_website_candidates_only_with_corporate_domains() -> None:
    record = company(
        1,
        website="https://www.Acme.com.br/contato",
        emails=[" Contato@ACME.com.br ", "fulano@gmail.com", "vendas@acme-loja.com.br", "not-an-email"],
    )
    [lead] = clean_run([record]).leads
    assert [(e.address, e.free_mail, e.role) for e in lead.emails] == [
        ("contato@acme.com.br", False, True),
        ("fulano@gmail.com", True, False),
        ("vendas@acme-loja.com.br", False, True),
    ]
    assert lead.website_candidates == ["acme.com.br", "acme-loja.com.br"]
    assert flag(lead, "invalid_email").detail == "not-an-email"


@pytest.mark.parametrize(
    ("url", "domain"),
    [("https://www.acme.com.br/x", "acme.com.br"), ("ACME.COM.BR", "acme.com.br"), ("http://a.fr:8080", "a.fr"),
     ("sem site", None), ("", None)],
)
def test_website_domain_is_extracted_from_registry_urls(url: str, domain: str | None) -> None:
    assert website_domain(url) == domain


# ---- flags ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emails", "evidence"),
    [
        (["contato@silvacontabilidade.com.br"], "e-mail domain silvacontabilidade.com.br contains 'contab'"),
        (["escritorio.fiscal@gmail.com"], "contains 'escritorio'"),
        (["fiscal@contadores-associados.com.br"], "contains 'contador'"),
        (["Contabil.Silva@Hotmail.com"], "contains 'contab'"),
    ],
)
def test_accountant_like_emails_are_flagged(emails: list[str], evidence: str) -> None:
    [lead] = clean_run([company(1, emails=emails)]).leads
    reason = flag(lead, "accountant_like")
    assert reason is not None and evidence in reason.detail
    assert not any("contab" in c for c in lead.website_candidates)


def test_phone_shared_with_an_accounting_firm_is_flagged_accountant_like() -> None:
    firm = company(1, activity_main="6920-6/01", legal_name="SILVA CONTABILIDADE LTDA", phones=["11 3333-4444"],
                   emails=["contato@silvacontabilidade.com.br"])
    client = company(2, phones=["(11) 3333-4444"])
    result = clean_run([firm, client])
    leads = {lead.lead_key: lead for lead in result.leads}
    assert flag(leads[client.lead_key], "accountant_like").detail == (
        f"phone +551133334444 shared with accounting firm {firm.lead_key}"
    )
    assert flag(leads[firm.lead_key], "accountant_like") is None  # its contacts are its own
    assert result.counts["flag_accountant_like"] == 1


@pytest.mark.parametrize(("carriers", "threshold", "flagged"), [(3, 3, False), (4, 3, True), (2, 1, True)])
def test_repeated_phone_is_flagged_above_the_threshold(carriers: int, threshold: int, flagged: bool) -> None:
    records = [company(n, phones=["11 3333-4444"]) for n in range(1, carriers + 1)]
    result = clean_run(records, repeated_phone_threshold=threshold)
    assert len(result.leads) == carriers  # a shared phone is not a duplicate
    for lead in result.leads:
        assert lead.phones[0].shared_count == carriers
        assert (flag(lead, "repeated_phone") is not None) is flagged
    assert result.counts["flag_repeated_phone"] == (carriers if flagged else 0)


def test_known_phones_from_the_vault_count_towards_repetition() -> None:
    result = clean_run([company(1, phones=["11 3333-4444"])], known_phones={"+551133334444": 5, "+551100000000": 9})
    [lead] = result.leads
    assert lead.phones[0].shared_count == 6
    assert "+551133334444 on 6 companies" in flag(lead, "repeated_phone").detail


def test_mei_rows_still_count_as_phone_carriers() -> None:
    records = [company(n, phones=["11 3333-4444"], mei=n > 1) for n in range(1, 6)]
    result = clean_run(records)
    [lead] = result.leads
    assert lead.phones[0].shared_count == 5 and flag(lead, "repeated_phone") is not None


def test_repeated_corporate_email_is_flagged_and_not_a_website_candidate() -> None:
    records = [company(n, emails=["contato@escritoriosilva.com.br"]) for n in range(1, 6)]
    result = clean_run(records)
    assert len(result.leads) == 5  # different legal names: not duplicates
    assert all(flag(lead, "repeated_email") is not None for lead in result.leads)
    assert all(lead.website_candidates == [] for lead in result.leads)


# ---- duplicates -------------------------------------------------------------------------------------


def test_same_lead_key_rows_are_merged_keeping_the_best_fields() -> None:
    first = company(1, source_line=1, phones=["11 3333-4444"], emails=[], capital=None, opened_on="2010-01-01")
    second = company(1, source_line=2, phones=["11 98765-4321"], emails=["contato@acme.com.br"], capital=5000.0,
                     trade_name="ACME")
    result = clean_run([first, second])
    [lead] = result.leads
    assert lead.company.capital == 5000.0 and lead.company.opened_on == "2010-01-01"
    assert [p.e164 for p in lead.phones] == ["+5511987654321", "+551133334444"]  # base = most complete row
    assert lead.merged_from == [first.lead_key]
    [dropped] = result.dropped
    assert (dropped.reason.code, dropped.reason.detail) == ("duplicate", f"merged into {first.lead_key}")
    assert dropped.source_line == 1  # the less complete row is the one merged away


def test_same_corporate_email_and_legal_name_are_merged_into_the_head_office() -> None:
    head = company(1, 1, head_office=True, legal_name="Acme Sistemas Ltda", emails=["contato@acme.com.br"],
                   phones=["11 3333-4444"])
    branch = company(1, 2, head_office=False, legal_name="ACME SISTEMAS LTDA.", emails=["CONTATO@acme.com.br"],
                     phones=["21 2222-3333"])
    result = clean_run([branch, head])
    [lead] = result.leads
    assert lead.lead_key == head.lead_key
    assert lead.merged_from == [branch.lead_key]
    assert {p.e164 for p in lead.phones} == {"+551133334444", "+552122223333"}
    [dropped] = result.dropped
    assert dropped.lead_key == branch.lead_key
    assert dropped.reason.detail == f"merged into {head.lead_key}"
    assert result.counts["dropped_duplicate"] == 1


@pytest.mark.parametrize(
    ("email_a", "email_b", "name_b"),
    [
        ("contato@acme.com.br", "contato@acme.com.br", "OUTRA EMPRESA LTDA"),  # same e-mail, other name
        ("acme@gmail.com", "acme@gmail.com", "ACME SISTEMAS LTDA"),  # free mail never merges
        ("contato@acme.com.br", "vendas@acme.com.br", "ACME SISTEMAS LTDA"),  # same domain, other address
    ],
)
def test_leads_are_not_merged_without_same_corporate_email_and_name(email_a: str, email_b: str, name_b: str) -> None:
    a = company(1, legal_name="ACME SISTEMAS LTDA", emails=[email_a])
    b = company(2, legal_name=name_b, emails=[email_b])
    result = clean_run([a, b])
    assert len(result.leads) == 2 and result.dropped == []


# ---- run-level ------------------------------------------------------------------------------------


def _mixed_run() -> list[CompanyRecord]:
    return [
        company(5, phones=["11 987654321", "11 3333-4444"], emails=["contato@acme5.com.br"]),
        company(3, mei=True, phones=["11 3333-4444"]),
        company(4, registry_id="19131243000198"),
        company(2, phones=["11 3333-4444"], emails=["x@gmail.com"]),
        company(2, phones=["0xx11 98888-7777"], trade_name="DOIS"),
        company(1, phones=["11 3333-4444", "999"], emails=["escritorio@contabilx.com.br", "bad@"]),
        company(6, activity_main="6920601", legal_name="CONTABILX LTDA", phones=["(11) 3333-4444"]),
    ]


def test_counts_add_up_and_have_every_key() -> None:
    result = clean_run(_mixed_run())
    counts = result.counts
    assert set(COUNT_KEYS) <= set(counts)
    assert counts["in"] == 7
    assert counts["out"] == len(result.leads) == 4
    assert counts["in"] == counts["out"] + counts["dropped_mei"] + counts["dropped_invalid_registry_id"] + counts[
        "dropped_duplicate"
    ]
    assert (counts["dropped_mei"], counts["dropped_invalid_registry_id"], counts["dropped_duplicate"]) == (1, 1, 1)
    assert counts["flag_repeated_phone"] == 4  # 5 companies (MEI included) carry 11 3333-4444
    assert counts["flag_accountant_like"] == 3  # 1 (e-mail + phone), 2 and 5 (phone of the accounting firm 6)
    assert counts["phones_invalid"] == 1 and counts["emails_invalid"] == 1
    assert counts["phones_in"] == counts["phones_valid"] + counts["phones_invalid"]


def test_output_is_sorted_and_deterministic_whatever_the_input_order() -> None:
    rows = _mixed_run()
    expected = clean_run(rows)
    assert [lead.lead_key for lead in expected.leads] == sorted(lead.lead_key for lead in expected.leads)
    assert all(lead.trace_id is None for lead in expected.leads)
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        again = clean_run(shuffled)
        assert [lead.model_dump() for lead in again.leads] == [lead.model_dump() for lead in expected.leads]
        assert [d.model_dump() for d in again.dropped] == [d.model_dump() for d in expected.dropped]
        assert again.counts == expected.counts


def test_empty_run() -> None:
    result = clean_run([])
    assert result.leads == [] and result.dropped == [] and result.counts["in"] == 0


def test_a_run_prepared_batch_by_batch_cleans_like_the_whole_run_and_its_prepared_records_stay_as_they_were() -> None:
    rnd = random.Random(4)
    records = [company(n % 40 + 1, phones=[f"11 9{rnd.randint(1000, 9999)}-{n % 7:04d}"],
                       emails=[f"contato@acme{n % 9}.com.br"], legal_name=f"ACME {n % 9} LTDA",
                       head_office=n % 2 == 0) for n in range(90)]
    prepared = [p for start in range(0, len(records), 25) for p in prepare_records(records[start:start + 25])]
    whole = clean_run(records)
    assert whole.counts["dropped_duplicate"] > 40
    assert clean_prepared(prepared) == whole
    assert clean_prepared(prepared) == whole  # merges build new drafts: the prepared ones are not changed
