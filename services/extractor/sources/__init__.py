"""Extractor sources: registry files and APIs turned into ``CompanyRecord``s. Pure: no NATS.

``iter_source(source, filters)`` dispatches on the scheme of ``source``:

- ``csv:PATH[?map=field=Header,...&delimiter=;&encoding=latin-1&country=BR]`` (``csv_source``)
- ``cnpj:DIR`` — Receita Federal open data zips or plain files (``cnpj_files``)
- ``sirene:PATH`` / ``sirene:ETAB_PATH,UL_PATH`` / ``sirene:DIR`` (``sirene``)
- ``casadosdados[?mode=search|export&page_size=N]`` (``casadosdados``; needs settings)
- ``manual:id=CNPJ|SIREN|SIRET&name=…&website=…`` — one lead added by hand (``manual``)

It yields ``CompanyRecord``s (at most ``filters.limit``) and, for rows it cannot use,
``DroppedLead``s (``stage="extract"``, reason ``malformed_row`` or ``invalid_registry_id``).
A bad source (unknown scheme, missing path, unreadable layout, refused key) raises ``SourceError``.
With ``as_json=True`` a source that has a fast path for it (``cnpj``) yields each lead as the JSON
text of its ``CompanyRecord`` (a ``str``) instead of the model: what the extractor publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from shared.config import Settings
from shared.events import RunFilters, SourceExportUpdated
from shared.schemas import ApiCall, CompanyRecord, DroppedLead

from .errors import SourceError

__all__ = ["SourceError", "describe_sources", "iter_source"]

_DESCRIPTIONS = [
    "csv:PATH — any CSV of companies; columns auto-detected from common headers "
    "(Receita names, Portuguese/English/French); options ?map=field=Header,...&delimiter=;&encoding=latin-1",
    "cnpj:DIR — Receita Federal CNPJ open data (Estabelecimentos/Empresas/Simples/Socios + code tables), "
    "zips as published or plain files",
    "sirene:PATH — INSEE SIRENE StockEtablissement (CSV, .gz, .zip or Parquet), joined with a "
    "StockUniteLegale file beside it, or sirene:ETAB_PATH,UL_PATH",
    "casadosdados — Casa dos Dados API (search up to 1000 leads, export file beyond); "
    "needs CASA_DOS_DADOS_API_KEY; ?mode=search|export&page_size=N",
]


def describe_sources() -> list[str]:
    """One line per supported source scheme, for help texts and the gateway."""
    return list(_DESCRIPTIONS)


def iter_source(
    source: str,
    filters: RunFilters,
    *,
    settings: Settings | None = None,
    on_api_call: Callable[[ApiCall], None] | None = None,
    as_json: bool = False,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
    on_export: Callable[[SourceExportUpdated], None] | None = None,
) -> Iterator[CompanyRecord | str | DroppedLead]:
    """Leads of ``source`` matching ``filters``. Checks the source eagerly, then streams. ``workers``:
    processes for a ``cnpj`` join on disk (a national import); ``on_progress``: hears the rows read
    so far, for a ``cnpj`` source (its scan comes before its first lead); ``on_export``: the status
    changes of an export a provider is asked for (Casa dos Dados)."""
    scheme, sep, rest = source.partition(":")
    scheme = scheme.strip().lower()
    if scheme.startswith("casadosdados"):
        from .casadosdados import iter_casadosdados, parse_spec

        parse_spec(source)  # option errors now, not at the first next()
        return iter_casadosdados(source, filters, settings=settings or Settings(), on_api_call=on_api_call,
                                 on_export=on_export)
    if scheme == "manual":
        from .manual import iter_manual, parse_manual

        parse_manual(source)  # a bad id is refused now, not at the first next()
        return iter_manual(source, settings or Settings())
    if not sep or not rest.strip():
        raise SourceError(
            f"unknown or incomplete source {source!r}; expected csv:PATH, cnpj:DIR, sirene:PATH or casadosdados"
        )
    if scheme == "csv":
        from .csv_source import iter_csv, parse_csv_spec

        path, options = parse_csv_spec(rest)
        if not path.is_file():
            raise SourceError(f"csv: file not found: {path}")
        return iter_csv(path, filters, options=options)
    if scheme == "cnpj":
        from .cnpj_files import check_layout, find_receita_files, iter_cnpj

        directory = Path(rest)
        check_layout(find_receita_files(directory))  # SourceError: a missing/empty directory, unreadable files
        return iter_cnpj(directory, filters, as_json=as_json, workers=workers, on_progress=on_progress)
    if scheme == "sirene":
        from .sirene import iter_sirene, resolve_paths

        resolve_paths(rest)
        return iter_sirene(rest, filters)
    raise SourceError(f"unknown source scheme {scheme!r} in {source!r}; expected csv, cnpj, sirene or casadosdados")
