"""``serving/gateway.yaml``: server limits, auth, upstream pools and routes.

A route maps a public model name to an optional prompt ref, an optional RAG pipeline, an upstream
pool and a release strategy. Unknown keys refuse to load with the file, the line and a
did-you-mean (``llmops.validation.load_yaml_model``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.errors import ConfigError
from llmops.guards.config import GuardsConfig
from llmops.validation import validate_model
from llmops.yamlfile import load_yaml

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = [
    "ArmConfig",
    "AuthConfig",
    "BreakerConfig",
    "GatewayConfig",
    "HealthConfig",
    "KeyRateLimit",
    "PoolConfig",
    "ReleaseConfig",
    "ReplicaConfig",
    "RetrievalConfig",
    "RetryConfig",
    "RouteConfig",
    "ServerConfig",
    "ShadowConfig",
    "SharedStateConfig",
    "TimeoutConfig",
    "TraceConfig",
    "load_gateway_config",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Model):
    """Where to listen and what a request may contain."""

    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 to expose")
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger bodies get 413")
    max_messages: int = Field(256, ge=1, description="more messages get 400")
    cors_origins: list[str] = Field(
        default_factory=list, description="allowed browser origins; empty = CORS off"
    )
    return_contexts: bool = Field(
        True, description="add the retrieved contexts to RAG responses (field 'llmops')"
    )
    embedding_models: list[str] = Field(
        default_factory=lambda: ["all-MiniLM-L6-v2"],
        description="model names served by /v1/embeddings with the local model; "
        "empty = no embeddings (and no model loaded at start)",
    )
    local_admin: bool = Field(
        True,
        description="write a local admin credential under the state root (owner-only file) "
        "so the CLI on this machine reaches this gateway's admin API",
    )


class KeyRateLimit(_Model):
    """A token bucket per key on requests and on tokens (prompt + completion)."""

    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    burst: float | None = Field(
        None, gt=0, description="request bucket size; default one minute of requests"
    )


class AuthConfig(_Model):
    """API keys, stored as SHA-256 hashes in a file and/or an environment variable."""

    enabled: bool = Field(False, description="require 'Authorization: Bearer <key>'")
    keys_file: str | None = Field(
        None, description="YAML file with hashed keys, relative to the project root"
    )
    keys_env: str | None = Field(
        "LLMOPS_GATEWAY_KEYS",
        description="env var with a JSON list of keys in the keys_file entry format",
    )
    default_rate_limit: KeyRateLimit = Field(
        default_factory=KeyRateLimit, description="applies to keys without their own limit"
    )


class TimeoutConfig(_Model):
    """Per-upstream timeouts in seconds."""

    connect: float = Field(2.0, gt=0)
    read: float = Field(
        60.0, gt=0, description="longest wait for the upstream: its headers, then each body piece"
    )


class RetryConfig(_Model):
    """Retries on connection errors, 408, 429 and 5xx, with jittered exponential backoff."""

    attempts: int = Field(3, ge=1, description="tries in total per pool, first one included")
    backoff: float = Field(0.1, ge=0, description="first backoff in seconds")
    max_backoff: float = Field(2.0, ge=0)
    honour_retry_after: bool = Field(True, description="wait as long as Retry-After says")
    max_retry_after: float = Field(10.0, ge=0, description="give up on longer Retry-After")


class BreakerConfig(_Model):
    """A circuit breaker per replica."""

    failures: int = Field(5, ge=1, description="consecutive failures that open the breaker")
    reset_after: float = Field(30.0, gt=0, description="seconds before a half-open probe")


class HealthConfig(_Model):
    """Active health checks per replica; unhealthy replicas are drained."""

    enabled: bool = True
    paths: list[str] = Field(
        default_factory=lambda: ["/health", "/v1/models"],
        description="tried in order, relative to the server root; first 2xx = healthy",
    )
    interval: float = Field(5.0, gt=0)
    timeout: float = Field(2.0, gt=0)


class ReplicaConfig(_Model):
    """One server of a pool."""

    base_url: str = Field(description="OpenAI-compatible API root, e.g. http://vllm:8000/v1")
    name: str | None = Field(None, description="label in headers, metrics and traces")
    weight: int = Field(1, ge=1)


class PoolConfig(_Model):
    """An upstream pool: replicas of one model behind one kind of provider."""

    kind: str = Field(
        "openai", description="'openai' (any OpenAI-compatible HTTP API) or a provider kind"
    )
    model: str | None = Field(None, description="model id sent upstream; default: the client's")
    replicas: list[ReplicaConfig] = Field(default_factory=list)
    discover: str | None = Field(
        None,
        description="served name announced by `llmops vllm launch` under <state>/upstreams/; "
        "its server joins the pool as a replica when it appears (checked every health interval)",
    )
    api_key_env: str | None = Field(None, description="env var holding the upstream key")
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider options for non-HTTP kinds (extractive)"
    )
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    retries: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    max_connections: int = Field(
        1000, ge=1, description="idle keep-alive connections kept per replica"
    )
    fallback: str | None = Field(None, description="pool to try when this one fails")

    @model_validator(mode="after")
    def _replicas_for_http(self) -> PoolConfig:
        if self.kind == "openai" and not self.replicas and not self.discover:
            raise ValueError("an 'openai' pool needs at least one replica (base_url) or 'discover'")
        return self


class RetrievalConfig(_Model):
    """How a RAG route retrieves."""

    k: int = Field(4, ge=1, le=100)
    hybrid: bool = False
    mmr: bool = False
    filters: dict[str, Any] | None = None


class ArmConfig(_Model):
    """One arm of a release: what it overrides on the route."""

    name: str
    weight: float = Field(1.0, ge=0)
    prompt: str | None = Field(None, description="prompt ref for this arm")
    upstream: str | None = Field(None, description="pool for this arm")
    model: str | None = Field(None, description="upstream model id for this arm")


class ShadowConfig(_Model):
    """A candidate also called off the response path for a share of requests."""

    share: float = Field(1.0, gt=0, le=1)
    prompt: str | None = None
    upstream: str | None = None
    model: str | None = None


class ReleaseConfig(_Model):
    """Canary, A/B or shadow between prompt versions or upstream models."""

    strategy: Literal["canary", "ab", "shadow"]
    arms: list[ArmConfig] = Field(default_factory=list)
    sticky: str | None = Field(
        "user",
        description="'user' (the request's user field) or 'header:<name>'; unset = random",
    )
    shadow: ShadowConfig | None = None

    @model_validator(mode="after")
    def _shape(self) -> ReleaseConfig:
        if self.strategy in ("canary", "ab") and len(self.arms) < 2:
            raise ValueError(f"strategy '{self.strategy}' needs at least two arms")
        if self.strategy in ("canary", "ab") and sum(a.weight for a in self.arms) <= 0:
            raise ValueError("arm weights must not all be zero")
        if self.strategy == "shadow" and self.shadow is None:
            raise ValueError("strategy 'shadow' needs a 'shadow:' section")
        if self.sticky and self.sticky != "user" and not self.sticky.startswith("header:"):
            raise ValueError("sticky must be 'user' or 'header:<name>'")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return self


class RouteConfig(_Model):
    """A public model name: prompt, retrieval, upstream pool, release strategy and guards."""

    upstream: str = Field(description="pool name")
    prompt: str | None = Field(
        None, description="prompt ref like rag-answer@production; unset = passthrough"
    )
    pipeline: str | None = Field(None, description="RAG pipeline whose index is retrieved")
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    model: str | None = Field(None, description="upstream model id; default: the pool's")
    scopes: list[str] = Field(
        default_factory=list, description="key scopes allowed here (any of); empty = any key"
    )
    release: ReleaseConfig | None = None
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    description: str | None = None


class TraceConfig(_Model):
    """The trace store writer."""

    enabled: bool = True
    url: str | None = Field(None, description="SQLAlchemy URL; default: settings traces.url")
    flush_interval: float = Field(0.5, gt=0, description="seconds between batched writes")
    batch_size: int = Field(500, ge=1)
    record_text: bool = Field(True, description="store questions and answers")


class SharedStateConfig(_Model):
    """What gateway replicas share: rate-limit buckets, key revocations and breaker trips.

    ``memory`` (the default) keeps them in this process: right for one replica, while N
    replicas behind a load balancer would each allow the full rate. ``redis`` keeps them in
    one Redis server that every replica uses.
    """

    backend: Literal["memory", "redis"] = Field(
        "memory", description="'memory' (this process only) or 'redis' (shared by replicas)"
    )
    url: str | None = Field(
        None, description="redis://host:port/db (backend redis); the password goes in password_env"
    )
    password_env: str | None = Field(None, description="env var holding the Redis password")
    prefix: str = Field(
        "llmops:", min_length=1, description="key prefix: one per deployment sharing a Redis"
    )
    when_unavailable: Literal["open", "closed"] = Field(
        "open",
        description="Redis unreachable: 'open' = each replica limits alone with the "
        "revocations it last saw; 'closed' = refuse with 503 until Redis answers",
    )
    timeout: float = Field(0.25, gt=0, description="seconds a Redis call may take")
    retry_after: float = Field(
        2.0, gt=0, description="seconds before a replica tries an unreachable Redis again"
    )
    share_breakers: bool = Field(
        True, description="a breaker opening on one replica opens it on the others"
    )

    @model_validator(mode="after")
    def _url_for_redis(self) -> SharedStateConfig:
        if self.backend == "redis" and not self.url:
            raise ValueError("backend 'redis' needs a url (redis://host:port/db)")
        if self.url and not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("url must start with redis://, rediss:// or unix://")
        return self


class GatewayConfig(_Model):
    """Everything in ``serving/gateway.yaml``."""

    schema_: str | None = Field(None, alias="$schema")
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    traces: TraceConfig = Field(default_factory=TraceConfig)
    shared_state: SharedStateConfig = Field(
        default_factory=SharedStateConfig,
        description="where replicas share rate limits, revocations and breaker trips",
    )
    upstreams: dict[str, PoolConfig] = Field(default_factory=dict)
    routes: dict[str, RouteConfig] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def reference_problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Return (key path, message) for every pool name that points nowhere."""
        problems: list[tuple[tuple[str, ...], str]] = []
        known = ", ".join(sorted(self.upstreams)) or "none"
        for name, pool in self.upstreams.items():
            if pool.fallback is not None and pool.fallback not in self.upstreams:
                problems.append(
                    (
                        ("upstreams", name, "fallback"),
                        f"pool '{name}' falls back to unknown pool '{pool.fallback}' (known: {known})",
                    )
                )
        for name, route in self.routes.items():
            release = _release_refs(name, route, "upstream")
            for loc, pool_name in [(("routes", name, "upstream"), route.upstream), *release]:
                if pool_name not in self.upstreams:
                    problems.append(
                        (
                            loc,
                            f"route '{name}' uses unknown upstream '{pool_name}' (known: {known})",
                        )
                    )
        return problems

    def project_problems(self, settings: Settings) -> list[tuple[tuple[str, ...], ConfigError]]:
        """Return (key path, error) for every prompt ref or pipeline the project lacks.

        ``llmops serve --check`` and the gateway's start-up both run this: a config that
        passes the check is one the gateway accepts.
        """
        from llmops.errors import LLMOpsError

        problems: list[tuple[tuple[str, ...], ConfigError]] = []
        registry: Any = None
        for name, route in self.routes.items():
            for loc, ref in _prompt_refs(name, route):
                try:
                    if registry is None:
                        from llmops.prompts import load_registry

                        registry = load_registry(settings)
                    registry.get(ref)
                except LLMOpsError as exc:
                    message = f"route '{name}' uses prompt '{ref}': {exc.message}"
                    problems.append((loc, ConfigError(message, hint=exc.hint)))
            if route.pipeline:
                try:
                    from llmops.rag.pipeline import Pipeline

                    Pipeline.resolve(route.pipeline, settings)
                except LLMOpsError as exc:
                    message = f"route '{name}' uses pipeline '{route.pipeline}': {exc}"
                    problems.append(
                        (("routes", name, "pipeline"), ConfigError(message, hint=exc.hint))
                    )
        return problems

    def check_references(self, settings: Settings | None = None) -> None:
        """Raise ConfigError when a route names an unknown pool, prompt or pipeline."""
        problems = self.reference_problems()
        if problems:
            loc, message = problems[0]
            raise ConfigError(message, key=".".join(loc))
        if settings is not None:
            for loc, exc in self.project_problems(settings):
                raise ConfigError(exc.message, key=".".join(loc), hint=exc.hint)


