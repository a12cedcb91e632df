"""The demo world's company table and site specs carry the planted mixes, and regenerate byte for byte."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from hunter.demo.sample_data import (
    COLUMNS,
    DATA_DIR,
    FREE_MAIL,
    SOFTWARE_CNAES,
    cnpj_check_digits,
    generate_bench_sites,
    generate_world,
    main,
    slugify,
)
from hunter.demo.site_pages import render_site_response
from shared.registry_ids import is_valid_cnpj

HEADER = (
    "cnpj,razao_social,nome_fantasia,situacao_cadastral,data_inicio_atividade,cnae_fiscal_principal,"
    "cnae_fiscal_secundaria,natureza_juridica,porte_empresa,capital_social,opcao_simples,opcao_mei,logradouro,"
    "numero,complemento,bairro,cep,uf,municipio,ddd_1,telefone_1,ddd_2,telefone_2,correio_eletronico,site"
)
ACCOUNTING_MAIL = re.compile(r"contab|contar|escritorio", re.I)


@pytest.fixture(scope="module")
def lines() -> list[list[str]]:
    with (DATA_DIR / "companies.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def rows(lines: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(COLUMNS, r, strict=True)) for r in lines[1:] if len(r) == len(COLUMNS)]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DATA_DIR / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sites() -> list[dict]:
    return json.loads((DATA_DIR / "sites.json").read_text(encoding="utf-8"))


def test_check_digits_match_known_real_cnpjs() -> None:
    for cnpj in ("33000167000101", "00000000000191", "00360305000104", "19131243000197", "33683111000280"):
        assert cnpj_check_digits(cnpj[:12]) == cnpj[12:]
        assert is_valid_cnpj(cnpj)
    assert not is_valid_cnpj("19131243000198")
    assert not is_valid_cnpj("11111111111111")


def test_header_is_exact() -> None:
    first = (DATA_DIR / "companies.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == HEADER


def test_malformed_rows_sit_at_the_manifest_lines(lines: list[list[str]], manifest: dict) -> None:
    bad = [i + 1 for i, r in enumerate(lines) if len(r) != len(COLUMNS)]
    assert bad == manifest["malformed_lines"] == [101, 201]
    assert len(lines) - 1 == manifest["data_rows"]


def test_all_cnpjs_are_valid_except_the_two_planted(rows: list[dict[str, str]], manifest: dict) -> None:
    invalid = sorted({r["cnpj"] for r in rows if not is_valid_cnpj(r["cnpj"])})
    assert invalid == sorted(manifest["invalid_cnpjs"])
    assert len(invalid) == 2
    assert all(re.fullmatch(r"\d{14}", r["cnpj"]) for r in rows)


def test_three_exact_duplicate_rows(rows: list[dict[str, str]], manifest: dict) -> None:
    counts = Counter(r["cnpj"] for r in rows)
    dups = sorted(c for c, n in counts.items() if n > 1)
    assert dups == sorted(manifest["duplicate_cnpjs"])
    assert len(dups) == 3 and all(counts[c] == 2 for c in dups)
    for c in dups:
        a, b = [r for r in rows if r["cnpj"] == c]
        assert a == b


def test_mei_rows_are_individual_entrepreneurs_named_with_a_cpf(rows: list[dict[str, str]], manifest: dict) -> None:
    mei = [r for r in rows if r["opcao_mei"] == "S" or r["natureza_juridica"] == "2135"]
    assert 18 <= len({r["cnpj"] for r in mei}) <= 22
    assert {r["cnpj"] for r in mei} == set(manifest["mei_cnpjs"])
    for r in mei:
        assert r["natureza_juridica"] == "2135"
        assert re.search(r"\s\d{11}$", r["razao_social"]), r["razao_social"]


def test_accountant_contacts_appear_on_other_companies(rows: list[dict[str, str]], manifest: dict) -> None:
    like = {
        r["cnpj"]
        for r in rows
        if r["cnae_fiscal_principal"] != "6920601" and ACCOUNTING_MAIL.search(r["correio_eletronico"])
    }
    assert like == set(manifest["accountant_like_cnpjs"])
    assert len(like) >= 15


def test_a_few_phones_are_shared_by_four_to_six_companies(rows: list[dict[str, str]], manifest: dict) -> None:
    by_phone = Counter()
    for _cnpj, ddd, tel in {(r["cnpj"], r["ddd_1"], r["telefone_1"]) for r in rows}:
        by_phone[re.sub(r"\D", "", ddd + tel)[-10:]] += 1
    shared = {p: n for p, n in by_phone.items() if n >= 4}
    assert len(shared) == 3
    assert all(4 <= n <= 6 for n in shared.values())
    assert len(manifest["shared_phones"]) == 3


def test_activity_mix_and_contact_formats(rows: list[dict[str, str]]) -> None:
    unique = list({r["cnpj"]: r for r in rows}.values())
    cnaes = Counter(r["cnae_fiscal_principal"] for r in unique)
    software = sum(n for c, n in cnaes.items() if c in SOFTWARE_CNAES)
    assert 0.35 <= software / len(unique) <= 0.45
    assert cnaes["6920601"] >= 10
    assert Counter(r["situacao_cadastral"] for r in unique).most_common(1)[0][0] == "ATIVA"
    assert {r["uf"] for r in unique} >= {"SP", "RJ", "MG", "PR", "SC", "RS"}
    assert any(r["complemento"] and "," in r["complemento"] for r in unique)
    assert any("," in r["cnae_fiscal_secundaria"] for r in unique)
    emails = [r["correio_eletronico"] for r in unique if r["correio_eletronico"]]
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert any("(" in r["telefone_1"] or "-" in r["telefone_1"] for r in unique)
    assert any(r["ddd_1"].startswith("0") for r in unique)
    assert all(re.fullmatch(r"\d+,\d\d", r["capital_social"]) for r in unique)
    assert sum(1 for r in unique if r["site"]) < len(unique) // 10


def test_site_discovery_kinds_are_consistent(rows: list[dict[str, str]], sites: list[dict]) -> None:
    by_cnpj = {r["cnpj"]: r for r in rows}
    index = json.loads((DATA_DIR / "search_index.json").read_text(encoding="utf-8"))
    indexed_links = {res["link"] for e in index.values() for res in e["results"]}
    company_sites = [s for s in sites if s["role"] == "company"]
    assert 110 <= len(company_sites) <= 130
    kinds = Counter(s["discovery"] for s in company_sites)
    assert kinds["email_domain"] >= 40 and kinds["search"] >= 25 and kinds["guess"] >= 15
    for s in company_sites:
        row = by_cnpj[s["cnpj"]]
        email = row["correio_eletronico"].strip().lower()
        if s["discovery"] == "email_domain":
            assert email.endswith("@" + s["domain"]), (s["domain"], email)
        else:
            assert email.split("@")[-1] in FREE_MAIL or ACCOUNTING_MAIL.search(email), (s["domain"], email)
        if s["discovery"] == "guess":
            assert s["domain"] == slugify(row["nome_fantasia"] or row["razao_social"]) + ".com.br"
            assert f"http://{s['domain']}/" not in indexed_links
        if s["discovery"] == "search":
            assert f"http://{s['domain']}/" in indexed_links


def test_special_behaviours_are_each_present(sites: list[dict]) -> None:
    behaviours = Counter(s["behaviour"] for s in sites)
    for b in ("slow", "error500", "js_shell", "robots_disallow_all", "not_found"):
        assert behaviours[b] == 1, b
    assert behaviours["redirect"] == 2
    assert sum(1 for s in sites if s["role"] == "directory") == 2


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    for name in ("companies.csv", "sites.json", "search_index.json", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name


def test_generation_is_deterministic_per_seed() -> None:
    a, b, c = generate_world(60, seed=3), generate_world(60, seed=3), generate_world(60, seed=4)
    assert a.csv_text == b.csv_text and a.sites == b.sites
    assert a.csv_text != c.csv_text


def test_bench_sites_have_pages_of_the_requested_size() -> None:
    specs = generate_bench_sites(3, seed=1, page_kb=20)
    assert [s["domain"] for s in specs] == ["site00001.bench.test", "site00002.bench.test", "site00003.bench.test"]
    assert all(is_valid_cnpj(s["cnpj"]) for s in specs)
    for s in specs:
        size = len(render_site_response(s, "/").body)
        assert 16_000 <= size <= 26_000, size
    assert generate_bench_sites(3, seed=1, page_kb=20) == specs
