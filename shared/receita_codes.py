"""Receita Federal's code tables, for values that arrive as codes: company size (porte), legal
nature (natureza jurídica) and municipality (Receita's own 4-digit code, the SIAFI/TOM one, not IBGE's).

The tables ship as package data (``shared/receita_tables/``, see its SOURCES.md): public data of
the Brazilian government. A source that brings Receita's own tables (a ``cnpj:`` directory) is
decoded by the extractor from them; these fill in what is left as a code."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

TABLES = Path(__file__).resolve().parent / "receita_tables"

PORTE = {"00": "NAO INFORMADO", "01": "MICRO EMPRESA", "03": "EMPRESA DE PEQUENO PORTE", "05": "DEMAIS"}


def size_name(value: str | None) -> str | None:
    """The words for a porte code (``01`` or ``1`` -> ``MICRO EMPRESA``); None when it is no known code."""
    v = (value or "").strip()
    return PORTE.get(v.zfill(2)) if v.isdigit() and len(v) <= 2 else None


@cache
def _naturezas() -> dict[str, str]:
    with (TABLES / "naturezas.csv").open(encoding="utf-8", newline="") as f:
        return {row["codigo"]: row["natureza_juridica"] for row in csv.DictReader(f)}


def legal_nature_name(code: str | None) -> str | None:
    """The natureza jurídica of a code (``2062`` or ``206-2``); None when unknown."""
    digits = "".join(c for c in code or "" if c.isdigit())
    return _naturezas().get(digits) if len(digits) == 4 else None


@cache
def _municipios() -> dict[str, tuple[str, str, str]]:
    """Receita (TOM) code and IBGE code -> (name as Receita writes it, UF, Receita code)."""
    out: dict[str, tuple[str, str, str]] = {}
    with (TABLES / "municipios.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            found = (row["municipio"], row["uf"], row["codigo_tom"])
            out[row["codigo_tom"]] = out[row["codigo_ibge"]] = found
    return out


def municipality(code: str | None) -> tuple[str, str, str] | None:
    """(name, UF, Receita code) of a Receita municipality code (``7107``) or an IBGE one
    (``3550308``); None for anything else."""
    v = (code or "").strip()
    if not v.isdigit() or len(v) not in (1, 2, 3, 4, 7):
        return None
    return _municipios().get(v.zfill(4) if len(v) <= 4 else v)


@cache
def municipalities() -> list[tuple[str, str]]:
    """Every (name, UF) of the municipality table, sorted by UF then name (for suggestions)."""
    return sorted({(name, uf) for name, uf, _ in _municipios().values()}, key=lambda m: (m[1], m[0]))
