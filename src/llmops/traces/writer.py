"""The trace writer: requests never wait for the trace store.

The gateway hands a ``TraceRecord`` to ``TraceWriter.submit`` (a queue put) and a background
thread finishes it (parses the upstream body or stream for the answer and token counts), tells
the observers (the monitors' enricher and sampler, metrics, token rate limits) and writes batches
every ``flush_interval`` seconds. A crash loses at most the records since the last flush.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from llmops.traces.record import TraceRecord
from llmops.traces.store import TraceStore

__all__ = ["Observer", "TraceWriter"]

log = logging.getLogger("llmops.traces")

Observer = Callable[[TraceRecord], None]


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
        self._retries = 0
        self._queue: queue.SimpleQueue[TraceRecord | None] = queue.SimpleQueue()
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
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; return False on timeout."""
        target = self._submitted
        self._queue.put(None)  # wake the thread so it flushes now
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
        self._queue.put(None)
        self._thread.join(timeout)

    _stopping = False

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            timeout = max(0.0, next_flush - time.monotonic())
            force = False
            try:
                item = self._queue.get(timeout=timeout)
                if item is None:
                    force = True
                else:
                    self._take(item)
                    # Drain what is already queued without waiting.
                    while len(self._pending) < self.batch_size:
                        try:
                            more = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if more is None:
                            force = True
                            break
                        self._take(more)
            except queue.Empty:
                force = True
            if force or len(self._pending) >= self.batch_size or time.monotonic() >= next_flush:
                self._write()
                next_flush = time.monotonic() + self.flush_interval
            if self._stopping and self._queue.empty():
                self._write()
                return

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
                    # Keep a bounded backlog while the database is away; drop the oldest beyond.
                    self._pending = (batch + self._pending)[-self.max_backlog :]
                    return
                log.exception(
                    "writing %d traces failed %d times; dropping them", len(batch), self._retries
                )
            else:
                self.write_seconds += time.perf_counter() - start
            self._retries = 0
        with self._flushed:
            self._done += len(batch)
            self._flushed.notify_all()
