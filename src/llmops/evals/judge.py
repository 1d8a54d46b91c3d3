"""The LLM judge: any OpenAI-compatible endpoint, rubric prompts from the prompt registry.

A rubric is a registry prompt (``judge-faithfulness@production``) rendered with ``question``,
``answer`` and ``contexts``; it must make the judge answer JSON. Replies are validated; a
malformed one is answered with a repair turn ("reply with JSON only ...") up to
``malformed_retries`` times, after which the item is marked errored and the run goes on. Only
valid replies are cached. ``samples > 1`` asks n times (sample index in the cache key).

The verdicts and their parsers are in ``llmops.evals.verdicts``, their JSON Schemas for
structured outputs in ``llmops.evals.verdict_schema`` (still importable from here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from llmops.errors import LLMOpsError
from llmops.evals.calls import ModelCaller
from llmops.evals.openai_http import ChatEndpoint
from llmops.lineage import JudgeLineage, PromptLineage

if TYPE_CHECKING:
    from llmops.config import JudgeSettings

__all__ = ["Judge", "JudgeMalformedError"]


def __getattr__(name: str) -> Any:
    # The verdicts and their schemas lived here before the split: old imports keep working.
    from llmops.evals import verdict_schema, verdicts

    for module in (verdicts, verdict_schema):
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module 'llmops.evals.judge' has no attribute '{name}'")


T = TypeVar("T")


class JudgeMalformedError(LLMOpsError):
    """The judge kept answering something that is not a valid verdict."""


REPAIR = (
    "Your previous reply was not valid ({error}). Reply again with one JSON object only, "
    "exactly in the format the instructions require, and nothing else."
)


class Judge:
    """Asks the configured judge; every call goes through the run's ModelCaller."""

    def __init__(
        self,
        settings: JudgeSettings,
        caller: ModelCaller,
        *,
        malformed_retries: int = 2,
        cost_per_1k_tokens: float = 0.0,
    ) -> None:
        if not settings.base_url or not settings.model:
            raise LLMOpsError("no judge configured")
        self.base_url = settings.base_url
        self.model = settings.model
        self.caller = caller
        self.malformed_retries = malformed_retries
        self.cost_per_1k_tokens = cost_per_1k_tokens
        self.endpoint = ChatEndpoint(
            settings.base_url,
            api_key_env=settings.api_key_env,
            timeout=settings.timeout,
            name="judge",
        )

    def lineage(self, rubric: PromptLineage | None) -> JudgeLineage:
        """Return the judge's lineage for a rubric."""
        return JudgeLineage(model=self.model, base_url=self.base_url, rubric=rubric)

    async def ask(
        self,
        messages: list[dict[str, Any]],
        parse: Callable[[str], T],
        *,
        rubric: PromptLineage | None = None,
        sample: int = 0,
        temperature: float = 0.0,
        params: dict[str, Any] | None = None,
    ) -> T:
        """Return the parsed verdict; raise JudgeMalformedError or UpstreamError."""
        # the suite decides the temperature (0, or 0.7 when sampling), not the rubric
        call_params = {**(params or {}), "temperature": temperature}
        material = {
            "judge": self.base_url,
            "model": self.model,
            "messages": messages,
            "params": call_params,
            "rubric": rubric.content_hash if rubric else None,
            "sample": sample,
        }

        async def call() -> dict[str, Any]:
            convo = list(messages)
            value: dict[str, Any] = {}
            for attempt in range(self.malformed_retries + 1):
                if attempt:
                    self.caller.stats.judge_calls += 1
                value = await self.endpoint.chat(self.model, convo, call_params)
                try:
                    parse(value["content"])
                    return value
                except ValueError as exc:
                    convo = [
                        *convo,
                        {"role": "assistant", "content": value["content"]},
                        {"role": "user", "content": REPAIR.format(error=exc)},
                    ]
            raise JudgeMalformedError(
                f"judge reply is not a valid verdict after {self.malformed_retries + 1} attempts: "
                f"{str(value.get('content'))[:80]!r}",
                hint="check the rubric asks for the JSON verdict and the judge model can follow it",
            )

        def validate(value: dict[str, Any]) -> None:
            parse(value["content"])

        outcome = await self.caller.call("judge", material, call, validate=validate)
        return parse(outcome.value["content"])

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.endpoint.aclose()
