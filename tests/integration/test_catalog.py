"""The Mission page's pickers: the sources found in the imports directory and the uploads (with their
dates), states, city names from Receita's table, and CNAE codes searched by their description."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from hunter.demo_run import DEMO_CSV
from services.gateway.app import create_app
from shared.config import Settings
from shared.vault.access import open_writer


def test_sources_cities_and_activities_are_offered_to_pick(tmp_path: Path, nats_url: str, shared_data: Path) -> None:
    imports = tmp_path / "imports"
    (imports / "receita-2026-10").mkdir(parents=True)
    for f in (shared_data / "cnpj").iterdir():
        shutil.copy(f, imports / "receita-2026-10" / f.name)
    shutil.copy(DEMO_CSV, imports / "prospects.csv")
    (imports / "notes.md").write_text("not a source")
    settings = Settings(HUNTER_DATA_DIR=tmp_path, NATS_URL=nats_url, HUNTER_IMPORTS_DIR=str(imports))
    open_writer(settings.vault_database_url).dispose()  # the vault, as the projector creates it
    with TestClient(create_app(settings)) as client:
        s = client.get("/api/sources").json()
        kinds = {x["name"]: (x["kind"], x["uri"]) for x in s["items"]}
        assert kinds == {"receita-2026-10": ("cnpj", f"cnpj:{imports / 'receita-2026-10'}"),
                         "prospects.csv": ("csv", f"csv:{imports / 'prospects.csv'}")}
        assert all(x["modified"][:2] == "20" and x["bytes"] > 0 for x in s["items"])
        assert s["casadosdados"] == {"key_set": False, "balance": None} and len(s["ufs"]) == 27

        sp = client.get("/api/catalog/cities", params={"q": "são pau"}).json()
        assert {"city": "SAO PAULO", "uf": "SP"} in sp
        only_mg = client.get("/api/catalog/cities", params={"q": "sao", "uf": ["MG"]}).json()
        assert only_mg and {c["uf"] for c in only_mg} == {"MG"}
        assert client.get("/api/catalog/cities", params={"q": "s"}).status_code == 422

        found = client.get("/api/catalog/activities", params={"q": "programas encomenda"}).json()
        assert [a["code"] for a in found] == ["6201501"]
        assert found[0]["description"].startswith("Desenvolvimento de programas")
        folded = client.get("/api/catalog/activities", params={"q": "informacao"}).json()  # "informação"
        assert {a["code"] for a in folded} == {"6204000", "6209100"}
        by_code = client.get("/api/catalog/activities", params={"q": "620"}).json()
        assert {a["code"] for a in by_code} >= {"6201501", "6202300", "6204000"}
