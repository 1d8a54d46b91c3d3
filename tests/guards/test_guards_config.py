"""The ``guards:`` config: names, policies, stages and options are validated with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import ConfigError
from llmops.guards import GuardsConfig, available_guards, default_guards
from llmops.guards.config import GuardSpec
from llmops.validation import load_yaml_model


def test_default_set_is_valid_and_stable() -> None:
    cfg = default_guards()
    assert [s.name for s in cfg.input] == ["prompt_injection", "pii", "limits"]
    assert [s.name for s in cfg.output] == ["pii", "system_prompt_leak"]
    assert set(available_guards()) >= {
        "prompt_injection", "pii", "limits", "topic", "system_prompt_leak", "groundedness",
        "json_schema",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("yaml_text", "line", "needle"),
    [
        ("input:\n  - name: prompt_injecton\n", 2, "did you mean 'prompt_injection'"),
        ("input:\n  - name: pii\n    on_fail: redact\n", 3, "on_fail"),
        ("output:\n  - name: pii\n  - name: limits\n", None, "cannot run on output"),
        ("input:\n  - name: prompt_injection\n    on_fail: fix\n", None, "cannot fix"),
        ("input:\n  - name: pii\n    options: {typos: [email]}\n", 3, "allowed options"),
        ("input:\n  - name: pii\n    threshold: 2\n", 3, "threshold"),
        ("inputs: []\n", 1, "did you mean 'input'"),
        ("output:\n  - name: json_schema\n", 2, "exactly one of 'schema' or 'schema_file'"),
    ],
)
def test_bad_config_names_file_and_line(
    tmp_path: Path, yaml_text: str, line: int | None, needle: str
) -> None:
    path = tmp_path / "guards.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, GuardsConfig)
    err = info.value
    assert needle in str(err)
    assert str(err.file) == str(path)
    if line is not None:
        assert err.line == line


def test_spec_parses_options_into_the_guard_model() -> None:
    spec = GuardSpec(name="system_prompt_leak", on_fail="fix", options={"min_words": 5})
    assert spec.parsed_options().min_words == 5  # type: ignore[attr-defined]


def test_gateway_refuses_unknown_guard_with_file_and_line(tmp_path: Path) -> None:
    from llmops.gateway.config import load_gateway_config

    path = tmp_path / "gateway.yaml"
    path.write_text(
        "upstreams:\n  offline:\n    kind: extractive\nroutes:\n  chat:\n    upstream: offline\n"
        "    guards:\n      input:\n        - name: pii\n        - name: prompt_injektion\n"
    )
    with pytest.raises(ConfigError) as info:
        load_gateway_config(path)
    assert info.value.line == 10
    assert "prompt_injection" in str(info.value)


def test_scaffold_guards_example_validates(tmp_path: Path) -> None:
    from importlib import resources

    from llmops.gateway.config import load_gateway_config

    text = (resources.files("llmops") / "_data/scaffold/serving/gateway.yaml").read_text()
    assert "    # guards:" in text
    lines = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("    # guards:"):
            in_block = True
        if in_block and line.startswith("    #"):
            line = "    " + line[len("    # ") :]
        lines.append(line)
    path = tmp_path / "gateway.yaml"
    path.write_text("\n".join(lines) + "\n")
    guards = load_gateway_config(path).routes["echo"].guards
    assert [s.name for s in guards.input] == ["prompt_injection", "pii", "limits"]
    assert [s.name for s in guards.output] == ["pii", "system_prompt_leak"]
