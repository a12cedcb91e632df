"""SIRENE stock files: the real samples (2019 layout, geo-sirene 2017), Parquet, the legal-unit join."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from services.extractor.sources import SourceError, iter_source
from services.extractor.sources.sirene import iter_sirene
from shared.events import RunFilters
from shared.registry_ids import is_valid_siren, is_valid_siret
from shared.schemas import CompanyRecord, DroppedLead
from tests.shared_data import SHARED_DATA

SIRENE = SHARED_DATA / "sirene"
needs_samples = pytest.mark.skipif(not SIRENE.is_dir(), reason=f"shared sample data not found at {SIRENE}")


def _leads(items: list[CompanyRecord | DroppedLead]) -> list[CompanyRecord]:
    return [i for i in items if isinstance(i, CompanyRecord)]


def _stock_rows(rows: list[dict[str, str]]) -> str:
    """Establishment rows in the sample's own 2019 layout (header taken from the real file)."""
    header = (SIRENE / "sample_etablissements_OK.csv").read_text().splitlines()[0].split(",")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in header})
    return out.getvalue()


def test_luhn_checks_siren_and_siret_with_the_la_poste_exception() -> None:
    assert is_valid_siren("732829320") and is_valid_siren("404833048")
    assert is_valid_siret("73282932000074")
    assert not is_valid_siret("73282932000075") and not is_valid_siren("732829321")
    assert is_valid_siret("35600000000048")  # La Poste head office: plain Luhn
    assert is_valid_siret("35600000012346")  # digit sum 30: La Poste rule, though Luhn fails
    assert not is_valid_siret("35600000012345")


@needs_samples
@pytest.mark.parametrize("name", ["sample_etablissements_OK.csv", "sample_etablissements.csv.gz"])
def test_real_2019_layout_samples_import_and_default_to_active_only(name: str) -> None:
    assert _leads(list(iter_source(f"sirene:{SIRENE / name}", RunFilters()))) == []  # all three are closed
    leads = _leads(list(iter_source(f"sirene:{SIRENE / name}", RunFilters(status=["*"]))))
    assert [r.lead_key for r in leads] == ["FR:00588003400011", "FR:00600356000015", "FR:00600465900014"]
    first = leads[0]
    assert (first.country, first.source, first.status, first.status_date) == ("FR", "sirene", "F", "1984-12-25")
    assert first.activity_main == "57.10" and first.head_office is True
    assert first.extra["nomenclature"] == "NAP" and first.address.country == "FR"


@needs_samples
def test_missing_header_sample_fails_clearly_naming_the_column() -> None:
    with pytest.raises(SourceError, match=r"missing required column\(s\) nic"):
        list(iter_source(f"sirene:{SIRENE / 'sample_etablissements_KO_missing_header.csv'}", RunFilters()))


@needs_samples
@pytest.mark.parametrize("name", ["import_last_monthly_stock_test.csv", "geo-sirene_2017024_E_Q.csv.gz"])
def test_real_geo_sirene_2017_files_import_with_inline_names(name: str) -> None:
    leads = _leads(list(iter_source(f"sirene:{SIRENE / name}", RunFilters())))
    assert leads and all(r.status == "A" and r.registry_id.isdigit() and len(r.registry_id) == 14 for r in leads)
    first = leads[0]
    if name.startswith("import"):
        assert (first.lead_key, first.legal_name) == ("FR:01585094400024", "MOUTON - RIVOM")
        assert first.activity_main == "25.73B"
        assert (first.address.state, first.address.city_code, first.address.postal_code) == ("01", "01376", "01700")
        assert first.legal_nature == "5720" and first.opened_on == "2007-04-01"
    else:
        assert first.legal_name == "A.DAVID" and first.address.city == "CHAURAY"
        assert leads[1].phones == ["0549280210"]


