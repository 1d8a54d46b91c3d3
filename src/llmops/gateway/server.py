"""Run the gateway under uvicorn (uvloop + httptools), in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.address import LocalAddress, local_url
from llmops.errors import StateError
from llmops.gateway.app import create_app
from llmops.gateway.runtime import GatewayRuntime

if TYPE_CHECKING:
    import uvicorn

    from llmops.config import Settings

__all__ = ["GatewayServer", "local_url", "run"]


def _uvicorn_config(app: Any, host: str, port: int, log_level: str, **extra: Any) -> uvicorn.Config:
    import uvicorn

    from llmops.gateway.http_protocol import CoalescingHttpToolsProtocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,  # httptools, one write per response
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_keep_alive=30,
        backlog=4096,
        **extra,
    )


def run(
    config_path: str | Path,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted (``llmops serve``)."""
    import uvicorn

    runtime = GatewayRuntime.from_file(config_path, settings)
    server_cfg = runtime.config.server
    host = host or server_cfg.host
    port = server_cfg.port if port is None else port
    runtime.listen_url = local_url(host, port) if port else None  # port 0: unknown until bound
    config = _uvicorn_config(create_app(runtime), host, port, log_level)
    uvicorn.Server(config).run()


class GatewayServer(LocalAddress):
    """The gateway on a free loopback port in a background thread (tests, notebooks, demos).

    ::

        with GatewayServer(runtime) as gw:
            OpenAI(base_url=gw.base_url, api_key="x").chat.completions.create(...)
    """

    def __init__(self, runtime: GatewayRuntime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0, *, wait_models: bool = True) -> GatewayServer:
        """Start serving; return once started (and, with ``wait_models``, models loaded)."""
        import uvicorn

        self.runtime.listen_url = local_url(self.host, self.port)
        config = _uvicorn_config(create_app(self.runtime), self.host, self.port, "warning")
        self._server = server = uvicorn.Server(config)
        sock = self._sock

        def target() -> None:
            import uvloop

            # uvicorn skips signal handlers off the main thread; stop() sets should_exit.
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=target, name="llmops-gateway", daemon=True)
        self._thread.start()
        self._wait(lambda: server.started, timeout, "the gateway did not start")
        if wait_models:
            self.wait_ready(max(timeout, 300.0))  # a cold import of torch can take minutes
        return self

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Wait until the embedding model (loaded in the background at start) is ready."""
        self._wait(self.runtime.embedder_loaded, timeout, "the embedding model did not load")

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            alive = self._thread is not None and self._thread.is_alive()
            if not alive or time.monotonic() > deadline:
                raise StateError(what, hint="see the log above")
            time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down (flushes traces) and join the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
