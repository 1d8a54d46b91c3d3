"""Importing llmops.guards loads no heavy library (its __all__ is pinned in tests/core)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llmops.guards


def test_import_is_light() -> None:
    code = (
        "import sys, llmops.guards, llmops.guards.config; "
        "heavy = [m for m in ('guardrails', 'torch', 'numpy', 'sentence_transformers') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_third_party_guard_registers_like_a_builtin() -> None:
    import time

    from pydantic import BaseModel, ConfigDict

    from llmops.guards import CheckContext, GuardInfo, GuardResult, GuardsConfig, register_guard

    class NoShouting(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class ShoutGuard:
        name = "no_shouting"

        def check(self, text: str, ctx: CheckContext) -> GuardResult:
            start = time.perf_counter()
            loud = text.isupper()
            return GuardResult(
                name=self.name,
                passed=not loud,
                score=float(loud),
                latency_ms=(time.perf_counter() - start) * 1000,
                fixed=text.lower() if loud else None,
            )

    register_guard(
        GuardInfo(
            name="no_shouting",
            stages=("input",),
            options_model=NoShouting,
            factory=lambda name, threshold, options, **_: ShoutGuard(),
        )
    )
    cfg = GuardsConfig.model_validate({"input": [{"name": "no_shouting", "on_fail": "fix"}]})
    verdict = llmops.guards.GuardPipeline.from_config(cfg).check_input(
        [{"role": "user", "content": "HELLO THERE"}]
    )
    assert verdict.action == "fix" and verdict.text == "hello there"


#: Every built-in's registry entry, as the guard classes declare it (GuardBase.info).
BUILTIN_INFO = {
    "prompt_injection": ("InjectionOptions", ("input", "contexts"), False, False, "window"),
    "pii": ("PiiOptions", ("input", "contexts", "output"), True, False, "window"),
    "limits": ("LimitsOptions", ("input",), True, True, "window"),
    "topic": ("TopicOptions", ("input", "output"), False, False, "window"),
    "system_prompt_leak": ("LeakOptions", ("output",), True, False, "window"),
    "groundedness": ("GroundingOptions", ("output",), True, False, "window"),
    "json_schema": ("JsonSchemaOptions", ("output",), True, False, "final"),
}


def test_builtin_guard_info_comes_from_the_guard_class() -> None:
    from llmops.guards import get_guard_info

    for name, (options, stages, fixable, request_level, stream) in BUILTIN_INFO.items():
        info = get_guard_info(name)
        assert info.name == name and info.summary == info.factory.summary  # type: ignore[attr-defined]
        assert info.options_model.__name__ == options
        assert (info.stages, info.fixable, info.request_level, info.stream) == (
            stages, fixable, request_level, stream,
        ), name  # fmt: skip


def test_guard_class_without_an_options_model_is_refused() -> None:
    from llmops.guards.base import GuardBase

    class Bare(GuardBase):  # type: ignore[type-arg]
        stages = ("input",)
        summary = "no options model"

    with pytest.raises(TypeError, match="must subclass GuardBase"):
        Bare.info("bare")
