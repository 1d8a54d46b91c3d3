"""The offline extractive model on the real MiniLM model with hand-written contexts."""

from __future__ import annotations

import asyncio
import re

import pytest

from llmops.errors import ConfigError
from llmops.providers import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    Context,
    Provider,
    available_providers,
    create_provider,
)
from llmops.providers.extractive import (
    ABSTAIN,
    ExtractiveOptions,
    ExtractiveProvider,
    question_of,
    split_sentences,
)

CONTEXTS = [
    Context(
        id="lists",
        text="Lists are mutable sequences, typically used to store collections of homogeneous "
        "items. The sort() method sorts the list in place, using only < comparisons between "
        "items. It returns None to remind you that it mutates the list.",
    ),
    Context(
        id="dicts",
        text="A dictionary maps hashable keys to arbitrary objects. Dictionaries preserve "
        "insertion order since Python 3.7.\n\nThe get() method returns the value for key if key "
        "is in the dictionary, else default.",
    ),
    Context(
        id="files",
        text="The with statement ensures that the file is closed when the block ends, even if an "
        "exception is raised. Use open() to get a file object.",
    ),
]


@pytest.fixture(scope="module")
def provider() -> ExtractiveProvider:
    return ExtractiveProvider()


def ask(
    provider: ExtractiveProvider, question: str, contexts: list[Context] | None = None
) -> ChatResult:
    request = ChatRequest(
        model="extractive",
        messages=[{"role": "user", "content": question}],
        contexts=CONTEXTS if contexts is None else contexts,
    )
    return asyncio.run(provider.complete(request))


def normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("question", "source", "must_quote"),
    [
        ("Does sort() return a new list?", "lists", "sorts the list in place"),
        ("Do dictionaries keep insertion order?", "dicts", "preserve insertion order"),
        ("How do I make sure a file gets closed?", "files", "the file is closed"),
        ("What does dict.get return when the key is missing?", "dicts", "else default"),
    ],
)
def test_quotes_the_supporting_sentence_and_cites_its_context(
    provider: ExtractiveProvider, question: str, source: str, must_quote: str
) -> None:
    result = ask(provider, question)
    assert result.citations[0] == source
    assert must_quote in result.content
    # Every quoted piece is verbatim context text followed by its citation.
    pieces = re.findall(r"(.+?) \[([\w-]+)\](?: |$)", result.content)
    assert pieces
    by_id = {c.id: normalise(c.text) for c in CONTEXTS}
    for sentence, cid in pieces:
        assert sentence in by_id[cid]
    assert result.model == "extractive"
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I train a neural network on a GPU?",
        "Who won the 2018 football world cup?",
    ],
)
def test_abstains_when_nothing_supports_the_question(
    provider: ExtractiveProvider, question: str
) -> None:
    result = ask(provider, question)
    assert result.content == ABSTAIN
    assert result.citations == []


def test_abstains_without_contexts(provider: ExtractiveProvider) -> None:
    assert ask(provider, "Does sort() return a new list?", contexts=[]).content == ABSTAIN


def test_explicit_question_beats_the_rendered_prompt(provider: ExtractiveProvider) -> None:
    rendered = "Answer only from the documents below.\n<docs>...</docs>\nQuestion: see above"
    request = ChatRequest(
        model="extractive",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": rendered},
        ],
        contexts=CONTEXTS,
        extra={"question": "Do dictionaries keep insertion order?"},
    )
    assert question_of(request) == "Do dictionaries keep insertion order?"
    result = asyncio.run(provider.complete(request))
    assert result.citations[0] == "dicts"


def test_question_from_content_parts() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert question_of(request) == "second question"


def test_deterministic_across_calls_and_instances(provider: ExtractiveProvider) -> None:
    q = "How do I make sure a file gets closed?"
    first = ask(provider, q)
    assert ask(provider, q) == first
    assert ask(ExtractiveProvider(), q) == first


def test_duplicate_sentences_are_quoted_once(provider: ExtractiveProvider) -> None:
    copy = Context(id="lists-copy", text=CONTEXTS[0].text)
    result = ask(provider, "Does sort() return a new list?", contexts=[CONTEXTS[0], copy])
    assert result.content.count("sorts the list in place") == 1


def test_max_sentences_and_threshold_options_take_effect() -> None:
    q = "Does sort() return a new list?"
    one = ExtractiveProvider(ExtractiveOptions(max_sentences=1, relative_cutoff=0.0))
    three = ExtractiveProvider(
        ExtractiveOptions(max_sentences=3, relative_cutoff=0.0, threshold=0.0)
    )
    assert len(ask(one, q).content.split("] ")) == 1
    assert len(ask(three, q).content.split("] ")) == 3
    assert ask(ExtractiveProvider(ExtractiveOptions(threshold=1.0)), q).content == ABSTAIN
    off_topic = ask(ExtractiveProvider(ExtractiveOptions(threshold=0.0)), "Capital of France?")
    assert off_topic.content != ABSTAIN


def test_stream_yields_words_then_finish_and_usage(provider: ExtractiveProvider) -> None:
    request = ChatRequest(
        model="extractive",
        messages=[{"role": "user", "content": "Do dictionaries keep insertion order?"}],
        contexts=CONTEXTS,
        stream=True,
    )

    async def collect() -> list[ChatDelta]:
        return [d async for d in provider.stream(request)]

    deltas = asyncio.run(collect())
    whole = asyncio.run(provider.complete(request))
    assert len(deltas) > 3
    assert "".join(d.content for d in deltas) == whole.content
    assert deltas[-1].finish_reason == "stop" and deltas[-1].usage == whole.usage
    assert all(d.finish_reason is None for d in deltas[:-1])


def test_registered_and_created_through_the_registry() -> None:
    assert "extractive" in available_providers()
    made = create_provider("extractive", threshold=0.3, model="offline")
    assert isinstance(made, ExtractiveProvider) and isinstance(made, Provider)
    assert made.options.threshold == 0.3 and made.options.model == "offline"
    asyncio.run(made.aclose())


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"treshold": 0.5}, "did you mean 'threshold'"),
        ({"threshold": 2}, "threshold"),
        ({"max_sentences": 0}, "max_sentences"),
    ],
)
def test_bad_options_raise_config_error(options: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_provider("extractive", **options)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One here. Two there! Three?", ["One here.", "Two there!", "Three?"]),
        ("Call f() now. Then g.", ["Call f() now.", "Then g."]),
        ("Version 3.7 added it. Yes.", ["Version 3.7 added it.", "Yes."]),
        ("e.g. lowercase after a dot stays. Next", ["e.g. lowercase after a dot stays.", "Next"]),
        ("Para one\n\nPara two", ["Para one", "Para two"]),
        ("Intro:\n- item one\n- item two", ["Intro:", "- item one", "- item two"]),
        ("wrapped\nline stays joined.", ["wrapped line stays joined."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
