"""iter_source: scheme dispatch, eager source errors, and the records the fast builders make."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.extractor.sources import SourceError, describe_sources, iter_source
from services.extractor.sources.records import make_address, make_company, make_partner
from shared.events import RunFilters
from shared.schemas import CompanyRecord


@pytest.mark.parametrize("source", ["ftp:/x", "nothing", "csv:", "cnpj", "parquet:/tmp/x.parquet"])
def test_unknown_or_incomplete_sources_raise_source_error(source: str) -> None:
    with pytest.raises(SourceError, match="source"):
        iter_source(source, RunFilters())


def test_a_missing_csv_path_is_reported_before_iteration(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        iter_source(f"csv:{tmp_path / 'missing.csv'}", RunFilters())


def test_unknown_csv_or_casadosdados_options_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("cnpj\n19131243000197\n")
    with pytest.raises(SourceError, match="unknown option 'sep'"):
        iter_source(f"csv:{path}?sep=;", RunFilters())
    with pytest.raises(SourceError, match="unknown option"):
        iter_source("casadosdados?mode=turbo", RunFilters())


def test_source_errors_are_value_errors() -> None:
    assert issubclass(SourceError, ValueError)


def test_every_scheme_is_described() -> None:
    text = "\n".join(describe_sources())
    for scheme in ("csv:PATH", "cnpj:DIR", "sirene:PATH", "casadosdados"):
        assert scheme in text


def test_limit_zero_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("cnpj\n19131243000197\n")
    assert list(iter_source(f"csv:{path}", RunFilters(limit=0, status=[]))) == []


def test_fast_built_records_equal_validated_ones_and_serialise_alike() -> None:
    rec = make_company({
        "lead_key": "BR:19131243000197", "registry_id": "19131243000197", "source": "cnpj", "capital": 0.0,
        "address": make_address(city="SAO PAULO", state="SP"), "partners": [make_partner(name="A", kind="PF")],
        "phones": ["11 23851939"],
    })
    validated = CompanyRecord.model_validate(rec.model_dump())
    assert validated == rec
    assert validated.model_dump_json() == rec.model_dump_json()
    assert rec.emails == [] and rec.extra == {} and rec.address.country == "BR"
    other = make_company({"lead_key": "BR:1", "registry_id": "1", "source": "csv"})
    other.emails.append("x@y.z")
    assert rec.emails == []  # default lists are not shared
