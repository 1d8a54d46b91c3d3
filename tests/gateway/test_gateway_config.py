"""gateway.yaml: the shipped and scaffolded files validate, bad files name file:line, the JSON
Schema is up to date, ``llmops serve`` checks and hashes keys, reload keeps bad files out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from gateway_helpers import http_pool, running_gateway

from llmops.errors import ConfigError
from llmops.gateway.auth import hash_key
from llmops.gateway.config import load_gateway_config
from llmops.gateway.schema import SCHEMA_PATH, gateway_schema, schema_text
from llmops.testing import ScriptedLLMServer


def test_shipped_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -m llmops.gateway.schema"
    )


def test_repo_gateway_yaml_validates(repo_root: Path) -> None:
    path = repo_root / "serving" / "gateway.yaml"
    config = load_gateway_config(path)
    assert config.routes["rag-answer"].pipeline == "python-docs"
    jsonschema.validate(yaml.safe_load(path.read_text()), gateway_schema())


def test_scaffolded_project_validates(cli: Any, tmp_path: Path) -> None:
    assert cli("init", str(tmp_path / "app")).exit_code == 0
    path = tmp_path / "app" / "serving" / "gateway.yaml"
    load_gateway_config(path)
    result = cli("serve", "--check", cwd=tmp_path / "app")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["upstreams"] == {"offline": "extractive"}


BAD: list[tuple[str, str, str, int]] = [
    ("unknown top-level key", "rout: {}\n", "unknown key 'rout'", 1),
    (
        "unknown pool kind value type",
        "upstreams:\n  up:\n    kind: openai\n    replicas: 3\n",
        "upstreams.up.replicas",
        4,
    ),
    (
        "openai pool without replicas",
        "upstreams:\n  up:\n    kind: openai\n",
        "needs at least one replica",
        2,
    ),
    (
        "route to an unknown pool",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: b\n",
        "unknown upstream 'b'",
        5,
    ),
    (
        "release arm to an unknown pool",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: a\n    release:\n"
        "      strategy: canary\n      arms:\n        - {name: x}\n        - {name: y, upstream: b}\n",
        "unknown upstream 'b'",
        10,
    ),
    (
        "shadow to an unknown pool",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: a\n    release:\n"
        "      strategy: shadow\n      shadow:\n        upstream: b\n",
        "unknown upstream 'b'",
        9,
    ),
    (
        "canary with one arm",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: a\n    release:\n"
        "      strategy: canary\n      arms: [{name: x}]\n",
        "at least two arms",
        6,
    ),
    (
        "bad strategy",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: a\n"
        "    release: {strategy: blue-green}\n",
        "routes.r.release.strategy",
        6,
    ),
    (
        "negative timeout",
        "upstreams:\n  a:\n    kind: openai\n    replicas: [{base_url: 'http://x/v1'}]\n"
        "    timeouts: {read: -1}\n",
        "upstreams.a.timeouts.read",
        5,
    ),
    (
        "unknown guard",
        "upstreams:\n  a: {kind: extractive}\nroutes:\n  r:\n    upstream: a\n"
        "    guards:\n      input: [{name: no_such_guard}]\n",
        "no_such_guard",
        7,
    ),
]


@pytest.mark.parametrize(("case", "text", "message", "line"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_and_line(
    tmp_path: Path, case: str, text: str, message: str, line: int
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path)
    assert message in str(info.value) + (info.value.hint or "")
    assert info.value.file == str(path)
    assert info.value.line == line


def test_missing_config_says_how_to_create_it(cli: Any, tmp_path: Path) -> None:
    result = cli("serve", "--check", cwd=tmp_path)
    assert result.exit_code == 2
    assert "gateway config not found" in result.stderr and "llmops init" in result.stderr


def test_hash_key_command(cli: Any) -> None:
    result = cli("serve", "--hash-key", "sk-secret")
    assert result.exit_code == 0 and result.stdout.strip() == hash_key("sk-secret")


def test_reload_applies_a_good_file_and_refuses_a_bad_one(
    tmp_path: Path, upstream: ScriptedLLMServer
) -> None:
    path = tmp_path / "gateway.yaml"
    keys = [{"id": "ops", "sha256": hash_key("sk-ops"), "scopes": ["*", "admin"]}]

    def write(routes: dict[str, Any], extra: str = "") -> None:
        config = {
            "auth": {"enabled": True, "keys_env": "GW_RELOAD_KEYS"},
            "upstreams": {"up": http_pool(upstream.base_url)},
            "routes": routes,
        }
        path.write_text(yaml.safe_dump(config) + extra)

    write({"one": {"upstream": "up"}})
    ops = {"authorization": "Bearer sk-ops"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GW_RELOAD_KEYS", json.dumps(keys))
        with running_gateway(yaml.safe_load(path.read_text()), config_path=path) as gw:
            write({"one": {"upstream": "up"}, "two": {"upstream": "up"}})
            r = httpx.post(gw.url + "/admin/reload", headers=ops)
            assert r.status_code == 200 and r.json()["routes"] == ["one", "two"]
            models = httpx.get(gw.base_url + "/models", headers=ops).json()
            assert {"one", "two"} <= {m["id"] for m in models["data"]}
            write({"one": {"upstream": "up"}}, extra="bogus_key: 1\n")
            bad = httpx.post(gw.url + "/admin/reload", headers=ops)
            assert bad.status_code == 400 and "bogus_key" in bad.json()["error"]["message"]
            ok = httpx.post(
                gw.base_url + "/chat/completions",
                headers=ops,
                json={"model": "two", "messages": [{"role": "user", "content": "still"}]},
            )
            assert ok.status_code == 200  # the old config keeps serving


CHECKED = """\
upstreams:
  up: {kind: extractive}
