"""What every guard returns, and the small Protocol a guard implements.

A guard is a plain object with ``name`` and ``check(text, ctx) -> GuardResult``; the guardrails-ai
``Validator`` wrapper (``llmops.guards.validators``) and the pipeline both call that method.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    TypeVar,
    get_args,
    get_origin,
)

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

if TYPE_CHECKING:
    from llmops.guards.registry import GuardInfo, Stage

__all__ = [
    "Action",
    "CheckContext",
    "Guard",
    "GuardBase",
    "GuardResult",
    "Span",
    "Verdict",
    "clean_text",
    "timed_result",
]

Action = Literal["pass", "block", "fix", "flag"]


class Span(BaseModel):
    """A character range of the checked text that a guard objects to."""

    model_config = ConfigDict(extra="forbid")

    start: int
    end: int
    type: str
    text: str


class GuardResult(BaseModel):
    """One guard's outcome on one text."""

    model_config = ConfigDict(extra="forbid")

    name: str
    passed: bool
    score: float = 0.0
    latency_ms: float = 0.0
    spans: list[Span] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    #: Repaired text when the guard can fix what it found (redaction, abstention, ...).
    fixed: str | None = Field(default=None, exclude=True)
    on_fail: str | None = None


class Verdict(BaseModel):
    """The combined outcome of the guards of one stage."""

    model_config = ConfigDict(extra="forbid")

    passed: bool
    action: Action
    text: str
    stage: str = ""
    results: list[GuardResult] = Field(default_factory=list)
    #: Input stage: the request's messages with fixes applied (redacted, truncated).
    messages: list[dict[str, Any]] | None = None
    #: Contexts stage: the contexts that may reach the prompt (failing ones dropped on fix).
    contexts: list[str] | None = None
    latency_ms: float = 0.0
    _pii_map: dict[str, str] = PrivateAttr(default_factory=dict)

    def set_pii_map(self, mapping: dict[str, str]) -> None:
        """Keep the placeholder -> original map of this request's redactions (memory only)."""
        self._pii_map = dict(mapping)

    def restore(self, text: str) -> str:
        """Put redacted values back into ``text`` (e.g. the answer to a redacted question)."""
        for placeholder, original in self._pii_map.items():
            text = text.replace(placeholder, original)
        return text

    @property
    def blocked_by(self) -> GuardResult | None:
        """Return the first failed guard whose policy is block, if any."""
        for result in self.results:
            if not result.passed and result.on_fail == "block":
                return result
        return None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def code(self) -> str | None:
        """Return the stable error code ``guardrail_blocked:<guard>`` when blocked."""
        blocker = self.blocked_by
        return f"guardrail_blocked:{blocker.name}" if blocker else None


@dataclass
class CheckContext:
    """What a guard may need besides the text: the route's system prompt, retrieved contexts."""

    stage: str = "input"
    system_prompt: str | None = None
    contexts: list[str] = field(default_factory=list)
    #: Every message text of the request (input stage), for per-request limits.
    messages: list[str] = field(default_factory=list)
    #: Per-request scratch space (e.g. the reversible PII map); never persisted.
    scratch: dict[str, Any] = field(default_factory=dict)


class Guard(Protocol):
    """A check over text."""

    name: str

    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Check ``text`` and return a result with score, spans and an optional fix."""
        ...


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class GuardBase(ABC, Generic[OptionsT]):
    """Name, threshold and parsed options: a subclass is its own registry factory.

    The pipeline calls ``factory(name, threshold, options)``; ``default_threshold`` fills a
    threshold the route left out. The class attributes ``stages``, ``summary``, ``fixable``,
    ``request_level`` and ``stream`` are the guard's registry metadata: a built-in module
    publishes ``INFO = MyGuard.info("my_guard")``.
    """

    default_threshold: float | None = None
    stages: ClassVar[tuple[Stage, ...]]
    summary: ClassVar[str]
    fixable: ClassVar[bool] = True
    request_level: ClassVar[bool] = False
    stream: ClassVar[Literal["window", "final"]] = "window"

    def __init__(self, name: str, threshold: float | None, options: OptionsT) -> None:
        self.name = name
        self.threshold = threshold if threshold is not None else self.default_threshold
        self.options = options

    @abstractmethod
    def check(self, text: str, ctx: CheckContext) -> GuardResult:
        """Check ``text`` (each guard implements this)."""

    @classmethod
    def info(cls, name: str) -> GuardInfo:
        """Return the registry entry of this guard class under ``name``."""
        from llmops.guards.registry import GuardInfo

        return GuardInfo(
            name, cls.stages, cls._options_model(), cls, cls.summary,
            fixable=cls.fixable, request_level=cls.request_level, stream=cls.stream,
        )  # fmt: skip

    @classmethod
    def _options_model(cls) -> type[BaseModel]:
        """Return the options model named in the class's ``GuardBase[Options]`` base."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                if get_origin(base) is GuardBase:
                    return get_args(base)[0]  # type: ignore[no-any-return]
        raise TypeError(f"{cls.__name__} must subclass GuardBase[<options model>]")

    def pass_fail(self, start: float, passed: bool, **fields: Any) -> GuardResult:
        """Return a timed result scored 0.0 when ``passed``, else 1.0 (guards without a scale)."""
        return timed_result(self.name, start, passed=passed, score=0.0 if passed else 1.0, **fields)


def timed_result(name: str, start: float, **fields: Any) -> GuardResult:
    """Return ``GuardResult(name=name, **fields)`` with the latency since ``start`` (perf_counter)."""
    return GuardResult(name=name, latency_ms=(time.perf_counter() - start) * 1000, **fields)


def clean_text(text: str) -> str:
    """Return ``text`` with lone surrogates replaced so every later step sees valid Unicode."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
