"""Services talk only through NATS subjects: no service imports another, ``shared/`` imports no service,
and the CLI (``hunter/``, the composition root that starts the services) reaches into them only
through the edges listed here. Every import statement counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("services", "shared", "hunter")

# Imports between two services: none. What several stages use lives in ``shared/`` (``shared/wire``,
# ``shared/domain``, ``shared/vault``, ``shared/contracts``). Kept as a set so that a justified edge
# would be listed here, in review, and this test fails when a listed edge no longer exists.
ALLOWED_BETWEEN_SERVICES: set[tuple[str, str]] = set()

# What the CLI uses of the services it starts: the replay and digest of the vault (the projector's),
# run plans, reports and batch summaries (the gateway's queries), ICP profiles, source estimates and
# the fingerprint database it updates.
ALLOWED_FROM_CLI = {
    ("hunter.cli", "services.enricher.fingerprints"),
    ("hunter.cli", "services.extractor.planning"),
    ("hunter.cli", "services.gateway.batches"),
    ("hunter.cli", "services.gateway.queries"),
    ("hunter.cli", "services.gateway.run_plan"),
    ("hunter.cli", "services.gateway.run_report"),
    ("hunter.cli", "services.projector.digest"),
    ("hunter.cli", "services.projector.replay"),
    ("hunter.demo_run", "services.projector.digest"),
}


def _module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool, root: Path) -> set[str]:
    """Every module an import statement names (``from a import b``: ``a.b`` when that is a module or a
    package, else ``a``); relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                where = root.joinpath(*base.split("."), alias.name)
                is_module = base in ROOTS or where.is_dir() or where.with_suffix(".py").is_file()
                found.add(f"{base}.{alias.name}" if is_module else base)
    return found


def cross_imports(root: Path) -> set[tuple[str, str]]:
    """(importing module, imported module) of every import that crosses a boundary under ``root``: a
    ``shared`` or ``hunter`` module importing ``services``, a service importing another service."""
    edges: set[tuple[str, str]] = set()
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            module = _module_of(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name in _imported(tree, module, path.name == "__init__.py", root):
                parts = name.split(".")
                if parts[0] != "services" or len(parts) < 2:
                    continue
                if top != "services" or parts[1] != module.split(".")[1]:
                    edges.add((module, name))
    return edges


def boundary_problems(edges: set[tuple[str, str]], between: set[tuple[str, str]],
                      from_cli: set[tuple[str, str]]) -> list[str]:
    problems = [f"{a} imports {b}: shared/ holds contracts, never a service's code"
                for a, b in sorted(edges) if a.startswith("shared")]
    problems += [f"{a} imports {b}: services talk through NATS subjects (move what both need to shared/)"
                 for a, b in sorted(edges) if a.startswith("services") and (a, b) not in between]
    problems += [f"{a} imports {b}: the CLI reaches into services only through ALLOWED_FROM_CLI"
                 for a, b in sorted(edges) if a.startswith("hunter") and (a, b) not in from_cli]
    problems += [f"{a} -> {b} is allowed but no longer exists: delete it from the allowed list"
                 for a, b in sorted((between | from_cli) - edges)]
    return problems


def test_no_service_imports_another_and_shared_imports_no_service() -> None:
    assert boundary_problems(cross_imports(REPO), ALLOWED_BETWEEN_SERVICES, ALLOWED_FROM_CLI) == []


def test_only_the_projector_imports_the_projector() -> None:
    edges = cross_imports(REPO)
    into_projector = {(a, b) for a, b in edges if b.startswith("services.projector")}
    assert into_projector == {e for e in ALLOWED_FROM_CLI if e[1].startswith("services.projector")}


def test_the_walker_catches_every_kind_of_bad_import(tmp_path: Path) -> None:
    files = {
        "shared/vault/x.py": "from services.projector.rows import upsert\n",
        "services/__init__.py": "",
        "services/gateway/__init__.py": "",
        "services/gateway/queries.py": "",
        "services/cleaner/phones.py": "",
        "services/gateway/a.py": "def late():\n    import services.scorer.icp\n",
        "services/gateway/b.py": "from services import exporter\nfrom services.gateway import c\n",
        "services/gateway/sub/__init__.py": "",
        "services/gateway/sub/d.py": "from ...cleaner import phones\nfrom .. import c\n",
        "services/scorer/e.py": "from services.cleaner.logic import clean_run\n",
        "hunter/cli.py": "from services.projector.replay import replay_vault\nfrom services.gateway import queries\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    edges = cross_imports(tmp_path)
    assert edges == {
        ("shared.vault.x", "services.projector.rows"),
        ("services.gateway.a", "services.scorer.icp"),
        ("services.gateway.b", "services.exporter"),
        ("services.gateway.sub.d", "services.cleaner.phones"),
        ("services.scorer.e", "services.cleaner.logic"),
        ("hunter.cli", "services.projector.replay"),
        ("hunter.cli", "services.gateway.queries"),
    }
    between = {("services.scorer.e", "services.cleaner.logic"), ("services.scorer.e", "services.cleaner.gone")}
    problems = boundary_problems(edges, between, {("hunter.cli", "services.projector.replay")})
    assert problems == [
        "shared.vault.x imports services.projector.rows: shared/ holds contracts, never a service's code",
        "services.gateway.a imports services.scorer.icp: services talk through NATS subjects "
        "(move what both need to shared/)",
        "services.gateway.b imports services.exporter: services talk through NATS subjects "
        "(move what both need to shared/)",
        "services.gateway.sub.d imports services.cleaner.phones: services talk through NATS subjects "
        "(move what both need to shared/)",
        "hunter.cli imports services.gateway.queries: the CLI reaches into services only through ALLOWED_FROM_CLI",
        "services.scorer.e -> services.cleaner.gone is allowed but no longer exists: delete it from the allowed list",
    ]
