"""docker-compose.yml and deploy/ cannot be started here (no Docker engine): check they are
well-formed and that every command they run exists in this repo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [REPO / "docker-compose.yml", *sorted((REPO / "deploy" / "compose").glob("*.yml"))]


def _commands(doc: dict) -> list[list[str]]:
    return [svc["command"] for name, svc in doc.get("services", {}).items()
            if not name.startswith("nats") and isinstance(svc.get("command"), list)]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_run_modules_that_exist(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["services"], path
    for cmd in _commands(doc):
        assert cmd[:2] == ["python", "-m"], cmd
        assert importlib.util.find_spec(cmd[2]) is not None, f"{path.name}: no module {cmd[2]}"


def test_main_compose_has_nats_with_jetstream_every_service_and_enricher_replicas() -> None:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = doc["services"]
    assert "-js" in services["nats"]["command"]
    for stage in ("extractor", "cleaner", "scorer", "enricher", "exporter", "projector", "gateway"):
        assert services[stage]["command"] == ["python", "-m", f"services.{stage}"]
    assert "replicas" in services["enricher"]["deploy"]


def test_compose_enricher_replicas_know_how_many_share_the_host() -> None:
    from shared.config import Settings

    aliases = {f.alias for f in Settings.model_fields.values()}
    for path in (REPO / "docker-compose.yml", REPO / "deploy" / "compose" / "enrichers.yml"):
        enricher = yaml.safe_load(path.read_text())["services"]["enricher"]
        assert enricher["environment"]["ENRICHER_REPLICAS_PER_HOST"] == enricher["deploy"]["replicas"], path.name
        assert "ENRICHER_REPLICAS_PER_HOST" in aliases


def test_systemd_units_start_service_modules() -> None:
    units = sorted((REPO / "deploy" / "systemd").glob("*.service"))
    assert units
    for unit in units:
        text = unit.read_text()
        assert "ExecStart=" in text and "-m services." in text and "Restart=always" in text


# ---- Kubernetes (deploy/k8s) ---------------------------------------------------------------------

K8S = REPO / "deploy" / "k8s"


def _rendered() -> list[dict]:
    from tests.k8s_manifests import render

    return render(K8S)


def _containers(docs: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for d in docs if d["kind"] == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]}


def test_k8s_manifests_render_and_every_object_is_valid_for_its_kind() -> None:
    from tests.k8s_manifests import validate

    docs = _rendered()
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["ConfigMap", "Deployment", "Namespace", "PersistentVolumeClaim", "ScaledObject", "Secret",
                     "Service"]
    for doc in docs:
        validate(doc)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "hunter", doc["metadata"]["name"]


@pytest.mark.parametrize("break_it", ["unknown container field", "keda trigger without consumer",
                                      "missing listed file"])
def test_k8s_validation_rejects_a_broken_manifest(tmp_path: Path, break_it: str) -> None:
    import shutil

    import jsonschema

    from tests.k8s_manifests import render, validate

    work = tmp_path / "k8s"
    shutil.copytree(K8S, work)
    if break_it == "missing listed file":
        (work / "gateway-service.yaml").unlink()
        with pytest.raises(FileNotFoundError, match="gateway-service.yaml"):
            render(work)
        return
    docs = render(work)
    if break_it == "unknown container field":
        doc = next(d for d in docs if d["kind"] == "Deployment")
        doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    else:
        doc = next(d for d in docs if d["kind"] == "ScaledObject")
        del doc["spec"]["triggers"][0]["metadata"]["consumer"]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_k8s_has_a_deployment_per_compose_service_running_its_module() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    modules = {svc["command"][2] for name, svc in compose.items()
               if svc.get("command", [""])[0] == "python" and not svc.get("profiles")}
    containers = _containers(_rendered())
    assert {" ".join(c["command"][2:]) for c in containers.values()} == modules
    for c in containers.values():
        assert c["command"][:2] == ["python", "-m"] and importlib.util.find_spec(c["command"][2])


def test_k8s_probes_hit_ports_the_container_serves_and_every_container_is_sized() -> None:
    docs = _rendered()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    for name, c in _containers(docs).items():
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert get["path"] in ("/readyz", "/livez") and get["port"] in ports, (name, probe)
        served = 8080 if name == "gateway" else int(config["METRICS_PORT"])  # services serve probes on METRICS_PORT
        assert set(ports.values()) == {served}, name
        assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}, name


def test_k8s_settings_and_secrets_are_ones_hunter_reads() -> None:
    from shared.config import Settings

    read = {f.alias for f in Settings.model_fields.values()} | {"METRICS_PORT", "OTEL_TRACES_EXPORTER"}
    docs = _rendered()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["data"]
    assert set(config) <= read and set(secret) <= read
    assert {"HUNTER_VAULT_URL", "BASIC_AUTH_USER", "BASIC_AUTH_PASS"} <= set(secret)
    assert config["NATS_URL"].count("nats://") == 3 and config["HUNTER_STREAM_REPLICAS"] == "3"
    assert "secrets.env" in (REPO / ".gitignore").read_text()


def test_k8s_enricher_scales_on_its_durable_consumer_of_the_stream() -> None:
    from shared.events import STREAM_NAME

    scaled = next(d for d in _rendered() if d["kind"] == "ScaledObject")
    meta = scaled["spec"]["triggers"][0]["metadata"]
    assert scaled["spec"]["triggers"][0]["type"] == "nats-jetstream"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "enricher"
    assert meta["stream"] == STREAM_NAME
    app = (REPO / "services" / "enricher" / "app.py").read_text()
    assert f'durable="{meta["consumer"]}"' in app


def test_k8s_exports_live_on_the_claim_the_exporter_and_gateway_share() -> None:
    docs = _rendered()
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    claim = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")["metadata"]["name"]
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] in ("exporter", "gateway", "extractor"):
            pod = d["spec"]["template"]["spec"]
            assert pod["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
            mount = pod["containers"][0]["volumeMounts"][0]["mountPath"]
            assert config["HUNTER_EXPORT_DIR"].startswith(mount + "/")


def _chart_keys() -> tuple[set[str], set[str]]:
    lines = (REPO / "tests" / "fixtures" / "nats_chart_2.14.2_keys.txt").read_text().splitlines()
    keys = {k for k in lines if k and not k.startswith("#")}
    return {k for k in keys if not k.endswith(".*")}, {k[:-2] for k in keys if k.endswith(".*")}


def test_nats_chart_values_use_only_the_charts_keys_for_a_three_node_file_cluster() -> None:
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text())
    keys, free_maps = _chart_keys()

    def walk(node: dict, prefix: str) -> None:
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else k
            if path in free_maps:
                continue
            assert path in keys, f"nats-values.yaml: the chart has no {path}"
            if isinstance(v, dict):
                walk(v, path)

    walk(values, "")
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    store = values["config"]["jetstream"]
    assert store["enabled"] and store["fileStore"]["enabled"] and not store["memoryStore"]["enabled"]
    assert values["config"]["monitor"]["enabled"]  # KEDA reads the enricher's lag there


def test_compose_nats_cluster_profiles_run_three_routed_jetstream_nodes() -> None:
    for path, profile in ((REPO / "docker-compose.yml", "nats-cluster"), (REPO / "deploy/compose/nats.yml", "cluster")):
        services = yaml.safe_load(path.read_text())["services"]
        nodes = {n: s for n, s in services.items() if profile in s.get("profiles", [])}
        assert sorted(nodes) == ["nats-1", "nats-2", "nats-3"], path.name
        for name, svc in nodes.items():
            cmd = svc["command"]
            assert "-js" in cmd and cmd[cmd.index("--name") + 1] == name
            routes = cmd[cmd.index("--routes") + 1].split(",")
            route_login = "nats://route:${NATS_PASSWORD}@"  # a node joins only with the route password
            assert sorted(routes) == [f"{route_login}{n}:6222" for n in sorted(nodes)]
            assert cmd[cmd.index("--cluster") + 1].startswith(route_login)


def test_compose_nats_admits_only_hunters_login_and_every_service_has_it() -> None:
    required = "${NATS_PASSWORD:?"  # compose refuses to start without it
    for path in (REPO / "docker-compose.yml", REPO / "deploy/compose/nats.yml"):
        for name, svc in yaml.safe_load(path.read_text())["services"].items():
            if name.startswith("nats"):
                cmd = svc["command"]
                assert cmd[cmd.index("--user") + 1] == "hunter", (path.name, name)
                assert cmd[cmd.index("--pass") + 1].startswith(required), (path.name, name)
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, svc in services.items():
        if not name.startswith("nats"):
            assert svc["environment"]["NATS_USER"] == "hunter", name
            assert svc["environment"]["NATS_PASSWORD"].startswith(required), name
    example = (REPO / "deploy/compose/.env.example").read_text()
    assert "NATS_USER=hunter" in example and "NATS_PASSWORD=" in example


def test_k8s_nats_admits_only_hunters_login_from_a_secret_and_hunter_has_it() -> None:
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text())
    auth = values["config"]["merge"]["authorization"]
    assert auth["user"] == "hunter" and auth["password"] == "<< $HUNTER_NATS_PASSWORD >>"  # the chart's raw value
    ref = values["container"]["env"]["HUNTER_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "nats-auth", "key": "hunter-password"}
    secret = next(d for d in _rendered() if d["kind"] == "Secret")["data"]
    assert {"NATS_USER", "NATS_PASSWORD"} <= set(secret)
    for c in _containers(_rendered()).values():
        assert {"configMapRef": {"name": "hunter-config"}} in c["envFrom"]
        assert {"secretRef": {"name": "hunter-secrets"}} in c["envFrom"], c["name"]
