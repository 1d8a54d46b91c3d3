"""The LLM judge: any OpenAI-compatible endpoint, rubric prompts from the prompt registry.

A rubric is a registry prompt (``judge-faithfulness@production``) rendered with ``question``,
``answer`` and ``contexts``; it must make the judge answer JSON. Replies are validated; a
malformed one is answered with a repair turn ("reply with JSON only ...") up to
``malformed_retries`` times, after which the item is marked errored and the run goes on. Only
valid replies are cached. ``samples > 1`` asks n times (sample index in the cache key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import LLMOpsError
from llmops.evals.calls import ModelCaller
from llmops.evals.openai_http import ChatEndpoint
from llmops.lineage import JudgeLineage, PromptLineage

if TYPE_CHECKING:
    from llmops.config import JudgeSettings

__all__ = [
    "ASPECTS",
    "Judge",
    "JudgeMalformedError",
    "PairwiseVerdict",
    "RagVerdict",
    "Verdict",
    "pairwise_score",
    "parse_json_reply",
    "parse_pairwise",
    "parse_rag_verdict",
    "parse_verdict",
]

T = TypeVar("T")

ASPECTS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


class JudgeMalformedError(LLMOpsError):
    """The judge kept answering something that is not a valid verdict."""


class Verdict(BaseModel):
    """``{"score": 0..1, "verdict": "pass"|"fail", "reason": "..."}``."""

    model_config = ConfigDict(extra="ignore")

    score: float = Field(ge=0, le=1)
    verdict: Literal["pass", "fail"]
    reason: str = ""


class RagVerdict(BaseModel):
    """All four RAG aspects in one reply."""

    model_config = ConfigDict(extra="ignore")

    faithfulness: Verdict
    answer_relevancy: Verdict
    context_precision: Verdict
    context_recall: Verdict


def parse_json_reply(text: str) -> Any:
    """Return the JSON object in ``text`` (a bare object or one inside a ```json fence)."""
    text = text.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    elif not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            text = text[start : end + 1]
    return json.loads(text)


def parse_verdict(text: str) -> Verdict:
    """Parse and validate one verdict; raise ValueError on anything else."""
    try:
        return Verdict.model_validate(parse_json_reply(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def parse_rag_verdict(text: str) -> RagVerdict:
    """Parse and validate a combined four-aspect verdict."""
    try:
        return RagVerdict.model_validate(parse_json_reply(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


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


class PairwiseVerdict(BaseModel):
    """``{"winner": "A"|"B"|"tie", "reason": "..."}``."""

    model_config = ConfigDict(extra="ignore")

    winner: Literal["A", "B", "tie"]
    reason: str = ""


def parse_pairwise(text: str) -> PairwiseVerdict:
    """Parse and validate a pairwise verdict."""
    try:
        data = parse_json_reply(text)
        if isinstance(data, dict) and isinstance(data.get("winner"), str):
            data["winner"] = {"a": "A", "b": "B"}.get(
                data["winner"].lower(), data["winner"].lower()
            )
        return PairwiseVerdict.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def pairwise_score(first: PairwiseVerdict, swapped: PairwiseVerdict) -> float:
    """Return 1 when ours wins in both orders, 0 when it loses in both, else 0.5.

    ``first`` saw ours as A; ``swapped`` saw ours as B (position swap cancels position bias).
    """
    ours = {"A": 1.0, "B": 0.0, "tie": 0.5}[first.winner]
    ours_swapped = {"A": 0.0, "B": 1.0, "tie": 0.5}[swapped.winner]
    if ours == ours_swapped:
        return ours
    return 0.5
