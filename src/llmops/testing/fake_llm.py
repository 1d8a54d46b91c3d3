"""A scripted OpenAI-compatible server for tests and CI: real HTTP on loopback, no model.

Use it wherever an LLM would be called (your gateway, your eval suite, your app's CI)::

    from llmops.testing import Reply, ScriptedLLMServer

    with ScriptedLLMServer() as srv:
        srv.enqueue(Reply("Paris [doc-1]"), Reply(status=503, retry_after=1))
        client = openai.OpenAI(base_url=srv.base_url, api_key="test")
        ...
        assert srv.requests[0]["json"]["messages"][-1]["content"] == "Capital of France?"

Replies are served FIFO from ``enqueue``; when the queue is empty the ``set_responder``
function decides, else the server echoes the last user message. It speaks raw HTTP/1.1 with
keep-alive on its own asyncio loop (uvloop when installed) in a background thread, so it keeps
up with a gateway benchmark at well over 1,000 requests/s.

Run it as a process: ``python -m llmops.testing.fake_llm --port 8001 --latency 0.02``; it prints
``READY <base_url>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from llmops.address import LocalAddress
from llmops.testing.http_wire import Connection, Request, error_json
from llmops.testing.replies import (
    Reply,
    Turn,
    chat_body,
    chat_chunks,
    completion_body,
    completion_chunks,
    count_words,
    dumps,
    embeddings_body,
    error_body,
    split_content,
)

__all__ = ["Responder", "ScriptedLLMServer", "main"]

Responder = Callable[[dict[str, Any]], "Reply | None"]


class ScriptedLLMServer(LocalAddress):
    """An OpenAI-compatible HTTP server on loopback whose answers the test scripts."""

    def __init__(
        self,
        latency: float = 0.0,
        *,
        models: tuple[str, ...] = ("test-model",),
        stream_chunks: int | None = None,
        default_content: str | None = None,
        embedding_dim: int = 8,
        record_requests: bool = True,
    ) -> None:
        self.latency = latency
        #: Where ``start()`` binds: loopback and a free port unless set before starting.
        self.host = "127.0.0.1"
        self.port = 0
        self.models = models
        self.stream_chunks = stream_chunks
        self.default_content = default_content
        self.embedding_dim = embedding_dim
        self.record_requests = record_requests
        self.requests: list[dict[str, Any]] = []
        self.connections_opened = 0
        self._queue: deque[Reply] = deque()
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[Connection] = set()

    # -- scripting (called from the test's thread) ---------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next generation requests, first in first out."""
        with self._lock:
            self._queue.extend(replies)

    def set_responder(self, fn: Responder | None) -> None:
        """Answer requests with ``fn(request_json)`` once the queue is empty (None: echo)."""
        self._responder = fn

    def reset(self) -> None:
        """Forget queued replies, the responder and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
        self._responder = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedLLMServer:
        """Start listening in a background thread and return self once ready."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = _new_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(self.serve(sock))
            except BaseException as exc:  # surfaced to start()'s caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="scripted-llm", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                conn.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
        thread.join(timeout=10)
        self._thread = self._loop = self._server = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def serve(self, sock: socket.socket) -> asyncio.base_events.Server:
        """Serve on an already bound socket in the running loop (used by start() and main())."""
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: Connection(self), sock=sock, backlog=1024)

    # -- request handling (runs on the server's loop) ----------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        responder = self._responder
        if responder is not None:
            reply = responder(body)
            if reply is not None:
                return reply
        if self.default_content is not None:
            return Reply(self.default_content)
        return Reply("echo: " + _last_user_text(body))

    async def handle(self, req: Request, conn: Connection) -> None:
        """Answer one parsed request on ``conn``."""
        path = req.path.split("?", 1)[0]
        body: Any = None
        if req.body:
            try:
                body = json.loads(req.body)
            except (ValueError, UnicodeDecodeError):
                body = None
        if self.record_requests:
            with self._lock:
                self.requests.append(
                    {"method": req.method, "path": path, "headers": req.headers, "json": body}
                )
        rid = f"req-{next(self._ids)}"
        if req.method == "GET" and path in ("/health", "/v1/health"):
            conn.send(200, {"status": "ok"}, rid)
            return
        if req.method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "llmops-testing"}
                for m in self.models
            ]
            conn.send(200, {"object": "list", "data": data}, rid)
            return
        routes = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
        if path not in routes and path not in ("/v1/models", "/health"):
            conn.send(404, error_json(f"no route {req.method} {path}", "not_found_error"), rid)
            return
        if req.method != "POST" or path not in routes:
            conn.send(405, error_json(f"{req.method} not allowed on {path}"), rid)
            return
        if not isinstance(body, dict):
            conn.send(400, error_json("request body is not a JSON object"), rid)
            return
        model = body.get("model")
        if not isinstance(model, str) or not model:
            conn.send(400, error_json("'model' is required", param="model"), rid)
            return
        if path == "/v1/embeddings":
            if self.latency:
                await asyncio.sleep(self.latency)
            conn.send(200, embeddings_body(body, model, self.embedding_dim), rid)
            return
        chat = path == "/v1/chat/completions"
        if chat and not isinstance(body.get("messages"), list):
            conn.send(400, error_json("'messages' must be a list", param="messages"), rid)
            return
        if not chat and "prompt" not in body:
            conn.send(400, error_json("'prompt' is required", param="prompt"), rid)
            return
        try:
            reply = self._next_reply(body)
        except Exception as exc:  # a broken responder is the test's bug: show it as a 500
            conn.send(500, error_json(f"responder raised {exc!r}", "server_error"), rid)
            return
        await self._answer(conn, rid, chat, body, reply)

    async def _answer(
        self, conn: Connection, rid: str, chat: bool, body: dict[str, Any], reply: Reply
    ) -> None:
        wait = self.latency + reply.delay
        if wait > 0:
            await asyncio.sleep(wait)
        extra: list[tuple[str, str]] = []
        if reply.retry_after is not None:
            ra = reply.retry_after
            extra.append(("retry-after", str(int(ra)) if ra == int(ra) else str(ra)))
            extra.append(("retry-after-ms", str(int(ra * 1000))))
        stream = body.get("stream") is True
        if reply.raw_body is not None and not stream:
            conn.send_raw(reply.status, reply.raw_body, rid, extra, reply.close_mid_stream)
            return
        if reply.status >= 300:
            conn.send(reply.status, error_body(reply), rid, extra)
            return
        model = reply.model or str(body["model"])
        content = reply.content
        finish = "stop"
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < count_words(content):
            content = " ".join(content.split()[:max_tokens])
            finish = "length"
        prompt_tokens = max(1, count_words(body.get("messages") if chat else body.get("prompt")))
        prefix = "chatcmpl-" if chat else "cmpl-"
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        turn = Turn(reply, prefix + rid, model, prompt_tokens, include_usage)
        if not stream:
            build = chat_body if chat else completion_body
            out = build(turn, content, finish)
            if reply.close_mid_stream:
                conn.send_raw(200, dumps(out), rid, extra, truncate=True)
                return
            conn.send(200, out, rid, extra)
            return
        pieces = split_content(content, self.stream_chunks)
        make = chat_chunks if chat else completion_chunks
        chunks = make(turn, pieces, finish)
        conn.start_stream(rid, extra)
        if reply.raw_body is not None:
            conn.write_chunk(reply.raw_body)
            conn.end_stream(abort=reply.close_mid_stream)
            return
        cut = max(1, len(chunks) // 2) if reply.close_mid_stream else None
        for i, item in enumerate(chunks):
            if cut is not None and i == cut:
                conn.end_stream(abort=True)
                return
            if reply.chunk_delay and i:
                await asyncio.sleep(reply.chunk_delay)
            conn.write_chunk(b"data: " + dumps(item) + b"\n\n")
        conn.write_chunk(b"data: [DONE]\n\n")
        conn.end_stream()


def _last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return ""
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # plain asyncio is fast enough for functional tests
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main(argv: list[str] | None = None) -> int:
    """Run the scripted server in the foreground until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m llmops.testing.fake_llm",
        description="Scripted OpenAI-compatible server (echoes, or --content) for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--stream-chunks", type=int, default=None, help="pieces per stream")
    parser.add_argument("--content", default=None, help="fixed answer instead of an echo")
    parser.add_argument("--model", action="append", default=None, help="listed model ids")
    args = parser.parse_args(argv)
    srv = ScriptedLLMServer(
        latency=args.latency,
        models=tuple(args.model or ["test-model"]),
        stream_chunks=args.stream_chunks,
        default_content=args.content,
        # A long-running process must not grow without bound.
        record_requests=False,
    )
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    srv.host, srv.port = args.host, sock.getsockname()[1]
    loop = _new_loop()
    stop = asyncio.Event()

    async def run() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = await srv.serve(sock)
        print(f"READY {srv.base_url}", flush=True)
        await stop.wait()
        server.close()
        for conn in list(srv._connections):
            conn.close()

    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
