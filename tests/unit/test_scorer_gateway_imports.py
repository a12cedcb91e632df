"""The scorer and the gateway import no other service: what they share with the other stages lives in
``shared/`` (wire codec, domain rules, vocabulary). The gateway still reads the vault's models from
``services.projector`` until the read model moves to ``shared/`` (issue #16)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
ALLOWED = {"scorer": set(), "gateway": {"projector"}}


def imported_services(stage: str, services: Path = SERVICES) -> dict[str, set[str]]:
    """Other services each module of ``stage`` imports: {module path: {service, ...}}."""
    out: dict[str, set[str]] = {}
    for path in sorted((services / stage).rglob("*.py")):
        names: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.append(node.module)
                if node.module == "services":
                    names += [f"services.{alias.name}" for alias in node.names]
        others = {n.split(".")[1] for n in names if n.startswith("services.") and n.split(".")[1] != stage}
        if others:
            out[str(path.relative_to(services.parent))] = others
    return out


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_a_stage_imports_no_other_service(stage: str) -> None:
    assert (SERVICES / stage / "app.py").is_file()
    found = imported_services(stage)
    assert {m: s - ALLOWED[stage] for m, s in found.items() if s - ALLOWED[stage]} == {}


def test_the_check_sees_every_form_of_import_of_another_service(tmp_path: Path) -> None:
    stage = tmp_path / "services" / "stage"
    (stage / "inner").mkdir(parents=True)
    (stage / "app.py").write_text("import services.a.x\nfrom services.stage import y\nfrom . import z\n")
    (stage / "inner" / "deep.py").write_text("def f():\n    from services.b.x import w\n    from services import c\n")
    assert imported_services("stage", tmp_path / "services") == {
        "services/stage/app.py": {"a"}, "services/stage/inner/deep.py": {"b", "c"}}
