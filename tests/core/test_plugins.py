"""Plugins: a real installed package registers a guard and an eval metric by entry points only.

The example package (tests/plugins/llmops_example_plugin) is installed with pip into a temp dir
(offline: no index, no build isolation) and run in a fresh interpreter with that dir on
PYTHONPATH, so discovery happens exactly as it would for a user who pip-installed a plugin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import ConfigError
from llmops.registry import Registry, unknown_name_error

PLUGIN = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    subprocess.run(["cp", "-r", str(PLUGIN / "llmops_example_plugin"), str(build)], check=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
            "--no-build-isolation", "--target", str(site),
            str(build / "llmops_example_plugin"),
        ],
        check=True,
    )  # fmt: skip
    assert list(site.glob("llmops_example_plugin-0.1.0.dist-info/entry_points.txt"))
    return site


@pytest.fixture(scope="module")
def found(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = tmp_path_factory.mktemp("plugin-project")
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    proc = subprocess.run(
        [sys.executable, str(PLUGIN / "check_plugin.py"), str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_plugin_guard_runs_in_a_guard_pipeline(found: dict[str, Any]) -> None:
    guards = found["guards"]
    assert "no_digits" in guards["available"] and "pii" in guards["available"]
    assert guards["verdict"] == {"action": "fix", "text": "call me on ### ####"}


def test_plugin_metric_scores_an_eval(found: dict[str, Any]) -> None:
    assert found["evals"]["scores"] == {"q0": 1.0, "q1": 0.0}


def test_unknown_names_get_a_did_you_mean(found: dict[str, Any]) -> None:
    assert "unknown guard 'no_digit' (did you mean 'no_digits'?)" in found["guards"]["unknown"]
    assert "did you mean 'shouting'?" in found["evals"]["unknown"]


def test_a_broken_plugin_is_named_and_breaks_nothing_else(found: dict[str, Any]) -> None:
    broken = found["guards"]["broken"]
    assert "guard plugin 'broken_guard'" in broken and "llmops-example-plugin" in broken
    assert "ModuleNotFoundError" in broken
    assert found["guards"]["after_broken"] == "pii"


def test_without_the_plugin_its_names_are_unknown() -> None:
    from llmops.guards import available_guards

    assert "no_digits" not in available_guards()


# -- the registry itself, in process --------------------------------------------------------


def test_lazy_builtins_import_on_first_lookup_only() -> None:
    reg: Registry[Any] = Registry(
        "thing", builtins={"dumps": "json:dumps", "gone": "no_such_mod:x"}
    )
    assert reg.names() == ["dumps", "gone"]
    assert reg.get("dumps") is json.dumps
    with pytest.raises(ModuleNotFoundError):
        reg.get("gone")


def test_one_error_format_for_every_registry() -> None:
    reg: Registry[int] = Registry("colour", key="paint.colour")
    reg.register("green", 1)
    reg.register("grey", 2)
    with pytest.raises(ConfigError) as info:
        reg.get("gren")
    assert str(info.value).startswith("unknown colour 'gren' (did you mean 'green'?)")
    assert info.value.key == "paint.colour" and info.value.hint == "known colours: green, grey"
    assert str(unknown_name_error("colour", "zzz", [])).startswith("unknown colour 'zzz'")


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (
            "llmops.providers:create_provider",
            "unknown provider kind 'opena' (did you mean 'openai'?)",
        ),
        ("llmops.rag.retriever:create_reranker", "unknown reranker 'opena'"),
        ("llmops.mlmodels:resolve_estimator", "unknown estimator 'opena'"),
        ("llmops.guards:get_guard_info", "unknown guard 'opena'"),
    ],
)
def test_every_registry_uses_the_same_error(lookup: str, message: str) -> None:
    from llmops.registry import import_target

    with pytest.raises(ConfigError, match=re.escape(message)):
        import_target(lookup)("opena")


def test_ml_metrics_and_eval_metrics_have_one_api_each() -> None:
    from llmops.evals.metrics import register_eval_metric, register_metric
    from llmops.mlmodels import get_metric, register_ml_metric
    from llmops.mlmodels import register_metric as ml_register_metric

    assert register_metric is register_eval_metric
    assert ml_register_metric is register_ml_metric
    with pytest.raises(ConfigError, match=r"unknown classification metric 'acuracy' \(did you"):
        get_metric("acuracy", "classification")
