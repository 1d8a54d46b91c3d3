"""A RAG route end to end: retrieve from a real index (embedded Qdrant, real MiniLM), render a
versioned prompt, answer with the offline extractive model, return contexts and lineage; and
the admin index operations the gateway runs in-process as the store's owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from gateway_helpers import running_gateway
from openai import OpenAI
from project_files import extractive_rag_gateway, rag_project_at

from llmops.config import load_settings
from llmops.gateway.auth import hash_key

DOCS = {
    "pasta.md": """\
        # Cooking pasta

        Boil plenty of salted water, add the spaghetti and stir. Cook the spaghetti for nine to
        eleven minutes until al dente, then drain it and toss it with the sauce.
        """,
    "planets.md": """\
        # Planets

        Jupiter is the largest planet in the solar system. Its Great Red Spot is a storm
        larger than Earth.
        """,
    "bikes.md": """\
        # Bicycle care

        Oil the bicycle chain every 300 kilometres. Road tyres need 6 to 8 bar of pressure.
        """,
}


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Iterator[Path]:
    with rag_project_at(tmp_path / "gwrag", DOCS, prompts=repo_root / "prompts") as root:
        yield root


def test_rag_route_end_to_end(project: Path) -> None:
    from llmops.rag import Pipeline

    first = Pipeline.from_name("docs", load_settings(project)).run()
    config = {"auth": {"enabled": True, "keys_env": "GW_RAG_KEYS"}, **extractive_rag_gateway(k=2)}
    keys = orjson.dumps(
        [{"id": "ops", "sha256": hash_key("sk-ops"), "scopes": ["*", "admin"]}]
    ).decode()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GW_RAG_KEYS", keys)
        with running_gateway(config, root=project) as gw:
            client = OpenAI(base_url=gw.base_url, api_key="sk-ops", max_retries=0)
            raw = client.chat.completions.with_raw_response.create(
                model="qa",
                messages=[{"role": "user", "content": "How long should spaghetti cook?"}],
            )
            answer = raw.parse()
            text = answer.choices[0].message.content or ""
            assert "nine to" in text and "eleven minutes" in text
            assert raw.headers["x-llmops-route"] == "qa"
            assert raw.headers["x-llmops-prompt"] == "rag-answer@1"
            assert raw.headers["x-llmops-index"] == first.index_version
            assert raw.headers["x-llmops-upstream"] == "offline"
            extra = orjson.loads(raw.content)["llmops"]
            assert extra["contexts"][0]["source"].endswith("pasta.md")
            assert extra["citations"] and extra["citations"][0] == extra["contexts"][0]["id"]
            assert f"[{extra['citations'][0]}]" in text

            unknown = client.chat.completions.create(
                model="qa",
                messages=[{"role": "user", "content": "Who won the 1998 football world cup?"}],
            )
            assert "don't know" in (unknown.choices[0].message.content or "")

            # Streaming: the same answer in pieces; contexts ride on the final chunk.
            with httpx.stream(
                "POST",
                gw.base_url + "/chat/completions",
                headers={"authorization": "Bearer sk-ops"},
                json={
                    "model": "qa",
                    "stream": True,
                    "messages": [{"role": "user", "content": "How long should spaghetti cook?"}],
                },
            ) as s:
                events = [line[6:] for line in s.iter_lines() if line.startswith("data: ")]
            assert events[-1] == "[DONE]"
            chunks = [orjson.loads(e) for e in events[:-1]]
            streamed = "".join(
                c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
            )
            assert streamed == text
            assert chunks[-1]["llmops"]["contexts"][0]["source"].endswith("pasta.md")

            gw.runtime.writer.flush()
            trace = gw.runtime.store.query(request_id=raw.headers["x-request-id"])[0]  # type: ignore[union-attr]
            assert (
                trace["index_version"] == first.index_version and trace["index_pipeline"] == "docs"
            )
            assert trace["prompt_name"] == "rag-answer" and trace["prompt_hash"]
            assert (
                len(trace["chunk_ids"]) == 2
                and trace["chunk_scores"][0] >= trace["chunk_scores"][1]
            )
            assert (
                trace["retrieval_ms"] > 0 and trace["question"] == "How long should spaghetti cook?"
            )

            # Index operations run in the gateway process, which owns the embedded store.
            ops = {"authorization": "Bearer sk-ops"}
            (project / "docs" / "tea.md").write_text(
                "# Tea\n\nSteep green tea for two minutes at 80 degrees.\n"
            )
            built = httpx.post(gw.url + "/admin/index/docs/run", headers=ops, timeout=120)
            assert built.status_code == 200, built.text
            second = built.json()["index_version"]
            assert second != first.index_version
            tea = client.chat.completions.with_raw_response.create(
                model="qa",
                messages=[{"role": "user", "content": "How long should green tea steep?"}],
            )
            assert tea.headers["x-llmops-index"] == second
            assert "two minutes" in (tea.parse().choices[0].message.content or "")
            back = httpx.post(gw.url + "/admin/index/docs/rollback", headers=ops)
            assert back.status_code == 200 and back.json()["to"] == first.index_version
            again = client.chat.completions.with_raw_response.create(
                model="qa",
                messages=[{"role": "user", "content": "How long should spaghetti cook?"}],
            )
            assert again.headers["x-llmops-index"] == first.index_version
            missing = httpx.post(gw.url + "/admin/index/nope/run", headers=ops)
            assert missing.status_code in (400, 404) and "error" in missing.json()
