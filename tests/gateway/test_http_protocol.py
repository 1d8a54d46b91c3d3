"""The response head waits for its body: one write per answer, order kept, nothing lost."""

from __future__ import annotations

import asyncio

from llmops.gateway.http_protocol import _HeadHoldingTransport


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def _scenario() -> list[list[bytes]]:
    loop = asyncio.get_running_loop()
    out = []
    # A head followed by its body in the same step: one write.
    rec = _Recorder()
    t = _HeadHoldingTransport(rec, loop)
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(b"{}")
    await asyncio.sleep(0)
    out.append(rec.writes)
    # A head alone (a stream's first chunk comes later): it leaves on the next iteration.
    rec = _Recorder()
    t = _HeadHoldingTransport(rec, loop)
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held = list(rec.writes)
    await asyncio.sleep(0)
    t.write(b"data: 1\n\n")
    out.extend([held, rec.writes])
    # Closing sends a held head first.
    rec = _Recorder()
    t = _HeadHoldingTransport(rec, loop)
    t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    t.close()
    out.append(rec.writes + ([b"<closed>"] if rec.closed else []))
    return out


def test_head_is_joined_to_its_body_and_never_lost() -> None:
    joined, before, stream, closed = asyncio.run(_scenario())
    assert joined == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    assert before == []
    assert stream == [b"HTTP/1.1 200 OK\r\n\r\n", b"data: 1\n\n"]
    assert closed == [b"HTTP/1.1 204 No Content\r\n\r\n", b"<closed>"]
