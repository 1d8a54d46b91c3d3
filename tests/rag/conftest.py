"""Fixtures for the RAG tests: tiny projects on disk, the real model, real Qdrant local mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from project_files import docs_pipeline, write_rag_project

from llmops.config import Settings, load_settings

DOCS: dict[str, str] = {
    "deploy.md": """\
        ---
        title: Deploying the service
        team: ops
        ---
        # Deploying the service

        ## Requirements

        The service needs Python 3.11 and a Qdrant folder or server. Set qdrant.url to use a
        server; without it vectors live in an embedded store.

        ## Rolling back

        Every index build is a new version. Run the rollback command to serve the previous
        version again when answers get worse after a build.
        """,
    "cooking/pasta.md": """\
        ---
        team: kitchen
        ---
        # Cooking pasta

        Boil plenty of salted water, add the spaghetti and stir. Cook for nine to eleven
        minutes until al dente, then drain and toss with the sauce.

        ## Sauce

        A simple tomato sauce needs olive oil, garlic, crushed tomatoes and basil, simmered
        for twenty minutes.
        """,
    "astronomy.rst": """\
        Planets
        =======

        Jupiter is the largest planet in the solar system; its Great Red Spot is a storm
        larger than Earth.

        Moons
        -----

        Titan, a moon of Saturn, has a thick nitrogen atmosphere and lakes of liquid methane.
        """,
    "notes.txt": "The quarterly report is due on the fifth working day of each quarter.\n",
    "page.html": """\
        <html><head><title>Bicycle care</title><style>p {color: red}</style></head>
        <body><h1>Bicycle care</h1><p>Oil the chain every 300 kilometres.</p>
        <h2>Tyres</h2><p>Check tyre pressure weekly; road tyres need 6 to 8 bar.</p>
        <script>var ignored = "secret script text";</script></body></html>
        """,
    "faq.jsonl": (
        '{"id": "q1", "text": "The office opens at 8 am and closes at 6 pm.", "lang": "en"}\n'
        '{"id": "q2", "text": "Parking is free for visitors in the north garage.", "lang": "en"}\n'
    ),
}

PIPELINE = docs_pipeline(
    """\
    embedding:
      batch_size: 8
    store:
      retention: 2
      upsert_batch: 8
    """
)


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    """Each test has its own state root; release the stores it opened."""
    yield
    from llmops.rag.store import close_stores

    close_stores()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with llmops.yaml, docs/ and rag_pipelines/docs.yaml."""
    return write_rag_project(tmp_path / "ragtest", DOCS, pipeline=PIPELINE)


@pytest.fixture
def settings(project: Path) -> Settings:
    """Settings of the test project."""
    return load_settings(project)


@pytest.fixture
def make_pipeline(settings: Settings) -> Callable[..., object]:
    """Return ``make(name='docs')`` loading a pipeline of the test project."""
    from llmops.rag import Pipeline

    def make(name: str = "docs") -> Pipeline:
        return Pipeline.from_name(name, settings)

    return make


@pytest.fixture(scope="session")
def embedder() -> object:
    """The real MiniLM model, loaded once."""
    from llmops.embeddings import get_embedder

    return get_embedder()
