"""The CLI's way to a running gateway: the same commands whether or not it is up.

While a gateway runs on this project's state root it owns the embedded Qdrant store, so the CLI
sends store work through the gateway's admin API with the local admin credential it wrote
(``credential.py``). ``retriever_for`` and ``pipeline_for`` return objects the commands use as
they use a local ``Retriever`` or ``Pipeline``; with no gateway running (or a Qdrant server in
``qdrant.url``, which any number of processes share) they return the local ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import LLMOpsError, NotFoundError, StateError, UsageError
from llmops.gateway.credential import LocalCredential, read_credential

if TYPE_CHECKING:
    from llmops.config import Settings
    from llmops.lineage import IndexLineage
    from llmops.rag.manifest import Manifest
    from llmops.rag.pipeline import BuildResult, Pipeline
    from llmops.rag.retriever import RetrievalResult

__all__ = ["AdminClient", "RemotePipeline", "RemoteRetriever", "pipeline_for", "retriever_for"]

_ERRORS: dict[int, type[LLMOpsError]] = {400: UsageError, 404: NotFoundError, 503: StateError}


class AdminClient:
    """Calls a running gateway's admin API with the local admin credential."""

    def __init__(self, credential: LocalCredential) -> None:
        self.credential = credential

    @classmethod
    def running(cls, settings: Settings) -> AdminClient | None:
        """Return a client for the gateway that owns this project's embedded store, if any."""
        if settings.qdrant.url:
            return None  # a Qdrant server is shared: no need to go through the gateway
        found = read_credential(settings.state_path)
        return cls(found) if found is not None else None

    def call(
        self, method: str, path: str, *, json: Any = None, params: Any = None, timeout: float | None
    ) -> Any:
        """Return the JSON answer of ``method path``; LLMOpsError for an error answer."""
        import httpx

        url = self.credential.url + path
        headers = {"authorization": f"Bearer {self.credential.token}"}
        try:
            r = httpx.request(
                method, url, json=json, params=params, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise StateError(
                f"the running gateway (pid {self.credential.pid}) at {self.credential.url} "
                f"does not answer: {type(exc).__name__}",
                hint="it owns the embedded store: wait until it is up, or stop it "
                f"(its credential is {self.credential.path})",
            ) from None
        if r.status_code >= 400:
            try:
                message = str(r.json()["error"]["message"])
            except (ValueError, KeyError, TypeError):
                message = r.text[:300]
            kind = _ERRORS.get(r.status_code, LLMOpsError)
            raise kind(f"{message} (via the gateway at {self.credential.url})")
        return r.json()


class RemoteRetriever:
    """``Retriever.retrieve`` through the gateway that owns the store."""

    def __init__(self, client: AdminClient, pipeline: RemotePipeline) -> None:
        self.client = client
        self.pipeline = pipeline

    def served_lineage(self) -> IndexLineage:
        """Return the lineage of the version the gateway's alias serves now."""
        manifest = self.pipeline.served()
        if manifest is None:
            from llmops.rag.manifest import not_served

            raise not_served(self.pipeline.name)
        return manifest.lineage()

    def retrieve(self, query: str, **options: Any) -> RetrievalResult:
        """Return the chunks the gateway's ``Retriever.retrieve(query, **options)`` found.

        The options (``k``, ``filters``, ``hybrid``, ``mmr``) are declared once, by the local
        ``Retriever`` and the gateway's ``QueryRequest``, which refuses an unknown one (a 400 that
        becomes a ``UsageError`` naming it).
        """
        from llmops.rag.retriever import RetrievalResult

        body = {**options, "pipeline": self.pipeline.ref, "query": query}
        return RetrievalResult.model_validate(
            self.client.call("POST", "/admin/query", json=body, timeout=120)
        )


class RemotePipeline:
    """A local ``Pipeline`` whose store work (serve status, build, rollback) the gateway does.

    Everything that reads files only (spec, manifests, source changes) stays local.
    """

    def __init__(self, client: AdminClient, local: Pipeline) -> None:
        self._client = client
        self._local = local
        self._ref = str(local.path) if getattr(local, "path", None) else local.name

    @property
    def ref(self) -> str:
        """The pipeline as the gateway resolves it: its file's absolute path, else its name."""
        return self._ref

    def __getattr__(self, name: str) -> Any:
        return getattr(self._local, name)

    def served(self) -> Manifest | None:
        """Return the manifest of the version the gateway's store serves, if any."""
        found = self._client.call(
            "GET", "/admin/index/served", params={"pipeline": self._ref}, timeout=60
        )
        version = found.get("served_version")
        return self._local.manifests.read(version) if version else None

    def changed_files(self, manifest: Any = None) -> dict[str, list[str]]:
        """Compare the sources with ``manifest`` (default: the served one)."""
        return self._local.changed_files(manifest or self.served())

    def run(
        self, *, full: bool = False, progress: Any = None, allow_shrink: bool = False
    ) -> BuildResult:
        """Build in the gateway (it owns the store) and return what the build did."""
        from llmops.lineage import IndexLineage
        from llmops.rag.pipeline import BuildResult

        data = self._client.call(
            "POST",
            "/admin/index/run",
            json={"pipeline": self._ref, "full": full, "allow_shrink": allow_shrink},
            timeout=None,
        )
        data["lineage"] = IndexLineage.model_validate(data["lineage"])
        data["manifest_path"] = Path(data["manifest_path"])
        result = BuildResult(**data)
        if progress is not None:
            progress("done", dict(result.counts))
        return result

    def rollback(self, to: str | None = None) -> tuple[str | None, str]:
        """Switch the served version in the gateway; return (previous, new)."""
        data = self._client.call(
            "POST", "/admin/index/rollback", json={"pipeline": self._ref, "to": to}, timeout=120
        )
        return data["from"], data["to"]


def retriever_for(pipeline: str, settings: Settings) -> Any:
    """Return a retriever for ``pipeline``: the running gateway's, else a local one."""
    client = AdminClient.running(settings)
    if client is not None:
        from llmops.rag.pipeline import Pipeline

        return RemoteRetriever(client, RemotePipeline(client, Pipeline.resolve(pipeline, settings)))
    from llmops.rag.retriever import Retriever

    return Retriever.from_pipeline(pipeline, settings)


def pipeline_for(pipeline: str, settings: Settings) -> Any:
    """Return ``pipeline`` (name or file): through the running gateway, else local."""
    from llmops.rag.pipeline import Pipeline

    local = Pipeline.resolve(pipeline, settings)
    client = AdminClient.running(settings)
    return RemotePipeline(client, local) if client is not None else local