@needs_samples
def test_filters_select_by_naf_department_and_commune() -> None:
    path = SIRENE / "import_last_monthly_stock_test.csv"

    def sirets(**kw: object) -> list[str]:
        return [r.registry_id for r in _leads(list(iter_sirene(str(path), RunFilters(**kw))))]

    everything = sirets()
    assert len(everything) == 4
    assert sirets(naf=["46.73A"]) == ["01585179300479", "01585179300743"]
    assert sirets(naf=["52", "25.73"]) == ["01585094400024", "01625002900697"]
    assert sirets(uf=["01"]) == everything and sirets(uf=["75"]) == []
    assert sirets(city=["Crottet"]) == ["01585179300479"]
    assert sirets(city=["01057"]) == ["01585179300743"]
    assert sirets(limit=1) == everything[:1]
    assert sirets(status=["F"]) == []


@needs_samples
def test_legal_unit_beside_the_establishments_gives_the_legal_name(tmp_path: Path) -> None:
    etab = tmp_path / "StockEtablissement_utf8.csv"
    etab.write_text(_stock_rows([
        {"siren": "732829320", "nic": "00074", "siret": "73282932000074", "etatAdministratifEtablissement": "A",
         "activitePrincipaleEtablissement": "62.02A", "codeCommuneEtablissement": "92050",
         "codePostalEtablissement": "92400", "libelleCommuneEtablissement": "COURBEVOIE",
         "etablissementSiege": "true", "enseigne1Etablissement": "IBM", "dateCreationEtablissement": "1987-01-01"},
        {"siren": "732829320", "nic": "00075", "siret": "73282932000075", "etatAdministratifEtablissement": "A",
         "activitePrincipaleEtablissement": "62.02A", "codeCommuneEtablissement": "92050"},
        {"siren": "404833048", "nic": "00022", "siret": "40483304800022", "etatAdministratifEtablissement": "A",
         "activitePrincipaleEtablissement": "28.30Z", "codeCommuneEtablissement": "97105"},
    ]))
    ul_header = (SIRENE / "sample_unites_legales_OK.csv").read_text().splitlines()[0].split(",")
    ul_rows = [
        {"siren": "732829320", "denominationUniteLegale": "COMPAGNIE IBM FRANCE",
         "categorieJuridiqueUniteLegale": "5599", "categorieEntreprise": "GE", "etatAdministratifUniteLegale": "A"},
        {"siren": "404833048", "nomUniteLegale": "DUPONT", "prenomUsuelUniteLegale": "MARIE",
         "categorieJuridiqueUniteLegale": "1000"},
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ul_header, lineterminator="\n")
    writer.writeheader()
    for row in ul_rows:
        writer.writerow({k: row.get(k, "") for k in ul_header})
    (tmp_path / "StockUniteLegale_utf8.csv").write_text(out.getvalue())

    items = list(iter_source(f"sirene:{etab}", RunFilters()))
    [invalid] = [i for i in items if isinstance(i, DroppedLead)]
    assert invalid.reason.code == "invalid_registry_id" and invalid.lead_key == "FR:73282932000075"
    ibm, dupont = _leads(items)
    assert (ibm.legal_name, ibm.trade_name, ibm.legal_nature) == ("COMPAGNIE IBM FRANCE", "IBM", "5599")
    assert ibm.extra["company_category"] == "GE" and ibm.head_office is True
    assert (ibm.address.state, ibm.address.city, ibm.opened_on) == ("92", "COURBEVOIE", "1987-01-01")
    assert dupont.legal_name == "MARIE DUPONT" and dupont.address.state == "971"

    # the same through the explicit ETAB,UL form, and with a Parquet establishment file
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from pyarrow import csv as pa_csv

    table = pa_csv.read_csv(etab, convert_options=pa_csv.ConvertOptions(column_types={
        name: pa.string() for name in etab.read_text().splitlines()[0].split(",")}))
    parquet_dir = tmp_path / "pq"
    parquet_dir.mkdir()
    pq.write_table(table, parquet_dir / "StockEtablissement.parquet")
    spec = f"sirene:{parquet_dir / 'StockEtablissement.parquet'},{tmp_path / 'StockUniteLegale_utf8.csv'}"
    from_parquet = _leads(list(iter_source(spec, RunFilters())))
    assert [(r.registry_id, r.legal_name) for r in from_parquet] == [
        ("73282932000074", "COMPAGNIE IBM FRANCE"), ("40483304800022", "MARIE DUPONT")]


