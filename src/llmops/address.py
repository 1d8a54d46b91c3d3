"""Where a client on this machine reaches a server bound to ``host:port`` (one rule for all)."""

from __future__ import annotations

__all__ = ["LocalAddress", "local_url"]


def local_url(host: str, port: int) -> str:
    """Return the URL a client on this machine uses for a server bound to ``host:port``."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class LocalAddress:
    """Mixin for a server object with ``host`` and ``port``: its root and OpenAI API URLs."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """Return the server root (no ``/v1``), e.g. ``http://127.0.0.1:8000``."""
        return local_url(self.host, self.port)

    @property
    def base_url(self) -> str:
        """Return the OpenAI API root, ``<url>/v1``."""
        return self.url + "/v1"
