"""API keys stored as SHA-256 hashes (a YAML file and/or an environment variable), with scopes.

A keys file looks like::

    keys:
      - id: web-frontend
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        scopes: [chat]            # route scopes; '*' = every route; 'admin' = admin endpoints
        rate_limit: {requests_per_minute: 600, tokens_per_minute: 200000}

``llmops serve --hash-key KEY`` prints the hash to store. Plain keys are never stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmops.errors import ConfigError
from llmops.gateway.config import AuthConfig, KeyRateLimit
from llmops.gateway.responses import ApiError
from llmops.gateway.revocations import Revocations
from llmops.validation import load_yaml_model

__all__ = [
    "ADMIN_SCOPE",
    "LOCAL_ADMIN_ID",
    "ApiKey",
    "KeyEntry",
    "KeyStore",
    "KeysFile",
    "hash_key",
]

ADMIN_SCOPE = "admin"
#: The key id of the local admin credential the gateway writes for the CLI on this machine.
LOCAL_ADMIN_ID = "local-admin"


def hash_key(key: str) -> str:
    """Return the hex SHA-256 of an API key (what the keys file stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyEntry(BaseModel):
    """One stored key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="name shown in traces and metrics")
    sha256: str = Field(description="hex SHA-256 of the key")
    scopes: list[str] = Field(default_factory=lambda: ["*"])
    rate_limit: KeyRateLimit | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError("must be 64 hex characters (llmops serve --hash-key KEY prints it)")
        return value


class KeysFile(BaseModel):
    """The keys file."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class ApiKey:
    """An authenticated caller."""

    id: str
    scopes: frozenset[str]
    rate_limit: KeyRateLimit
    #: The stored SHA-256 of the key (None for the anonymous caller): what a revocation names.
    sha256: str | None = None

    def allows_route(self, route_scopes: list[str]) -> bool:
        """Return True when the key may call a route requiring any of ``route_scopes``."""
        if "*" in self.scopes or not route_scopes:
            return True
        return any(s in self.scopes for s in route_scopes)

    @property
    def is_admin(self) -> bool:
        """Return True for keys with the admin scope."""
        return ADMIN_SCOPE in self.scopes


ANONYMOUS_ID = "anonymous"


class KeyStore:
    """Look callers up by the SHA-256 of their bearer token."""

    def __init__(
        self, config: AuthConfig, root: Path, revocations: Revocations | None = None
    ) -> None:
        self.enabled = config.enabled
        self.revocations = revocations if revocations is not None else Revocations()
        self._default_limit = config.default_rate_limit
        entries: list[KeyEntry] = []
        if config.keys_file:
            path = (root / config.keys_file).resolve()
            entries += load_yaml_model(path, KeysFile).keys
        if config.keys_env and os.environ.get(config.keys_env):
            entries += self._from_env(config.keys_env)
        if self.enabled and not entries:
            raise ConfigError(
                "auth is enabled but no API keys are configured",
                hint=f"add auth.keys_file or set {config.keys_env or 'auth.keys_env'}",
            )
        self._by_hash: dict[str, ApiKey] = {
            e.sha256: ApiKey(
                e.id, frozenset(e.scopes), e.rate_limit or self._default_limit, e.sha256
            )
            for e in entries
        }
        self.anonymous = ApiKey(ANONYMOUS_ID, frozenset({"*"}), self._default_limit)
        self._local_admin: tuple[str, ApiKey] | None = None

    def set_local_admin(self, token: str) -> None:
        """Accept ``token`` as the local admin credential (admin scope, also with auth off)."""
        key = ApiKey(LOCAL_ADMIN_ID, frozenset({ADMIN_SCOPE, "*"}), KeyRateLimit())
        self._local_admin = (hash_key(token), key)

    @staticmethod
    def _from_env(name: str) -> list[KeyEntry]:
        try:
            return KeysFile.model_validate({"keys": json.loads(os.environ[name])}).keys
        except (ValueError, ValidationError) as exc:
            raise ConfigError(
                f"environment variable {name} is not a JSON list of keys: {exc}",
                hint='e.g. [{"id": "ci", "sha256": "<hex>", "scopes": ["*"]}]',
            ) from None

    def by_id(self, key_id: str) -> ApiKey | None:
        """Return the key with this id (the anonymous caller included)."""
        if key_id == ANONYMOUS_ID:
            return self.anonymous
        if self._local_admin is not None and key_id == LOCAL_ADMIN_ID:
            return self._local_admin[1]
        return next((k for k in self._by_hash.values() if k.id == key_id), None)

    def __len__(self) -> int:
        return len(self._by_hash)

    def stored(self) -> list[ApiKey]:
        """Return the keys from the keys file and environment (not the local admin)."""
        return list(self._by_hash.values())

    def digests_of(self, key_id: str) -> list[str]:
        """Return the stored digests of the keys called ``key_id`` (one, unless reused)."""
        return [digest for digest, key in self._by_hash.items() if key.id == key_id]

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """Return the key for an ``Authorization: Bearer`` header value, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        # Lookup by digest: timing reveals nothing usable about a stored key's plaintext.
        digest = hash_key(token.strip())
        if self._local_admin is not None and digest == self._local_admin[0]:
            return self._local_admin[1]
        if digest in self.revocations:
            return None
        return self._by_hash.get(digest)

    def caller(self, authorization: bytes | str | None) -> ApiKey:
        """Return who sent a request (anonymous with auth off); a 401 ApiError otherwise.

        The one authentication step of the gateway: the front door calls it for every route
        that is not public.
        """
        if isinstance(authorization, bytes):
            authorization = authorization.decode("latin-1")
        if not self.enabled:
            if authorization and self._local_admin is not None:
                return self.authenticate(authorization) or self.anonymous
            return self.anonymous
        key = self.authenticate(authorization)
        if key is None:
            if authorization and len(self.revocations):
                self.refuse_if_revoked(hash_key(authorization.partition(" ")[2].strip()))
            raise ApiError(
                401,
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )
        return key

    def refuse_if_revoked(self, digest: str | None) -> None:
        """Raise the 401 ApiError of a revoked key when ``digest`` is revoked."""
        if digest is None or digest not in self.revocations:
            return
        key = self._by_hash.get(digest)
        raise ApiError(
            401,
            f"API key '{key.id if key else 'unknown'}' has been revoked",
            code="invalid_api_key",
        )

    def require_admin(self, key: ApiKey) -> None:
        """Raise a 403 ApiError unless ``key`` may use the admin endpoints."""
        if key.is_admin:
            return
        if not self.enabled:
            raise ApiError(
                403,
                "admin endpoints need auth: set auth.enabled and give a key the 'admin' scope "
                "(the CLI on this machine uses the gateway's local admin credential)",
                code="admin_disabled",
            )
        raise ApiError(403, f"key '{key.id}' lacks the 'admin' scope", code="insufficient_scope")
