"""The Mission page's pickers: sources to hunt, states, cities and activity codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.gateway import queries
from services.gateway.catalog import UFS, activities, cities, list_sources
from services.gateway.context import Ctx
from services.gateway.uploads import uploads_dir

router = APIRouter(prefix="/api", tags=["catalog"])


def _sources(ctx: Ctx) -> list[dict[str, Any]]:
    return list_sources(ctx.settings.imports_path, uploads_dir(ctx.settings.data_dir))


@router.get("/sources")
def sources(ctx: Ctx) -> dict[str, Any]:
    """Sources to hunt: CNPJ folders, SIRENE files and CSVs in the imports directory (``HUNTER_IMPORTS_DIR``)
    and the uploads, with their dates and sizes; whether Casa dos Dados has a key (its API shows no balance)."""
    saved = queries.config(ctx.engine).get("casa_dos_dados_api_key")
    return {"imports_dir": str(ctx.settings.imports_path), "items": _sources(ctx),
            "casadosdados": {"key_set": bool(ctx.settings.casa_api_key or (saved and saved.value)),
                             "balance": None}, "ufs": list(UFS)}


@router.get("/catalog/cities")
def city_names(q: Annotated[str, Query(min_length=2, max_length=60)],
                     uf: Annotated[list[str] | None, Query(max_length=27)] = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, str]]:
    """Municipality names for a prefix (accents and case aside), within the states given."""
    return cities(q, uf or [], limit)


@router.get("/catalog/activities")
def activity_codes(ctx: Ctx, q: Annotated[str, Query(max_length=80)] = "",
                         limit: Annotated[int, Query(ge=1, le=200)] = 30) -> list[dict[str, Any]]:
    """CNAE codes by code prefix or by words of their description (from the CNPJ folders' tables and
    the vault's companies), most used first."""
    return activities(ctx.engine, _sources(ctx), q, limit)