@needs_samples
def test_zipped_legal_unit_sample_is_found_beside_and_read(tmp_path: Path) -> None:
    shutil.copy(SIRENE / "sample_unites_legales.csv.zip", tmp_path / "StockUniteLegale.csv.zip")
    etab = tmp_path / "StockEtablissement.csv"
    etab.write_text(_stock_rows([
        {"siren": "000325175", "nic": "00065", "siret": "00032517500065", "etatAdministratifEtablissement": "A",
         "activitePrincipaleEtablissement": "32.12Z", "codeCommuneEtablissement": "75056"},
    ]))
    [lead] = _leads(list(iter_sirene(str(etab), RunFilters())))
    assert lead.legal_name == "THIERRY JANOYER" and lead.legal_nature == "1000"


def test_missing_sirene_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        iter_source(f"sirene:{tmp_path / 'StockEtablissement.csv'}", RunFilters())


def _luhn_completed(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if is_valid_siret(prefix + d) or is_valid_siren(prefix + d))


@needs_samples
@pytest.mark.parametrize("units_as", ["csv", "parquet"])
def test_a_hunt_bigger_than_a_chunk_is_joined_on_disk_with_the_same_leads(tmp_path: Path, units_as: str) -> None:
    rows, units = [], []
    for i in range(60):
        siren = _luhn_completed(f"{30_000_000 + i // 2:08d}")  # two establishments per legal unit
        siret = _luhn_completed(f"{siren}{i % 2 + 1:04d}")
        rows.append({"siren": siren, "nic": siret[9:], "siret": siret, "etatAdministratifEtablissement": "A",
                     "activitePrincipaleEtablissement": "62.01Z" if i % 3 else "47.11B",
                     "codeCommuneEtablissement": "75101", "enseigne1Etablissement": f"LOJA {i}"})
        if i % 2 == 0 and i != 10:  # the legal unit of establishments 10 and 11 is missing
            units.append({"siren": siren, "denominationUniteLegale": f"SOCIETE {i}", "categorieEntreprise": "PME",
                          "categorieJuridiqueUniteLegale": "5710"})
    rows.insert(30, {**rows[0], "siret": "12345678901234", "nic": "01234"})  # fails the Luhn check
    etab = tmp_path / "StockEtablissement_utf8.csv"
    etab.write_text(_stock_rows(rows))
    ul_header = (SIRENE / "sample_unites_legales_OK.csv").read_text().splitlines()[0].split(",")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ul_header, lineterminator="\n")
    writer.writeheader()
    for row in reversed(units):
        writer.writerow({k: row.get(k, "") for k in ul_header})
    ul = tmp_path / "StockUniteLegale_utf8.csv"
    ul.write_text(out.getvalue())
    if units_as == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        from pyarrow import csv as pa_csv

        table = pa_csv.read_csv(ul, convert_options=pa_csv.ConvertOptions(column_types={
            name: pa.string() for name in ul_header}))
        ul.unlink()
        ul = tmp_path / "StockUniteLegale.parquet"
        pq.write_table(table, ul)
    spec = f"{etab},{ul}"

    def run(chunk_size: int, filters: RunFilters) -> list[CompanyRecord | DroppedLead]:
        return list(iter_sirene(spec, filters, chunk_size=chunk_size, spill_dir=tmp_path))

    for filters in (RunFilters(), RunFilters(naf=["62.01Z"]), RunFilters(limit=25)):
        in_memory, on_disk = run(1000, filters), run(4, filters)
        assert sorted(r.model_dump_json() for r in _leads(on_disk)) == sorted(
            r.model_dump_json() for r in _leads(in_memory))
        assert [d.lead_key for d in on_disk if isinstance(d, DroppedLead)] == [
            d.lead_key for d in in_memory if isinstance(d, DroppedLead)]
    leads = {r.registry_id: r for r in _leads(run(4, RunFilters()))}
    assert len(leads) == 60
    assert leads[rows[5]["siret"]].legal_name == "SOCIETE 4" and leads[rows[5]["siret"]].legal_nature == "5710"
    assert leads[rows[11]["siret"]].legal_name is None  # no legal unit: the establishment alone
    assert len(_leads(run(4, RunFilters(limit=25)))) == 25
    assert [p for p in tmp_path.iterdir() if p.name.startswith("hunter-sirene-")] == []  # the spill is removed
