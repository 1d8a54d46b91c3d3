"""Importing llmops.guards loads no heavy library (its __all__ is pinned in tests/core)."""

from __future__ import annotations

import subprocess
import sys

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
