"""The trace writer: requests never wait for the trace store.

The gateway hands a ``TraceRecord`` to ``TraceWriter.submit`` (an append to an in-memory
inbox: no lock, no system call, no thread wake-up per request). A background thread wakes
for every few dozen records (or every ``flush_interval`` seconds), finishes them (parses the
upstream body or stream for the answer and token counts), tells the observers (the monitors'
enricher and sampler, metrics, token rate limits) and writes them in batches of
``batch_size``, one transaction each, or what it holds every ``flush_interval``.

Durability: a record is in the database at most ``flush_interval`` (0.5 s by default) plus
the time to write one batch after its request ended; a crash of the process loses at most
the records of that window (``flush()`` waits until everything submitted so far is written;
``close()`` flushes). While the database is away the writer keeps a bounded backlog
(``max_backlog``) and retries at the next flush.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from llmops.traces.record import TraceRecord
from llmops.traces.store import TraceStore

__all__ = ["Observer", "TraceWriter"]

log = logging.getLogger("llmops.traces")

Observer = Callable[[TraceRecord], None]

#: Records that wake the writer thread: it finishes them in short slices (about 1 ms of Python
#: each, so the event loop never waits long for the GIL) and writes when a batch is full or
#: the interval has passed.
_WAKE_EVERY = 32


class TraceWriter:
    """A background thread that finishes records, notifies observers and writes batches."""

    def __init__(
        self,
        store: TraceStore | None,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        record_text: bool = True,
        observers: list[Observer] | None = None,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.record_text = record_text
        self.observers = list(observers or [])
        self.max_backlog = max(batch_size, 100_000)
        self.max_retries = 5
        self.dropped = 0  # records given up on: the backlog's oldest, or a batch past its retries
        self._retries = 0
        # deque.append/popleft are atomic: the request path appends, the writer thread pops.
        self._inbox: collections.deque[TraceRecord] = collections.deque()
        self._wake = threading.Event()
        self._force = False
        self._stopping = False
        self._pending: list[TraceRecord] = []
        self._flushed = threading.Condition()
        self._submitted = 0
        self._done = 0
        self.written = 0
        self.write_seconds = 0.0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="llmops-trace-writer", daemon=True)
        self._thread.start()

    def submit(self, record: TraceRecord) -> None:
        """Queue a record; never blocks the caller."""
        self._submitted += 1
        inbox = self._inbox
        inbox.append(record)
        if len(inbox) >= _WAKE_EVERY and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; return False on timeout."""
        target = self._submitted
        self._force = True
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._flushed:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._flushed.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush and stop the thread."""
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            self._wake.wait(max(0.0, next_flush - time.monotonic()))
            self._wake.clear()
            force, self._force = self._force, False
            stopping = self._stopping
            self._drain()
            if force or stopping or time.monotonic() >= next_flush:
                self._write()
                next_flush = time.monotonic() + self.flush_interval
            if stopping and not self._inbox:
                self._write()
                return

    def _drain(self) -> None:
        """Finish what waits in the inbox; write each batch as it fills."""
        inbox = self._inbox
        while inbox:
            self._take(inbox.popleft())
            if len(self._pending) >= self.batch_size and self._retries == 0:
                self._write()

    def _take(self, record: TraceRecord) -> None:
        try:
            record.finish()
            for observer in self.observers:
                observer(record)
        except Exception:  # an observer bug must not lose the trace
            log.exception("trace observer failed")
        self._pending.append(record)

    def _write(self) -> None:
        batch, self._pending = self._pending, []
        if batch and self.store is not None:
            start = time.perf_counter()
            try:
                self.written += self.store.write(batch, self.record_text)
            except Exception:
                self.errors += 1
                self.write_seconds += time.perf_counter() - start
                self._retries += 1
                if self._retries <= self.max_retries:
                    log.exception(
                        "writing %d traces failed; retrying at the next flush", len(batch)
                    )
                    # Keep a bounded backlog while the database is away; drop the oldest beyond
                    # (counted as done, so a flush() does not wait for them until its timeout).
                    backlog = batch + self._pending
                    over = max(0, len(backlog) - self.max_backlog)
                    self._pending = backlog[over:]
                    self._dropped(over)
                    return
                log.exception(
                    "writing %d traces failed %d times; dropping them", len(batch), self._retries
                )
                self.dropped += len(batch)
            else:
                self.write_seconds += time.perf_counter() - start
            self._retries = 0
        with self._flushed:
            self._done += len(batch)
            self._flushed.notify_all()

    def _dropped(self, n: int) -> None:
        """Count ``n`` records dropped from the backlog as done (and as dropped)."""
        if n:
            self.dropped += n
            with self._flushed:
                self._done += n
                self._flushed.notify_all()