routes:
  ok: {upstream: up}
  answer:
    upstream: up
    prompt: {prompt}
    pipeline: {pipeline}
"""


@pytest.mark.parametrize(
    ("prompt", "pipeline", "key", "message"),
    [
        ("rag-answer@no-such-label", "python-docs", "routes.answer.prompt", "no-such-label"),
        ("no-such-prompt@production", "python-docs", "routes.answer.prompt", "no-such-prompt"),
        ("rag-answer@production", "no-such-pipeline", "routes.answer.pipeline", "no-such-pipeline"),
    ],
)
def test_serve_check_refuses_what_serve_refuses(
    cli: Any, tmp_path: Path, repo_root: Path, prompt: str, pipeline: str, key: str, message: str
) -> None:
    """One validation path: a prompt label or pipeline the project lacks fails --check too."""
    import shutil

    from llmops.config import load_settings
    from llmops.gateway import GatewayRuntime

    (tmp_path / "llmops.yaml").write_text("project: checked\n")
    shutil.copytree(repo_root / "prompts", tmp_path / "prompts")
    shutil.copytree(repo_root / "rag_pipelines", tmp_path / "rag_pipelines")
    path = tmp_path / "serving" / "gateway.yaml"
    path.parent.mkdir()
    path.write_text(CHECKED.replace("{prompt}", prompt).replace("{pipeline}", pipeline))
    checked = cli("serve", "--check", cwd=tmp_path)
    assert checked.exit_code == 2, checked.stdout
    assert message in checked.stderr and f"{path}:" in checked.stderr, checked.stderr
    with pytest.raises(ConfigError) as served:
        GatewayRuntime.from_file(path, load_settings(tmp_path))
    assert served.value.key == key and served.value.line is not None
    assert message in served.value.message
    good = CHECKED.replace("{prompt}", "rag-answer@production").replace("{pipeline}", "python-docs")
    path.write_text(good)
    assert cli("serve", "--check", cwd=tmp_path).exit_code == 0
