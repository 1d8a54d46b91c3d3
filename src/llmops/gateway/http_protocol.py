"""uvicorn's httptools protocol, sending each response's head and body in one write.

uvicorn writes the status line and headers (``http.response.start``) and then the body
(``http.response.body``) as two ``transport.write`` calls: two ``send()`` system calls and two
TCP segments, so the client is woken twice per answer. The gateway's answers are a head
followed at once by a body, so this protocol holds a response head until the end of the
current event-loop step: a body written in the same step leaves with it in one write; a
stream's first chunk, written later, finds the head already sent (it goes out on the next
loop iteration). Writes keep their order; ``close()`` sends a held head first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]

_HEAD = b"HTTP/1."
#: Bodies up to this size are joined to their head (one copy); larger ones go out after it.
_JOIN_LIMIT = 64 * 1024


class _HeadHoldingTransport:
    """A transport that keeps a response head back until the next write or loop iteration."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= _JOIN_LIMIT:
                self._transport.write(held + data)
                return
            self._transport.write(held)
        elif data.startswith(_HEAD):
            self._held = data
            self._loop.call_soon(self._release)
            return
        self._transport.write(data)

    def _release(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` whose responses leave in one write when head and body are ready."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control keeps the real transport; the request/response cycles get the wrapper.
        self.transport = _HeadHoldingTransport(transport, self.loop)  # type: ignore[assignment]
