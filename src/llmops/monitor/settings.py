"""The ``monitor:`` section of llmops.yaml: sampler, drift detectors, alert rules and actions.

Imported by ``llmops.config`` (so it imports only pydantic). Rules name a signal (``SIGNALS``),
a window, one condition (``above``/``below`` a value, or a test's ``significance``) and k of m
bad windows before firing; actions are referenced by name and each has a cool-down, a budget and
a dry-run switch. Cross references (unknown signals or actions) are checked by
``MonitorSettings.reference_problems`` so the error names the file, line and key.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmops.validation import Share

__all__ = [
    "SIGNALS",
    "SIGNAL_GROUPS",
    "ActionSpec",
    "AlertRule",
    "DriftSettings",
    "HallucinationSettings",
    "MonitorSettings",
    "ReleaseSettings",
    "SamplerRoute",
    "SamplerSettings",
    "parse_duration",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int) -> float:
    """Return seconds for ``30s``, ``15m``, ``24h``, ``7d``, ``2w`` (or a number of seconds)."""
    if isinstance(text, int | float):
        if text <= 0:
            raise ValueError("a duration must be positive")
        return float(text)
    found = _DURATION.match(str(text))
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a duration: use e.g. 30s, 15m, 24h, 7d")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def _duration(value: str) -> str:
    parse_duration(value)
    return value


#: Signals an alert rule can watch (``llmops monitor report --json`` shows each one's value):
#: name -> (kind: rate | test | value, the ``Evaluator`` group that computes it), in report order.
_SIGNAL_TABLE: dict[str, tuple[str, str]] = {
    "error_rate": ("rate", "operational"),
    "fallback_rate": ("rate", "operational"),
    "guard_block_rate": ("rate", "operational"),
    "latency_p50": ("value", "operational"),
    "latency_p95": ("value", "operational"),
    "latency_p99": ("value", "operational"),
    "abstention_rate": ("rate", "answers"),
    "refusal_rate": ("rate", "answers"),
    "answer_length_drift": ("test", "answers"),
    "abstention_drift": ("test", "answers"),
    "refusal_drift": ("test", "answers"),
    "empty_retrieval_rate": ("rate", "retrieval"),
    "low_score_rate": ("rate", "retrieval"),
    "out_of_coverage_rate": ("rate", "retrieval"),
    "top1_drift": ("test", "retrieval"),
    "topk_drift": ("test", "retrieval"),
    "source_mix_drift": ("test", "retrieval"),
    "unsupported_rate": ("rate", "hallucination"),
    "judge_unfaithful_rate": ("rate", "hallucination"),
    "scoring_backlog": ("value", "hallucination"),
    "query_drift": ("test", "query_drift"),
    "stale_sources": ("value", "staleness"),
    "embedding_mismatch": ("value", "staleness"),
    "release": ("value", "release"),
}
SIGNALS: dict[str, str] = {name: kind for name, (kind, _) in _SIGNAL_TABLE.items()}
SIGNAL_GROUPS: dict[str, str] = {name: group for name, (_, group) in _SIGNAL_TABLE.items()}


class SamplerRoute(_Section):
    """Sampler settings for one route (unset keys take the sampler's defaults)."""

    rate: Share | None = None
    embed_rate: Share | None = None
    cap_per_hour: int | None = Field(None, ge=1)


class SamplerSettings(_Section):
    """Which traces the online evaluation scores and the drift test embeds."""

    rate: Share = Field(0.05, description="base share of traces scored")
    embed_rate: Share = Field(
        0.2, description="share of queries embedded for the drift test (uniform)"
    )
    cap_per_hour: int = Field(
        2000, ge=1, description="expected scored traces per route and hour (the rate shrinks)"
    )
    risk_boost: float = Field(
        4.0, ge=1, description="oversampling factor for risky traces (reweighted in reports)"
    )
    low_score: float = Field(0.3, description="top-1 retrieval score below which it is risky")
    judge_budget_per_hour: int = Field(200, ge=0, description="judge calls per hour, all routes")
    routes: dict[str, SamplerRoute] = Field(default_factory=dict)


class DriftSettings(_Section):
    """The drift detectors: significance, window sizes and the reference."""

    alpha: float = Field(0.01, gt=0, lt=1, description="significance of every drift test")
    min_window: int = Field(50, ge=10, description="fewer queries: 'too few', not a verdict")
    max_window: int = Field(2000, ge=50, description="larger windows are subsampled to this")
    permutations: int = Field(500, ge=99, le=10000)
    reference_window: str = Field(
        "7d", description="rollup-based detectors compare with this span before the window"
    )
    min_psi: float = Field(0.1, ge=0, description="smallest PSI that counts as drift")
    min_ks: float = Field(0.1, ge=0, description="smallest KS distance that counts as drift")
    min_rate_change: float = Field(0.05, ge=0, description="smallest rate change that counts")
    golden_sets: dict[str, str] = Field(
        default_factory=dict,
        description="route -> golden set file whose questions are the query-drift reference",
    )
    cache_windows: list[str] = Field(
        default_factory=lambda: ["1h", "24h"],
        description="window lengths whose query drift `llmops monitor watch` computes each tick "
        "and stores for the report and the dashboard",
    )
    cache_fresh: str = Field(
        "5m",
        description="a stored query-drift result answers for a window ending at most this long "
        "(and never more than one window length) after the one it was computed on; an older one "
        "is recomputed, never shown as current",
    )

    _window = field_validator("reference_window", "cache_fresh")(_duration)

    @field_validator("cache_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_duration(item)
        return value


class HallucinationSettings(_Section):
    """How sampled answers are scored."""

    support_threshold: float = Field(
        0.6, gt=0, le=1, description="sentence support (cosine) below which it is unsupported"
    )
    calibration: str | None = Field(
        None, description="an eval results.json with human-labelled judge rows (calibration)"
    )
    calibration_metric: str = Field("faithfulness", description="the calibrated judge metric")
    judge: bool = Field(True, description="also ask the configured judge (judge-rag)")


class ReleaseSettings(_Section):
    """Canary/shadow comparison."""

    min_requests: int = Field(200, ge=10, description="per arm before promote or rollback")
    margin: float = Field(0.02, ge=0, description="tolerated rate increase of the candidate")
    latency_margin: float = Field(0.2, ge=0, description="tolerated relative p95 increase")


_ACTION_KEYS: dict[str, set[str]] = {
    "log": set(),
    "webhook": {"url", "headers", "timeout", "retries", "backoff"},
    "reindex": {"pipeline", "via", "full", "gateway_url", "api_key_env"},
    "eval": {"suite", "slice_size"},
    "retrain": {"model"},
}
_REQUIRED: dict[str, set[str]] = {
    "webhook": {"url"},
    "reindex": {"pipeline"},
    "eval": {"suite"},
    "retrain": {"model"},
}


class ActionSpec(_Section):
    """What an alert does: log, webhook, or a continuous-training trigger."""

    type: Literal["log", "webhook", "reindex", "eval", "retrain"]
    cooldown: str = Field("1h", description="no second run of this action within this span")
    budget: int | None = Field(None, ge=0, description="at most this many runs per budget_window")
    budget_window: str = "24h"
    dry_run: bool = Field(False, description="record what would run, run nothing")
    url: str | None = Field(None, description="webhook: where the JSON is POSTed")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(5.0, gt=0)
    retries: int = Field(4, ge=0, description="webhook: retries with exponential backoff")
    backoff: float = Field(0.5, ge=0, description="webhook: first retry delay, doubled each time")
    pipeline: str | None = Field(None, description="reindex: the pipeline to rebuild")
    via: Literal["local", "gateway"] = Field(
        "local", description="reindex in this process, or through the gateway's admin API"
    )
    full: bool = False
    gateway_url: str | None = None
    api_key_env: str = Field("LLMOPS_ADMIN_KEY", description="admin key for via: gateway")
    suite: str | None = Field(None, description="eval: the suite to re-run on the drifted slice")
    slice_size: int = Field(20, ge=1)
    model: str | None = Field(None, description="retrain: the classic model spec or name")

    _durations = field_validator("cooldown", "budget_window")(_duration)

    @model_validator(mode="after")
    def _fits_type(self) -> ActionSpec:
        given = {k for k in self.model_fields_set if k in set().union(*_ACTION_KEYS.values())}
        foreign = sorted(given - _ACTION_KEYS[self.type])
        if foreign:
            raise ValueError(f"{', '.join(foreign)} do(es) not apply to {self.type} actions")
        missing = sorted(k for k in _REQUIRED.get(self.type, ()) if getattr(self, k) is None)
        if missing:
            raise ValueError(f"{self.type} actions need {', '.join(missing)}")
        if self.type == "reindex" and self.via == "gateway" and not self.gateway_url:
            raise ValueError("reindex via gateway needs gateway_url")
        return self


class AlertRule(_Section):
    """When to act: a signal over a window, judged k times in the last m windows."""

    name: str = Field(min_length=1)
    signal: str = Field(description="a signal name (see llmops.config.SIGNALS)")
    route: str | None = Field(None, description="one route; unset: every route on its own")
    window: str = "1h"
    above: float | None = Field(None, description="bad when the value is above")
    below: float | None = Field(None, description="bad when the value is below")
    significance: float | None = Field(
        None, gt=0, lt=1, description="test signals: bad when the test rejects at this level"
    )
    confidence: Literal["interval", "estimate"] = Field(
        "interval",
        description="rates: interval compares the Wilson bound (above: lower bound), "
        "estimate the point estimate",
    )
    k: int = Field(1, ge=1, description="bad windows among the last m before firing")
    m: int = Field(1, ge=1)
    actions: list[str] = Field(default_factory=lambda: ["log"])

    _window = field_validator("window")(_duration)

    @model_validator(mode="after")
    def _one_condition(self) -> AlertRule:
        given = [k for k in ("above", "below", "significance") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of above, below or significance")
        if self.k > self.m:
            raise ValueError(f"k ({self.k}) cannot exceed m ({self.m})")
        return self


class MonitorSettings(_Section):
    """Production monitors: sampler, detectors, alert rules and their actions."""

    enabled: bool = Field(True, description="sample, derive and roll up traces as they are written")
    interval: str = Field("60s", description="llmops monitor watch: time between evaluations")
    gauge_window: str = Field("1h", description="the window the published gauges describe")
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    hallucination: HallucinationSettings = Field(default_factory=HallucinationSettings)
    release: ReleaseSettings = Field(default_factory=ReleaseSettings)
    alerts: list[AlertRule] = Field(default_factory=list)
    actions: dict[str, ActionSpec] = Field(default_factory=dict)

    _interval = field_validator("interval", "gauge_window")(_duration)

    def reference_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return (key path, message) for unknown signals, unknown actions, repeated names."""
        from llmops.suggest import did_you_mean

        problems: list[tuple[tuple[str | int, ...], str]] = []
        seen: set[str] = set()
        known = ["log", *self.actions]
        for i, rule in enumerate(self.alerts):
            where: tuple[str | int, ...] = ("monitor", "alerts", i)
            if rule.name in seen:
                problems.append((where + ("name",), f"alert name '{rule.name}' is used twice"))
            seen.add(rule.name)
            if rule.signal not in SIGNALS:
                guess = did_you_mean(rule.signal, list(SIGNALS))
                hint = f" (did you mean '{guess}'?)" if guess else ""
                problems.append((where + ("signal",), f"unknown signal '{rule.signal}'{hint}"))
            elif (rule.significance is not None) != (SIGNALS[rule.signal] == "test"):
                kind = SIGNALS[rule.signal]
                need = "significance" if kind == "test" else "above or below"
                problems.append((where + ("signal",), f"'{rule.signal}' is a {kind}: use {need}"))
            for j, action in enumerate(rule.actions):
                if action not in known:
                    guess = did_you_mean(action, known)
                    hint = f" (did you mean '{guess}'?)" if guess else ""
                    problems.append((where + ("actions", j), f"unknown action '{action}'{hint}"))
        return problems