def _prompt_refs(name: str, route: RouteConfig) -> list[tuple[tuple[str, ...], str]]:
    refs = [(("routes", name, "prompt"), route.prompt)] if route.prompt else []
    return refs + _release_refs(name, route, "prompt")


def _release_refs(name: str, route: RouteConfig, key: str) -> list[tuple[tuple[str, ...], str]]:
    """Return (key path, value) of ``key`` (prompt, upstream) on the release's arms and shadow."""
    if not route.release:
        return []
    release = ("routes", name, "release")
    parts: list[tuple[tuple[str, ...], ArmConfig | ShadowConfig]] = [
        ((*release, "arms", str(i)), arm) for i, arm in enumerate(route.release.arms)
    ]
    if route.release.shadow:
        parts.append(((*release, "shadow"), route.release.shadow))
    return [((*loc, key), value) for loc, part in parts if (value := getattr(part, key))]


def load_gateway_config(path: str | Path, settings: Settings | None = None) -> GatewayConfig:
    """Load and validate a gateway.yaml; errors name the file, line and key.

    With ``settings``, the prompts and pipelines the routes name must exist in the project.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"gateway config not found: {path}",
            hint="create serving/gateway.yaml (llmops init writes an example) or pass --config",
        )
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("expected a mapping at the top level", file=path, line=1)
    config = validate_model(GatewayConfig, doc)
    for loc, message in config.reference_problems():
        raise ConfigError(message, file=path, line=doc.line_of(_where(loc)), key=".".join(loc))
    for loc, exc in config.project_problems(settings) if settings is not None else []:
        line = doc.line_of(_where(loc))
        raise ConfigError(exc.message, file=path, line=line, key=".".join(loc), hint=exc.hint)
    return config


def _where(loc: tuple[str, ...]) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in loc]


def project_trace_url(settings: Settings) -> str:
    """Return where the project's gateway writes traces: its ``traces.url``, else the default.

    Readers of traces (``llmops model drift``) use this so they look where the gateway writes.
    """
    path = settings.path("serving") / "gateway.yaml"
    if path.is_file():
        url = load_gateway_config(path).traces.url
        if url:
            return url
    return settings.trace_url
