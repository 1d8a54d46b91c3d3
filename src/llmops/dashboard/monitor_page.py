"""The monitor page: production signals from the trace store, behind a small data-provider seam.

``MonitorData`` is what the page needs (hallucination rates, drift tests, retrieval score
distribution, latency, guard blocks, canary arms), each over a window. ``SqlMonitorProvider``
computes them from the gateway's trace table with two aggregate queries (never loading traces
into Python); ``llmops.monitor`` can plug its own aggregates in by implementing the Protocol.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["MonitorData", "MonitorPage", "SqlMonitorProvider", "create_monitor_page", "wilson"]

SCORE_BINS = 20
MIN_DRIFT_N = 50


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Signals:
    """Everything the monitor page shows for one window."""

    window_s: float
    total: int = 0
    hallucination: list[dict[str, Any]] = field(default_factory=list)
    hallucination_note: str = ""
    drift: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    guards: list[dict[str, Any]] = field(default_factory=list)
    arms: list[dict[str, Any]] = field(default_factory=list)


class MonitorData(Protocol):
    """A source of monitor signals (the trace store's SQL aggregates, or ``llmops.monitor``)."""

    def signals(self, window_s: float) -> Signals:
        """Return the signals of the last ``window_s`` seconds."""
        ...


def _trunc(dialect: str, expr: str) -> str:
    # SQLite's CAST truncates; PostgreSQL's rounds.
    return f"CAST({expr} AS INTEGER)" if dialect == "sqlite" else f"FLOOR({expr})::int"


def _latency_bucket(dialect: str) -> str:
    def t(expr: str) -> str:
        return _trunc(dialect, expr)

    return (
        "CASE WHEN latency_ms IS NULL THEN -1 "
        f"WHEN latency_ms < 100 THEN {t('latency_ms')} "
        f"WHEN latency_ms < 1000 THEN 100 + {t('(latency_ms - 100) / 10')} "
        f"WHEN latency_ms < 10000 THEN 190 + {t('(latency_ms - 1000) / 100')} "
        f"ELSE 280 + {t('(latency_ms - 10000) / 1000')} END"
    )


def _bucket_high(bucket: int) -> float:
    """Return the upper edge (ms) of a latency bucket (error <= 1 ms, 10 ms, 100 ms, 1 s)."""
    if bucket < 100:
        return bucket + 1.0
    if bucket < 190:
        return 100 + (bucket - 100 + 1) * 10.0
    if bucket < 280:
        return 1000 + (bucket - 190 + 1) * 100.0
    return 10000 + (bucket - 280 + 1) * 1000.0


def _percentile(hist: dict[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return _bucket_high(bucket)
    return _bucket_high(max(hist))


def _chi_square(ref: list[int], cur: list[int]) -> tuple[float, float, int]:
    """Return (statistic, p-value, degrees of freedom) of a 2 x k homogeneity test."""
    from scipy.stats import chi2

    cols = [(r, c) for r, c in zip(ref, cur, strict=True) if r + c > 0]
    n_ref, n_cur = sum(r for r, _ in cols), sum(c for _, c in cols)
    total = n_ref + n_cur
    stat = 0.0
    for r, c in cols:
        for observed, row_total in ((r, n_ref), (c, n_cur)):
            expected = row_total * (r + c) / total
            stat += (observed - expected) ** 2 / expected
    dof = max(len(cols) - 1, 1)
    return stat, float(chi2.sf(stat, dof)), dof


def _psi(ref: list[int], cur: list[int]) -> float:
    n_ref, n_cur = sum(ref), sum(cur)
    value = 0.0
    for r, c in zip(ref, cur, strict=True):
        p = max(r / n_ref, 1e-4)
        q = max(c / n_cur, 1e-4)
        value += (q - p) * math.log(q / p)
    return value


class SqlMonitorProvider:
    """Monitor signals from the gateway trace table by SQL aggregates (SQLite or PostgreSQL).

    Traces are folded once into per-hour counts (route, arm, error, guard block, latency bucket;
    top-1 score bin): each call aggregates, in the database, only the rows added since the last
    call (``id`` above a watermark, a primary-key range), so a page over a million traces costs
    one pass the first time and a few milliseconds after. Windows therefore align to whole
    hours (``slot_s``).
    """

    def __init__(
        self, store: Any, *, clock: Callable[[], float] = time.time, slot_s: int = 3600
    ) -> None:
        self.store = store
        self.clock = clock
        self.slot_s = slot_s
        self._last_id = 0
        self._ops: dict[tuple[Any, ...], int] = {}
        self._bins: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        import sqlalchemy as sa

        engine = self.store.engine
        dialect = engine.dialect.name
        table = self.store.TABLE
        top1 = (
            "json_extract(chunk_scores, '$[0]')"
            if dialect == "sqlite"
            else "(chunk_scores::json->>0)::float"
        )
        slot = _trunc(dialect, f"ts / {self.slot_s}")
        span = "id > :last AND id <= :top"
        ops = sa.text(
            f"SELECT {slot} AS slot, route, arm, CASE WHEN status >= 400 THEN "
            f"COALESCE(error_code, 'http_' || CAST(status AS TEXT)) END AS err, "
            f"CASE WHEN status >= 400 AND status < 500 AND guards IS NOT NULL THEN 1 ELSE 0 END "
            f"AS blocked, {_latency_bucket(dialect)} AS lb, COUNT(*) AS n "
            f"FROM {table} WHERE {span} GROUP BY 1, 2, 3, 4, 5, 6"
        )
        bins = sa.text(
            f"SELECT {slot} AS slot, {_trunc(dialect, f'{top1} * {SCORE_BINS}')} AS b, "
            f"COUNT(*) AS n FROM {table} WHERE {span} AND chunk_scores IS NOT NULL "
            f"AND chunk_scores <> '[]' GROUP BY 1, 2"
        )
        with engine.connect() as conn:
            top = conn.execute(sa.text(f"SELECT MAX(id) FROM {table}")).scalar()
            if top is None or int(top) <= self._last_id:
                return
            args = {"last": self._last_id, "top": int(top)}
            for slot_no, route, arm, err, blocked, lb, n in conn.execute(ops, args):
                key = (int(slot_no), route, arm, err, int(blocked), int(lb))
                self._ops[key] = self._ops.get(key, 0) + int(n)
            for slot_no, b, n in conn.execute(bins, args):
                if b is not None:
                    bkey = (int(slot_no), min(max(int(b), 0), SCORE_BINS - 1))
                    self._bins[bkey] = self._bins.get(bkey, 0) + int(n)
        self._last_id = int(top)

    def signals(self, window_s: float) -> Signals:
        """Return the signals of the last ``window_s`` seconds (in whole hours; reference: the
        window before)."""
        with self._lock:
            self._refresh()
            now = self.clock()
            now_slot = int(now // self.slot_s)
            width = max(1, math.ceil(window_s / self.slot_s))
            first = int((now - window_s) // self.slot_s)  # the slot holding the window's start
            op_rows = [(*k[1:], n) for k, n in self._ops.items() if first <= k[0] <= now_slot]
            bin_rows = [
                (1 if k[0] >= first else 0, k[1], n)
                for k, n in self._bins.items()
                if first - width <= k[0] <= now_slot
            ]
        out = Signals(window_s=window_s)
        out.hallucination_note = (
            "No online-eval scores in the trace store yet: llmops.monitor's sampler scores "
            "sampled traces (groundedness, judge faithfulness) and writes them back."
        )
        self._operations(out, op_rows)
        self._retrieval(out, bin_rows)
        return out

    @staticmethod
    def _operations(out: Signals, rows: list[Any]) -> None:
        latency: dict[str, dict[int, int]] = {}
        arms: dict[tuple[str, str], dict[str, Any]] = {}
        codes: dict[str, int] = {}
        for route, arm, err, blocked, bucket, n in rows:
            n = int(n)
            route = route or "(none)"
            out.total += n
            if bucket is not None and int(bucket) >= 0:
                hist = latency.setdefault(route, {})
                hist[int(bucket)] = hist.get(int(bucket), 0) + n
            if arm:
                cell = arms.setdefault((route, arm), {"n": 0, "errors": 0, "hist": {}})
                cell["n"] += n
                cell["errors"] += n if err else 0
                if bucket is not None and int(bucket) >= 0:
                    cell["hist"][int(bucket)] = cell["hist"].get(int(bucket), 0) + n
            if blocked:
                codes[str(err)] = codes.get(str(err), 0) + n
        for route, hist in sorted(latency.items()):
            out.latency.append(
                {
                    "route": route,
                    "n": sum(hist.values()),
                    **{f"p{int(q * 100)}": _percentile(hist, q) for q in (0.5, 0.9, 0.99)},
                }
            )
        for code, n in sorted(codes.items(), key=lambda kv: -kv[1]):
            low, high = wilson(n, out.total)
            out.guards.append(
                {"code": code, "blocked": n, "rate": n / out.total, "low": low, "high": high}
            )
        for (route, arm), cell in sorted(arms.items()):
            low, high = wilson(cell["errors"], cell["n"])
            out.arms.append(
                {
                    "route": route,
                    "arm": arm,
                    "n": cell["n"],
                    "error_rate": cell["errors"] / cell["n"],
                    "low": low,
                    "high": high,
                    "p50": _percentile(cell["hist"], 0.5),
                    "p90": _percentile(cell["hist"], 0.9),
                }
            )

    @staticmethod
    def _retrieval(out: Signals, rows: list[Any]) -> None:
        ref = [0] * SCORE_BINS
        cur = [0] * SCORE_BINS
        for window, bucket, n in rows:
            if bucket is None:
                continue
            index = min(max(int(bucket), 0), SCORE_BINS - 1)
            (cur if int(window) else ref)[index] += int(n)
        out.scores = [
            {"label": f"{i / SCORE_BINS:.2f}", "value": cur[i]} for i in range(SCORE_BINS)
        ]
        n_ref, n_cur = sum(ref), sum(cur)
        row: dict[str, Any] = {
            "signal": "top-1 retrieval score",
            "test": "chi-square, 20 bins, vs the previous window",
            "n_ref": n_ref,
            "n_cur": n_cur,
        }
        if min(n_ref, n_cur) < MIN_DRIFT_N:
            row.update(
                statistic=None,
                p_value=None,
                psi=None,
                verdict=f"too few queries (< {MIN_DRIFT_N} per window)",
            )
        else:
            stat, p_value, dof = _chi_square(ref, cur)
            row.update(
                statistic=round(stat, 3),
                p_value=p_value,
                psi=round(_psi(ref, cur), 4),
                verdict="drifted (p < 0.01)" if p_value < 0.01 else "no significant drift",
            )
        out.drift.append(row)


def _fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"≤{value:,.0f} ms"


class MonitorPage:
    """The dashboard's monitor page over any ``MonitorData``."""

    id = "monitor"
    title = "Monitor"

    def __init__(self, data: MonitorData, *, window_s: float = 86400.0) -> None:
        self.data = data
        self.window_s = window_s

    def panels(self) -> list[dict[str, Any]]:
        """Return the monitor panels for the window."""
        s = self.data.signals(self.window_s)
        hours = self.window_s / 3600
        window = f"last {hours:g} h, {s.total:,} requests"
        return [
            {
                "id": "hallucination",
                "title": "Hallucination rate (Wilson 95% interval)",
                "kind": "intervals",
                "min": 0,
                "max": 1,
                "rows": [
                    {
                        "label": r["label"],
                        "value": r["rate"],
                        "low": r["low"],
                        "high": r["high"],
                        "alert": r.get("alert", False),
                    }
                    for r in s.hallucination
                ],
                "empty": s.hallucination_note or "no scored traces in this window",
            },
            {
                "id": "drift",
                "title": "Drift tests",
                "kind": "table",
                "note": window,
                "rows": [],
                "table": {
                    "columns": [
                        "signal",
                        "test",
                        "n ref",
                        "n now",
                        "statistic",
                        "p-value",
                        "PSI",
                        "verdict",
                    ],
                    "rows": [
                        [
                            d["signal"],
                            d["test"],
                            d["n_ref"],
                            d["n_cur"],
                            "–" if d["statistic"] is None else d["statistic"],
                            "–" if d["p_value"] is None else f"{d['p_value']:.2g}",
                            "–" if d["psi"] is None else d["psi"],
                            d["verdict"],
                        ]
                        for d in s.drift
                    ],
                },
            },
            {
                "id": "retrieval",
                "title": "Top-1 retrieval score distribution",
                "kind": "bars",
                "note": window,
                "rows": s.scores if any(b["value"] for b in s.scores) else [],
                "empty": "no retrieval in this window",
            },
            {
                "id": "latency",
                "title": "Latency by route",
                "kind": "table",
                "note": "percentiles from bucketed counts (1 ms buckets below 100 ms, 10 ms below 1 s, 100 ms below 10 s)",
                "rows": [],
                "table": {
                    "columns": ["route", "requests", "p50", "p90", "p99"],
                    "rows": [
                        [
                            r["route"],
                            r["n"],
                            _fmt_ms(r["p50"]),
                            _fmt_ms(r["p90"]),
                            _fmt_ms(r["p99"]),
                        ]
                        for r in s.latency
                    ],
                },
            },
            {
                "id": "guards",
                "title": "Guard blocks (share of all requests, Wilson 95%)",
                "kind": "intervals",
                "min": 0,
                "rows": [
                    {"label": g["code"], "value": g["rate"], "low": g["low"], "high": g["high"]}
                    for g in s.guards
                ],
                "table": {
                    "columns": ["code", "blocked", "rate"],
                    "rows": [[g["code"], g["blocked"], g["rate"]] for g in s.guards],
                },
                "empty": "no request blocked by a guard in this window",
            },
            {
                "id": "arms",
                "title": "Canary / A-B arms",
                "kind": "intervals",
                "min": 0,
                "rows": [
                    {
                        "label": f"{a['route']} · {a['arm']}",
                        "value": a["error_rate"],
                        "low": a["low"],
                        "high": a["high"],
                    }
                    for a in s.arms
                ],
                "note": "error rate per arm with its Wilson 95% interval",
                "table": {
                    "columns": ["route", "arm", "requests", "error rate", "p50", "p90"],
                    "rows": [
                        [
                            a["route"],
                            a["arm"],
                            a["n"],
                            a["error_rate"],
                            _fmt_ms(a["p50"]),
                            _fmt_ms(a["p90"]),
                        ]
                        for a in s.arms
                    ],
                },
                "empty": "no release arms in this window",
            },
        ]


def create_monitor_page(settings: Settings, options: dict[str, Any]) -> MonitorPage | None:
    """Return the monitor page over the project's trace store (None when it has no traces file)."""
    url = settings.trace_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(url[len("sqlite:///") :]).is_file():
            return None
    from llmops.traces import TraceStore

    return MonitorPage(
        SqlMonitorProvider(TraceStore(url)), window_s=float(options.get("window_s", 86400.0))
    )
