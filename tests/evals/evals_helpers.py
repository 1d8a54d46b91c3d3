"""Shared test data and helpers for the eval tests (imported by conftest and tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmops.testing import Reply
from llmops.testing.replies import Turn, chat_body, dumps

RUBRICS = Path(__file__).with_name("prompts")

# A small golden set about made-up facts; the scripted target knows the answers.
FACTS = {
    "What colour is the zorb?": ("The zorb is blue.", "zorb.md"),
    "How many legs does a quint have?": ("A quint has five legs.", "quint.md"),
    "Where do plinks live?": ("Plinks live in caves.", "plink.md"),
    "What do vexes eat?": ("Vexes eat moss.", "vex.md"),
    "When do glims sleep?": ("Glims sleep at noon.", "glim.md"),
    "Who feeds the trolls?": ("The keeper feeds the trolls.", "troll.md"),
}
UNANSWERABLE = ["What is the zorb's favourite song?", "Who invented the quint?"]
QUESTION = next(iter(FACTS))  # what the cooperative judge asks back (ragas' answer relevancy)


def golden_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for i, (question, (answer, source)) in enumerate(FACTS.items(), start=1):
        records.append(
            {
                "id": f"q{i}",
                "input": question,
                "reference": answer,
                "reference_sources": [source],
                "tags": ["facts"],
                "answerable": True,
            }
        )
    for j, question in enumerate(UNANSWERABLE, start=1):
        records.append(
            {
                "id": f"u{j}",
                "input": question,
                "reference": "I don't know",
                "reference_sources": [],
                "tags": ["unanswerable"],
                "answerable": False,
            }
        )
    return records


def last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content"))
    return ""


def knowing_responder(body: dict[str, Any]) -> Reply:
    """Answer the golden questions right, decline the rest (a well-behaved target)."""
    question = last_user(body)
    if question in FACTS:
        return Reply(content=FACTS[question][0])
    return Reply(content="I don't know based on the provided documents.")


@dataclass
class Project:
    root: Path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def golden(self, records: list[dict[str, Any]], rel: str = "golden_sets/facts.jsonl") -> Path:
        return self.write(rel, "".join(json.dumps(r) + "\n" for r in records))

    def suite(self, data: dict[str, Any], name: str = "facts") -> Path:
        return self.write(f"evals/{name}.yaml", yaml.safe_dump(data, sort_keys=False))

    def settings(self) -> Any:
        from llmops.config import load_settings

        return load_settings(self.root)


def http_suite(url: str, **over: Any) -> dict[str, Any]:
    suite: dict[str, Any] = {
        "dataset": "golden_sets/facts.jsonl",
        "target": {"type": "http", "url": url, "model": "test-model"},
        "metrics": [
            {"type": "contains", "options": {"only": "answerable"}},
            {"type": "rouge-l", "threshold": 0.5, "options": {"only": "answerable"}},
            {"type": "hallucination"},
        ],
        "concurrency": 4,
        "retries": 2,
        # generous: the scripted server answers in milliseconds, but at load 20+ a 5 s timeout
        # fired and the retry made call-count assertions fail (tests of timeouts set their own)
        "timeout": 30,
    }
    suite.update(over)
    return suite


# Test rubrics (prompt files a project copies into prompts/).
JUDGE_RUBRIC = (RUBRICS / "judge-ok.yaml").read_text("utf-8")

RAG_RUBRIC = (RUBRICS / "judge-rag.yaml").read_text("utf-8")


def verdict(score: float, reason: str = "ok") -> str:
    return json.dumps(
        {"score": score, "verdict": "pass" if score >= 0.5 else "fail", "reason": reason}
    )


def is_judge_call(body: dict[str, Any]) -> bool:
    return "evaluator" in str(body.get("messages", [{}])[0].get("content", ""))


def schema_instance(schema: dict[str, Any], *, question: str = QUESTION) -> Any:
    """Return a small valid instance of a JSON Schema: what a cooperative judge sends to a
    structured-output request (every claim supported, committal, ``question`` where one is asked).
    """
    defs = schema.get("$defs", {})

    def instance(node: dict[str, Any], name: str) -> Any:
        if "$ref" in node:
            return instance(defs[node["$ref"].split("/")[-1]], name)
        if "anyOf" in node:
            return instance(node["anyOf"][0], name)
        kind = node.get("type")
        if kind == "object":
            return {k: instance(v, k) for k, v in node.get("properties", {}).items()}
        if kind == "array":
            return [instance(node.get("items", {"type": "string"}), name)]
        if kind == "integer":
            return 0 if name == "noncommittal" else 1
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return name != "noncommittal"
        return question if name == "question" else "supported statement"

    return instance(schema, "")


def ragas_judge_reply(body: dict[str, Any]) -> Reply | None:
    """Answer a ragas structured-output prompt with a valid instance of its schema."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":  # llmops' ragas adapter: the schema is on the wire
        schema = fmt["json_schema"]["schema"]
        return Reply(content=json.dumps(schema_instance(schema)))
    system = str(body["messages"][0].get("content", ""))
    if "json_schema:" not in system:
        return None
    text = system.split("json_schema:", 1)[1].split("Make sure to return", 1)[0]
    return Reply(content=json.dumps(schema_instance(json.loads(text))))


def gateway_reply(
    content: str, contexts: list[dict[str, Any]], *, model: str = "gw-model"
) -> Reply:
    """A chat completion like the llmops gateway sends: cited contexts in an extension field."""
    turn = Turn(Reply(content=content), rid="chatcmpl-gw", model=model, prompt_tokens=5)
    body = {**chat_body(turn, content, "stop"), "llmops": {"contexts": contexts}}
    return Reply(raw_body=dumps(body))
