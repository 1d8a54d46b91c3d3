"""to_langchain() and to_llama_index() render through the real libraries exactly like render()."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops.prompts import PromptVersion, load_registry

CONTEXTS = [
    {"id": "doc-1", "text": "Qdrant stores vectors.", "source": "qdrant.md"},
    {"id": "doc-2", "text": "MLflow tracks runs.", "source": "mlflow.md"},
]
CASES: list[tuple[str, dict[str, Any]]] = [
    ("rag-answer@1", {"question": "Where?", "contexts": CONTEXTS}),
    ("rag-answer@2", {"question": "Where?", "contexts": CONTEXTS}),  # default max_sentences
    ("rag-answer@2", {"question": "Where?", "contexts": CONTEXTS, "max_sentences": 2}),
    ("query-rewrite", {"question": "and its size?"}),
    ("query-rewrite", {"question": "size?", "history": [{"role": "user", "content": "qdrant?"}]}),
    ("judge-faithfulness", {"question": "q", "answer": "a [doc-1]", "contexts": CONTEXTS}),
    ("judge-relevance", {"question": "q", "answer": "a", "contexts": CONTEXTS}),
]
IDS = ["rag1", "rag2-default", "rag2-set", "rewrite", "rewrite-history", "faith", "relevance"]
_LC_ROLE = {"system": "system", "human": "user", "ai": "assistant"}


def _version(shipped: Path, ref: str) -> PromptVersion:
    return load_registry(shipped).get(ref)


@pytest.mark.parametrize(("ref", "variables"), CASES, ids=IDS)
def test_langchain_renders_like_llmops(shipped: Path, ref: str, variables: dict[str, Any]) -> None:
    from langchain_core.prompts import ChatPromptTemplate

    version = _version(shipped, ref)
    template = version.to_langchain()
    assert isinstance(template, ChatPromptTemplate)
    ours = version.render(**variables).messages
    theirs = [
        {"role": _LC_ROLE[m.type], "content": m.content}
        for m in template.format_messages(**variables)
    ]
    assert theirs == ours
    required = {k for k, v in version.variables.items() if v.is_required}
    assert set(template.input_variables) == required


@pytest.mark.parametrize(("ref", "variables"), CASES, ids=IDS)
def test_llama_index_renders_like_llmops(
    shipped: Path, ref: str, variables: dict[str, Any]
) -> None:
    from llama_index.core.prompts import ChatPromptTemplate

    version = _version(shipped, ref)
    template = version.to_llama_index()
    assert isinstance(template, ChatPromptTemplate)
    ours = version.render(**variables).messages
    theirs = [
        {"role": m.role.value, "content": m.content} for m in template.format_messages(**variables)
    ]
    assert theirs == ours


def test_llama_index_plain_template_is_native(project: Path) -> None:
    (project / "prompts" / "hi.yaml").write_text(
        "name: hi\nvariables:\n  who: {type: string}\n  mood: {type: string, default: calm}\n"
        "messages:\n  - role: system\n    content: Be {{ mood }}.\n"
        '  - role: user\n    content: |\n      Greet {{who}} with {"json": true}.\n'
    )
    version = load_registry(project).get("hi@draft")
    template = version.to_llama_index()
    assert template.message_templates[0].content == "Be {mood}."
    assert not template.function_mappings or "llmops_message_0" not in template.function_mappings
    # the second message has literal braces, so llmops renders it
    assert template.function_mappings and "llmops_message_1" in template.function_mappings
    messages = template.format_messages(who="Ann")
    assert [m.content for m in messages] == [
        m["content"] for m in version.render(who="Ann").messages
    ]
    assert messages[1].content == 'Greet Ann with {"json": true}.'
