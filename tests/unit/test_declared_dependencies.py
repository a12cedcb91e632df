"""Every third-party module the code, tests and benchmarks import comes from a dependency that
pyproject.toml declares by name: one that only arrives as another package's dependency (or is
installed on the machine by chance) breaks a fresh ``pip install -e '.[dev]'`` the day it moves."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("shared", "services", "hunter", "tests", "bench")


def _local_modules() -> set[str]:
    """Top-level names that are ours: the scanned packages and the modules beside them (bench scripts
    import each other by file name, tests import them the same way)."""
    names = set(SCANNED)
    for folder in SCANNED:
        names.update(p.stem for p in (ROOT / folder).rglob("*.py"))
    return names


def imported_modules() -> dict[str, set[str]]:
    """Top-level module name -> the files importing it, for every absolute import outside the standard library."""
    local = _local_modules()
    found: dict[str, set[str]] = {}
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """The distributions pyproject.toml names: dependencies and every optional group."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements += group
    return {_normalized(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements}


def test_the_import_scan_sees_third_party_imports_and_skips_our_own_and_the_standard_library() -> None:
    found = imported_modules()
    assert {"faststream", "pydantic", "pytest"} <= found.keys()
    assert not {"shared", "services", "hunter", "tests", "asyncio", "enrich_detect"} & found.keys()


def test_every_imported_third_party_module_comes_from_a_declared_dependency() -> None:
    providers = importlib.metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, files in sorted(imported_modules().items()):
        dists = {_normalized(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared[module] = (sorted(dists) or ["not installed"], sorted(files)[:3])
    assert not undeclared, f"imported but not declared in pyproject.toml (module: providers, files): {undeclared}"
