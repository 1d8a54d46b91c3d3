"""The gateway's upstream HTTP/1.1 client against real loopback servers."""

from __future__ import annotations

import asyncio

import pytest

from llmops.gateway.http_client import HttpEndpoint, UpstreamClosedError
from llmops.testing import ScriptedLLMServer


def test_keep_alive_connections_are_reused(fresh_upstream: ScriptedLLMServer) -> None:
    async def main() -> list[int]:
        ep = HttpEndpoint(
            fresh_upstream.base_url,
            connect_timeout=2,
            read_timeout=5,
            headers={"Content-Type": "application/json"},
        )
        statuses = []
        for _ in range(5):
            resp = await ep.request(
                "POST",
                "/chat/completions",
                b'{"model":"m","messages":[{"role":"user","content":"x"}]}',
            )
            assert b"echo: x" in await resp.read()
            resp.release()
            statuses.append(resp.status)
        health = await ep.request("GET", "/health", root=True)
        await health.read()
        health.release()
        ep.close()
        return statuses

    before = fresh_upstream.connections_opened
    assert asyncio.run(main()) == [200] * 5
    assert fresh_upstream.connections_opened - before == 1


async def _serve_once(payload: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_body_delimited_by_close_and_a_cut_body() -> None:
    async def main() -> None:
        server, port = await _serve_once(
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
        )
        ep = HttpEndpoint(f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=5)
        resp = await ep.request("GET", "/")
        assert await resp.read() == b"all of it"
        resp.release()
        server.close()
        server, port = await _serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        ep = HttpEndpoint(f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=5)
        resp = await ep.request("GET", "/")
        with pytest.raises(UpstreamClosedError):
            await resp.read()
        resp.release()
        server.close()

    asyncio.run(main())


def test_read_timeout_and_refused_connection() -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ep = HttpEndpoint(f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=0.2)
        with pytest.raises(TimeoutError):
            await ep.request("GET", "/")
        server.close()
        dead = HttpEndpoint(f"http://127.0.0.1:{port}", connect_timeout=2, read_timeout=1)
        with pytest.raises(OSError):
            await dead.request("GET", "/")

    asyncio.run(main())


def test_close_after_the_connections_loop_closed(fresh_upstream: ScriptedLLMServer) -> None:
    # ragas runs its own event loop: the endpoint is closed later from another one.
    ep = HttpEndpoint(fresh_upstream.base_url, connect_timeout=2, read_timeout=5)

    async def one() -> None:
        resp = await ep.request("GET", "/health", root=True)
        await resp.read()
        resp.release()

    asyncio.run(one())
    assert ep._idle  # the keep-alive connection of the finished loop

    async def close() -> None:
        ep.close()

    asyncio.run(close())
    assert not ep._idle
