"""What a person picks from when starting a hunt, instead of typing URIs and codes from memory: the
sources found in the imports directory (CNPJ folders, SIRENE files, CSVs, with their dates) and the
uploads, whether Casa dos Dados has a key, the states, city names (Receita's municipality table) and
activity codes searched by description (the CNAE tables of the CNPJ folders, and the codes of the
companies already in the vault)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from shared.receita_codes import municipalities
from shared.vault.schema import Company
from shared.vault.search_text import fold

UFS = ("AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE", "PI", "PR",
       "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO")
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
SIRENE_PREFIXES = ("stocketablissement", "etablissement")
MAX_LISTED = 500


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file()) if path.is_dir() else path.stat().st_size


def list_sources(imports_dir: Path, uploads_dir: Path) -> list[dict[str, Any]]:
    """Sources under the imports directory (one level of folders) and the uploaded CSVs, newest first."""
    found: list[dict[str, Any]] = []

    def add(kind: str, path: Path, where: str) -> None:
        found.append({"kind": kind, "uri": f"{kind}:{path}", "name": path.name, "where": where,
                      "modified": _stamp(path), "bytes": _size(path)})

    for root, where in ((imports_dir, "imports"), (uploads_dir, "uploads")):
        if not root.is_dir():
            continue
        for path in sorted(root.iterdir()):
            name = path.name.lower()
            if path.is_dir() and any(p.name.lower().startswith("estabelecimentos") for p in path.iterdir()):
                add("cnpj", path, where)
            elif path.is_file() and name.startswith(SIRENE_PREFIXES):
                add("sirene", path, where)
            elif path.is_file() and name.endswith(CSV_SUFFIXES):
                add("csv", path, where)
            if len(found) >= MAX_LISTED:
                break
    return sorted(found, key=lambda s: s["modified"], reverse=True)


def cities(q: str, uf: list[str], limit: int = 20) -> list[dict[str, str]]:
    """Municipality names starting with (then containing) the folded query, within the states given."""
    needle = fold(q)
    if not needle:
        return []
    states = {u.upper() for u in uf}
    pool = [(name, state) for name, state in municipalities() if not states or state in states]
    starts = [m for m in pool if fold(m[0]).startswith(needle)]
    within = [m for m in pool if needle in fold(m[0]) and m not in starts]
    return [{"city": name, "uf": state} for name, state in (starts + within)[:limit]]


def _read_cnae_files(files: list[Path]) -> dict[str, str]:
    """CNAE ``Cnaes`` tables (zipped or plain, Latin-1 ``"code";"description"`` lines)."""
    out: dict[str, str] = {}
    for path in files:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as z:
                raw = b"".join(z.read(n) for n in z.namelist())
        else:
            raw = path.read_bytes()
        for row in csv.reader(io.StringIO(raw.decode("latin-1")), delimiter=";"):
            if len(row) >= 2 and row[0].strip().isdigit():
                out[row[0].strip()] = row[1].strip()
    return out


_CNAE_TABLES: dict[Path, tuple[tuple[tuple[str, int, int], ...], dict[str, str]]] = {}
CNAE_TABLES_KEPT = 16


def cnae_table(directory: Path) -> dict[str, str]:
    """A CNPJ folder's CNAE table, read again only when its files change (name, mtime, size): an
    activity search asks for it on every keystroke. Do not change the dict returned."""
    files = sorted(p for p in directory.iterdir() if p.name.lower().startswith("cnaes"))
    stamp = tuple((p.name, (st := p.stat()).st_mtime_ns, st.st_size) for p in files)
    cached = _CNAE_TABLES.get(directory)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    table = _read_cnae_files(files)
    if directory not in _CNAE_TABLES and len(_CNAE_TABLES) >= CNAE_TABLES_KEPT:
        _CNAE_TABLES.pop(next(iter(_CNAE_TABLES)))
    _CNAE_TABLES[directory] = (stamp, table)
    return table


def activities(engine: Engine, sources: list[dict[str, Any]], q: str, limit: int = 30) -> list[dict[str, Any]]:
    """CNAE codes whose code starts with, or whose description has every word of, ``q``: from the CNAE
    tables of the listed CNPJ folders and the codes of the companies in the vault (with how many)."""
    names: dict[str, str] = {}
    for s in sources:
        if s["kind"] == "cnpj":
            try:
                names.update(cnae_table(Path(s["uri"].split(":", 1)[1])))
            except (OSError, zipfile.BadZipFile):
                continue
    with Session(engine) as session:
        in_vault = dict(session.exec(select(Company.activity_main, func.count())  # type: ignore[call-overload]
                                     .where(Company.activity_main.is_not(None))  # type: ignore[union-attr]
                                     .group_by(Company.activity_main)).all())
    codes = sorted(set(names) | set(in_vault))
    digits = "".join(c for c in q if c.isdigit())
    words = fold(q).split() if not digits else []
    picked = []
    for code in codes:
        text = fold(names.get(code, ""))
        if (digits and code.startswith(digits)) or (words and all(w in text for w in words)) or not (digits or words):
            picked.append({"code": code, "description": names.get(code), "companies": int(in_vault.get(code, 0))})
    picked.sort(key=lambda a: (-a["companies"], a["code"]))
    return picked[:limit]
