"""Render deploy/k8s offline and validate what it would apply (no cluster, no kustomize binary).

``render`` does the part of ``kustomize build`` the manifests use: the files under ``resources``,
``namespace``, ``labels`` (metadata only) and a ``secretGenerator`` from env files (with
``disableNameSuffixHash``; an absent env file is read from its ``.example``). ``validate`` checks
Kubernetes kinds against the schemas kubernetes-validate ships and KEDA's ScaledObject against
tests/fixtures/keda_scaledobject.schema.json.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as k8s

KUBERNETES_VERSION = "1.31"
KEDA_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "keda_scaledobject.schema.json"
SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "secretGenerator"}


def _env_pairs(path: Path) -> dict[str, str]:
    if not path.exists():
        path = path.with_name(path.name + ".example")
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise ValueError(f"kustomization.yaml uses {sorted(unsupported)}: teach tests/k8s_manifests.py first")
    docs: list[dict[str, Any]] = []
    for name in kustomization.get("resources", []):
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"kustomization.yaml lists {name}, which does not exist")
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for gen in kustomization.get("secretGenerator", []):
        assert gen.get("options", {}).get("disableNameSuffixHash"), "name suffixes are not rendered here"
        data: dict[str, str] = {}
        for env in gen.get("envs", []):
            data.update(_env_pairs(directory / env))
        for literal in gen.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": gen["name"]}, "type": "Opaque",
                     "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    labels: dict[str, str] = {}
    for entry in kustomization.get("labels", []):
        assert not entry.get("includeSelectors"), "selector labels are not rendered here"
        labels.update(entry.get("pairs", {}))
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if "namespace" in kustomization and doc["kind"] != "Namespace":
            meta["namespace"] = kustomization["namespace"]
        if labels:
            meta["labels"] = {**meta.get("labels", {}), **labels}
    return docs


def validate(doc: dict[str, Any]) -> None:
    """Raise when ``doc`` is not a valid object of its kind."""
    if doc.get("apiVersion", "").startswith("keda.sh/"):
        jsonschema.validate(doc, json.loads(KEDA_SCHEMA.read_text()))
        return
    k8s.validate(doc, KUBERNETES_VERSION, strict=True)
