"""The ``guards:`` section of a gateway route: which guards run where, and what a failure does.

::

    guards:
      input:
        - {name: prompt_injection, on_fail: block, threshold: 0.5}
        - {name: pii, on_fail: fix}
      contexts:
        - {name: prompt_injection, on_fail: block}
      output:
        - {name: system_prompt_leak, on_fail: block, options: {min_chars: 60}}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmops.errors import ConfigError
from llmops.guards.registry import Stage, get_guard_info
from llmops.validation import Share

__all__ = ["GuardSpec", "GuardsConfig", "OnFail", "default_guards"]

OnFail = Literal["block", "fix", "flag"]


class GuardSpec(BaseModel):
    """One guard on one stage: its registered name, failure policy, threshold and options."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="A registered guard, e.g. prompt_injection, pii, limits.")
    on_fail: OnFail = Field(
        default="block",
        description="block: refuse with guardrail_blocked:<name>; fix: redact/repair; flag: record only.",
    )
    threshold: Share | None = Field(
        default=None, description="Score at or above which the guard fails."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, validate_default=True, description="Guard-specific options."
    )

    @field_validator("name")
    @classmethod
    def _known_guard(cls, name: str) -> str:
        try:
            get_guard_info(name)
        except ConfigError as exc:
            raise ValueError(f"{exc.message}; {exc.hint}") from None
        return name

    @field_validator("options")
    @classmethod
    def _known_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name = info.data.get("name")
        if name is None:
            return options  # the name already failed; that error is the one to show
        model = get_guard_info(name).options_model
        try:
            model.model_validate(options)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            key = ".".join(str(p) for p in err["loc"])
            allowed = ", ".join(sorted(model.model_fields)) or "none"
            where = f" option '{key}'" if key else ""
            raise ValueError(
                f"guard '{name}'{where}: {err['msg']} (allowed options: {allowed})"
            ) from None
        return options

    def parsed_options(self) -> BaseModel:
        """Return the options validated into the guard's own options model."""
        return get_guard_info(self.name).options_model.model_validate(self.options)


class GuardsConfig(BaseModel):
    """Guards per stage: user input, retrieved contexts (indirect injection), model output."""

    model_config = ConfigDict(extra="forbid")

    input: list[GuardSpec] = Field(default_factory=list)
    contexts: list[GuardSpec] = Field(default_factory=list)
    output: list[GuardSpec] = Field(default_factory=list)
    engine: Literal["direct", "guardrails"] = Field(
        default="direct",
        description=(
            "direct: call each guard's guardrails Validator (fast path); guardrails: compose "
            "them with guardrails' Guard.validate (same verdicts, about 3 ms more per call)."
        ),
    )

    @model_validator(mode="after")
    def _stages_fit(self) -> GuardsConfig:
        stage: Stage
        for stage in ("input", "contexts", "output"):
            for spec in getattr(self, stage):
                info = get_guard_info(spec.name)
                stages = info.stages
                if stage not in stages:
                    raise ValueError(
                        f"guard '{spec.name}' cannot run on {stage}; it runs on: {', '.join(stages)}"
                    )
                if spec.on_fail == "fix" and stage != "contexts" and not info.fixable:
                    raise ValueError(
                        f"guard '{spec.name}' cannot fix text on {stage}; use on_fail: block or flag"
                    )
        return self

    def is_empty(self) -> bool:
        """Return True when no guard is configured on any stage."""
        return not (self.input or self.contexts or self.output)


def default_guards() -> GuardsConfig:
    """Return the default set: what ``llmops guard check`` runs without ``--route``.

    Input: prompt_injection (block), pii (fix = redact), limits (block).
    Contexts: prompt_injection (fix = drop the document).
    Output: pii (fix), system_prompt_leak (block).
    """
    return GuardsConfig.model_validate(
        {
            "input": [
                {"name": "prompt_injection", "on_fail": "block"},
                {"name": "pii", "on_fail": "fix"},
                {"name": "limits", "on_fail": "block"},
            ],
            "contexts": [{"name": "prompt_injection", "on_fail": "fix"}],
            "output": [
                {"name": "pii", "on_fail": "fix"},
                {"name": "system_prompt_leak", "on_fail": "block"},
            ],
        }
    )
