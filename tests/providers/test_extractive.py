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


# -- sampling parameters: max_tokens, stop, n (non-streamed and streamed) --------------------

QUESTION = "Does sort() return a new list?"


def _request(**params: object) -> ChatRequest:
    return ChatRequest(
        model="extractive",
        messages=[{"role": "user", "content": QUESTION}],
        contexts=CONTEXTS,
        **params,  # type: ignore[arg-type]
    )


def _streamed(provider: ExtractiveProvider, request: ChatRequest) -> list[ChatDelta]:
    async def collect() -> list[ChatDelta]:
        return [d async for d in provider.stream(request)]

    return asyncio.run(collect())


@pytest.mark.parametrize("budget", [1, 3, 7, 12])
def test_max_tokens_cuts_the_answer_by_the_tokenizer(
    provider: ExtractiveProvider, budget: int
) -> None:
    full = asyncio.run(provider.complete(_request())).content
    count = provider.embedder().count_tokens
    assert count(full) > 12  # the cases below really cut
    out = asyncio.run(provider.complete(_request(max_tokens=budget)))
    assert out.finish_reason == "length"
    assert full.startswith(out.content)
    assert count(out.content) <= budget and out.usage.completion_tokens == count(out.content)
    # the longest word prefix within the budget: one more word would not fit
    words = out.content.split(" ") if out.content else []
    longer = " ".join(full.split(" ")[: len(words) + 1])
    assert count(longer) > budget
    # the cited context ids are the ones still in the cut answer
    assert all(f"[{c}]" in out.content for c in out.citations)


def test_a_budget_the_answer_fits_in_changes_nothing(provider: ExtractiveProvider) -> None:
    full = asyncio.run(provider.complete(_request()))
    roomy = asyncio.run(provider.complete(_request(max_tokens=10_000)))
    assert (roomy.content, roomy.finish_reason) == (full.content, "stop")
    # the newer parameter name is honoured too
    cut = asyncio.run(provider.complete(_request(extra={"max_completion_tokens": 3})))
    assert cut.finish_reason == "length" and provider.embedder().count_tokens(cut.content) <= 3


def test_stop_ends_the_answer_before_the_first_stop_sequence(provider: ExtractiveProvider) -> None:
    full = asyncio.run(provider.complete(_request())).content
    assert "[lists]" in full and "place" in full
    out = asyncio.run(provider.complete(_request(stop=["[", "place"])))
    first = min(full.index("["), full.index("place"))
    assert out.content == full[:first] and out.finish_reason == "stop"
    assert out.citations == []
    # a single string in the forwarded parameters (as a gateway passes a client's body)
    single = asyncio.run(provider.complete(_request(extra={"stop": "["})))
    assert single.content == full[: full.index("[")]


def test_n_returns_n_choices_and_counts_all_of_them(provider: ExtractiveProvider) -> None:
    one = asyncio.run(provider.complete(_request(max_tokens=6)))
    three = asyncio.run(provider.complete(_request(n=3, max_tokens=6)))
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert {(c.content, c.finish_reason) for c in three.choices} == {(one.content, "length")}
    assert three.usage.completion_tokens == 3 * one.usage.completion_tokens
    assert three.usage.prompt_tokens == one.usage.prompt_tokens
    # n forwarded with a client's other parameters (the gateway's ChatRequest.extra) counts too
    assert len(asyncio.run(provider.complete(_request(extra={"n": 2}))).choices) == 2


def test_streamed_answers_honour_max_tokens_stop_and_n(provider: ExtractiveProvider) -> None:
    request = _request(n=2, max_tokens=9, stop=["sorts"])
    whole = asyncio.run(provider.complete(request))
    assert len(whole.all_choices()) == 2 and whole.content == "The sort() method "
    deltas = _streamed(provider, request)
    assert {d.index for d in deltas} == {0, 1}
    for choice in whole.all_choices():
        text = "".join(d.content for d in deltas if d.index == choice.index)
        assert text == choice.content
        finishes = [d.finish_reason for d in deltas if d.index == choice.index and d.finish_reason]
        assert finishes == [choice.finish_reason]
    assert deltas[-1].usage == whole.usage
    assert all(d.usage is None for d in deltas[:-1])
