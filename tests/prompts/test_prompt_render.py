"""The Python API: resolving refs and strict rendering of the shipped prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmops
from llmops.errors import ConfigError, NotFoundError, UsageError
from llmops.prompts import PromptRegistry, RenderedPrompt, load_registry

CONTEXTS = [
    {"id": "doc-1", "text": "Qdrant stores vectors.", "source": "qdrant.md"},
    {"id": "doc-2", "text": "MLflow tracks runs.", "source": "mlflow.md"},
]


@pytest.fixture
def registry(shipped: Path) -> PromptRegistry:
    return load_registry(shipped)


def test_public_api_is_reachable_from_the_package() -> None:
    assert llmops.load_registry is load_registry
    assert llmops.RenderedPrompt is RenderedPrompt
    assert llmops.PromptRegistry is PromptRegistry


def test_render_rag_answer_production(registry: PromptRegistry) -> None:
    rendered = registry.get("rag-answer@production").render(
        question="Where are vectors stored?", contexts=CONTEXTS
    )
    assert [m["role"] for m in rendered.messages] == ["system", "user"]
    system, user = (m["content"] for m in rendered.messages)
    assert "only" in system and "[doc-1]" in system and "I don't know" in system
    assert "[doc-1] (source: qdrant.md)\nQdrant stores vectors." in user
    assert "[doc-2] (source: mlflow.md)\nMLflow tracks runs." in user
    assert user.rstrip().endswith("Question: Where are vectors stored?")
    assert rendered.params == {"temperature": 0.0, "max_tokens": 512}
    lineage = rendered.lineage
    lock = registry.read_lock().prompts["rag-answer"]
    assert (lineage.name, lineage.version) == ("rag-answer", str(lock.labels["production"]))
    assert lineage.content_hash == lock.versions[lock.labels["production"]].hash


def test_refs_resolve_to_the_right_versions(registry: PromptRegistry) -> None:
    lock = registry.read_lock().prompts["rag-answer"]
    assert lock.labels["production"] != lock.labels["staging"]
    assert registry.get("rag-answer").version == lock.labels["production"]
    assert registry.get("rag-answer@staging").version == lock.labels["staging"]
    assert registry.get("rag-answer@latest").version == max(lock.versions)
    assert registry.get("rag-answer@1").version == 1
    assert registry.get("rag-answer@draft").version is None
    assert registry.get("rag-answer@draft").lineage.version == "draft"


def test_staging_version_has_defaulted_variable(registry: PromptRegistry) -> None:
    version = registry.get("rag-answer@2")
    default = version.render(question="q", contexts=CONTEXTS)
    assert "at most 4 sentences" in default.messages[0]["content"]
    assert default.variables["max_sentences"] == 4
    two = version.render(question="q", contexts=CONTEXTS, max_sentences=2)
    assert "at most 2 sentences" in two.messages[0]["content"]
    # v2 tolerates contexts without a source
    bare = version.render(question="q", contexts=[{"id": "a", "text": "t"}])
    assert "[a]\nt" in bare.messages[1]["content"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"contexts": CONTEXTS}, "missing required variable 'question' for rag-answer@1"),
        (
            {"question": "q", "contexts": "not a list"},
            "variable 'contexts' of rag-answer@1: expected an array, got string \"not a list\"",
        ),
        (
            {"question": 3, "contexts": CONTEXTS},
            "variable 'question' of rag-answer@1: expected a string, got integer 3",
        ),
        (
            {"question": "q", "contexts": CONTEXTS, "contxts": []},
            "rag-answer@1 has no variable 'contxts' (did you mean 'contexts'?)",
        ),
        (
            {"question": "q", "contexts": [{"text": "no id"}]},
            "cannot render rag-answer@1: 'dict object' has no attribute 'id'",
        ),
    ],
    ids=["missing", "wrong-type-array", "wrong-type-string", "unknown", "bad-shape"],
)
def test_render_is_strict(
    registry: PromptRegistry, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        registry.get("rag-answer@1").render(**kwargs)
    assert info.value.message == message


def test_integer_is_not_a_boolean(registry: PromptRegistry) -> None:
    with pytest.raises(UsageError, match="expected an integer, got boolean"):
        registry.get("rag-answer@2").render(question="q", contexts=[], max_sentences=True)


@pytest.mark.parametrize("name", ["judge-faithfulness", "judge-relevance"])
def test_judge_rubrics_demand_a_json_verdict(registry: PromptRegistry, name: str) -> None:
    rendered = registry.get(name).render(
        question="Where are vectors stored?", answer="In Qdrant [doc-1].", contexts=CONTEXTS
    )
    system, user = (m["content"] for m in rendered.messages)
    for word in ('"score"', '"verdict"', '"reason"', '"pass"', '"fail"', "JSON"):
        assert word in system, word
    assert "In Qdrant [doc-1]." in user and "[doc-2] MLflow tracks runs." in user
    # structured outputs; the verdict schema is filled in by the judge metric
    assert rendered.params["response_format"] == {"type": "json_schema"}
    assert rendered.params["temperature"] == 0.0


def test_query_rewrite_with_and_without_history(registry: PromptRegistry) -> None:
    version = registry.get("query-rewrite")
    alone = version.render(question="how big is it?")
    assert len(alone.messages) == 1 and alone.messages[0]["role"] == "user"
    assert "Conversation so far" not in alone.text
    assert alone.text.rstrip().endswith("Latest question: how big is it?\nStandalone query:")
    history = [{"role": "user", "content": "what is qdrant?"}]
    follow = version.render(question="how big is it?", history=history)
    assert "Conversation so far:\nuser: what is qdrant?" in follow.text
    assert follow.params["stop"] == ["\n"]


def test_sandbox_blocks_python_internals(project: Path) -> None:
    (project / "prompts" / "evil.yaml").write_text(
        "name: evil\nvariables:\n  x: {type: string}\n"
        'template: "{{ x.__class__.__mro__[1].__subclasses__() }}"\n'
    )
    with pytest.raises(UsageError, match="cannot render evil@draft"):
        load_registry(project).get("evil@draft").render(x="s")


@pytest.mark.parametrize(
    ("ref", "message", "hint"),
    [
        (
            "rag-answr",
            "no prompt named 'rag-answr' (did you mean 'rag-answer'?)",
            "judge-faithfulness",
        ),
        ("rag-answer@9", "prompt 'rag-answer' has no version 9", "versions 1, 2"),
        (
            "rag-answer@prod",
            "prompt 'rag-answer' has no label 'prod' (did you mean 'production'?)",
            "labels production -> 1, staging -> 2",
        ),
        ("rag answer", "invalid prompt reference 'rag answer'", "NAME@production"),
        ("rag-answer@", "invalid prompt reference 'rag-answer@'", "NAME@latest"),
    ],
)
def test_not_found_lists_what_exists(
    registry: PromptRegistry, ref: str, message: str, hint: str
) -> None:
    with pytest.raises(UsageError) as info:
        registry.get(ref)
    assert info.value.message == message
    assert hint in (info.value.hint or "")


def test_unreleased_prompt_points_at_draft(project: Path) -> None:
    (project / "prompts" / "new.yaml").write_text("name: new\ntemplate: hi\n")
    registry = load_registry(project)
    with pytest.raises(NotFoundError, match="has no released versions") as info:
        registry.get("new")
    assert "new@draft" in (info.value.hint or "")
    assert registry.get("new@draft").render().text == "hi"


def test_rendered_prompt_is_json_ready(registry: PromptRegistry) -> None:
    rendered = registry.get("rag-answer").render(question="q", contexts=CONTEXTS)
    data = json.loads(rendered.model_dump_json())
    assert data["lineage"]["name"] == "rag-answer"
    assert data["messages"][0]["role"] == "system"


def test_cached_get_sees_every_edit(released: Path) -> None:
    registry = load_registry(released)
    draft = released / "prompts" / "greet.yaml"
    first = registry.get("greet@draft")
    assert registry.get("greet@draft") is first  # parsed once while unchanged
    # same size, same second: only the bytes differ
    draft.write_text(draft.read_text().replace("polite", "poLite"))
    assert registry.get("greet@draft").render(who="x").messages[0]["content"] == "You are poLite."
    released_file = released / "prompts" / "greet" / "1.yaml"
    assert registry.get("greet@1").version == 1
    released_file.write_text(released_file.read_text().replace("polite", "poLite"))
    with pytest.raises(ConfigError, match="no longer matches its hash"):
        registry.get("greet@1")
    with pytest.raises(ConfigError, match="no longer matches its hash"):
        registry.get("greet")
