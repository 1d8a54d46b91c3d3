"""The run history: every eval run, its lineage and its rows, in one SQLite file.

``<state>/evals/history.sqlite`` is an index over the results folder (each run's
``results.json`` stays where it was written): a ``runs`` table with one row per run (summary,
lineage, calibration, where its files are) and an ``items`` table with one row per item x repeat
(redacted, with its largest drop against the baseline the run was gated on), so the served
dashboard pages through items with keyset pagination instead of reading a results file per click.
Runs logged to MLflow are imported into the same tables (``import_mlflow``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.dashboard.redact import Redactor
from llmops.dashboard.runs import ItemQuery, RunInfo, index_run, run_id_of
from llmops.evals.records import ItemRow, RunResult

if TYPE_CHECKING:
    from llmops.config import Settings

__all__ = ["History"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    started_at TEXT NOT NULL,
    passed INTEGER,
    dataset_hash TEXT,
    git_commit TEXT,
    source TEXT NOT NULL,
    results_path TEXT,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_runs_suite_started ON runs (suite, started_at);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    repeat INTEGER NOT NULL,
    tags TEXT NOT NULL,
    sort_delta REAL NOT NULL,
    flaky INTEGER NOT NULL,
    search TEXT NOT NULL,
    brief TEXT NOT NULL,
    row TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS ix_items_order ON items (run_id, sort_delta, seq);
CREATE TABLE IF NOT EXISTS item_metrics (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    metric TEXT NOT NULL,
    score REAL,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, metric, seq)
);
"""

# Items without a baseline comparison sort after every regression.
NO_DELTA = 9.0


class History:
    """The history database (created on first use)."""

    def __init__(self, path: Path, *, redactor: Redactor | None = None) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @classmethod
    def for_state(cls, state: Path, *, redactor: Redactor | None = None) -> History:
        """Return the history under a state root."""
        return cls(state / "evals" / "history.sqlite", redactor=redactor)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            yield conn
            conn.commit()
        finally:
            conn.close()

    # -- writing ------------------------------------------------------------------------------

    def record(
        self,
        run: RunResult,
        *,
        results_path: Path | None = None,
        baseline: dict[str, Any] | None = None,
        source: str = "folder",
        mlflow_run_id: str | None = None,
    ) -> str:
        """Add ``run`` (replacing an earlier copy of the same run); return its id."""
        indexed = index_run(
            run,
            redactor=self.redactor,
            baseline=baseline,
            results_path=results_path,
            source=source,
            mlflow_run_id=mlflow_run_id,
        )
        info = indexed.info
        run_id = info.run_id
        items = [
            (
                run_id,
                b["seq"],
                b["id"],
                b["repeat"],
                "," + ",".join(b["tags"]) + ",",
                NO_DELTA if b["delta"] is None else b["delta"],
                int(b["flaky"]),
                search,
                json.dumps(b, ensure_ascii=False),
                text,
            )
            for b, text, search in zip(indexed.briefs, indexed.texts, indexed.search, strict=True)
        ]
        metric_rows = [(run_id, *cell) for cell in indexed.scores]
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM items WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM item_metrics WHERE run_id = ?", (run_id,))
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    run.suite,
                    run.started_at,
                    None if run.passed is None else int(run.passed),
                    run.lineage.dataset_hash,
                    run.lineage.git_commit,
                    source,
                    info.results_path,
                    info.model_dump_json(),
                ),
            )
            conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", items)
            conn.executemany("INSERT INTO item_metrics VALUES (?, ?, ?, ?, ?)", metric_rows)
        return run_id

    def import_folder(self, folder: Path) -> int:
        """Index every ``results.json`` under ``folder`` not in the history yet; return how many."""
        with self._connect() as conn:
            known = {r[0] for r in conn.execute("SELECT results_path FROM runs") if r[0]}
        added = 0
        for path in sorted(folder.glob("*/*/results.json")) if folder.is_dir() else []:
            if str(path) in known:
                continue
            try:
                run = RunResult.model_validate_json(path.read_bytes())
            except (OSError, ValueError):
                continue  # not a results file of this version: leave it out
            self.record(run, results_path=path)
            added += 1
        return added

    def import_mlflow(self, settings: Settings) -> int:
        """Import eval runs logged to MLflow (their results.json artifact); return how many."""
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        client = MlflowClient()
        experiment = client.get_experiment_by_name(settings.mlflow.experiment)
        if experiment is None:
            return 0
        with self._connect() as conn:
            known = {
                json.loads(r[0]).get("mlflow_run_id")
                for r in conn.execute("SELECT summary FROM runs WHERE source = 'mlflow'")
            }
        added = 0
        found = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`llmops.kind` = 'eval'"
        )
        for mlrun in found:
            if mlrun.info.run_id in known:
                continue
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=mlrun.info.run_id, artifact_path="results.json"
                )
                run = RunResult.model_validate_json(Path(local).read_bytes())
            except (OSError, ValueError, mlflow.exceptions.MlflowException):
                continue
            if self.has(run_id_of(run)):
                continue  # the same run is already indexed from the results folder
            self.record(run, source="mlflow", mlflow_run_id=mlrun.info.run_id)
            added += 1
        return added

    # -- reading ------------------------------------------------------------------------------

    def has(self, run_id: str) -> bool:
        """Return True when ``run_id`` is recorded."""
        with self._connect() as conn:
            return (
                conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                is not None
            )

    def suites(self) -> list[str]:
        """Return the suites with at least one run."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]

    def runs(self, suite: str | None = None) -> list[RunInfo]:
        """Return runs oldest first (of one suite, or all); runs started in the same second keep
        the order they were recorded in."""
        sql = "SELECT summary FROM runs"
        args: tuple[Any, ...] = ()
        if suite is not None:
            sql += " WHERE suite = ?"
            args = (suite,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY started_at, rowid", args).fetchall()
        return [RunInfo.model_validate_json(r[0]) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        """Return one run (NotFoundError with the known ids otherwise)."""
        with self._connect() as conn:
            row = conn.execute("SELECT summary FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            from llmops.errors import NotFoundError

            raise NotFoundError(
                f"no run '{run_id}' in the history {self.path}",
                hint="list runs with: llmops report runs",
            )
        return RunInfo.model_validate_json(row[0])

    def rows(self, run_id: str) -> list[ItemRow]:
        """Return every row of a run (redacted), in run order."""
        with self._connect() as conn:
            found = conn.execute(
                "SELECT row FROM items WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        return [ItemRow.model_validate_json(r[0]) for r in found]

    def scores(self, run_id: str) -> dict[str, dict[str, float]]:
        """Return metric -> item id -> mean score over repeats (SQL aggregate)."""
        out: dict[str, dict[str, float]] = {}
        with self._connect() as conn:
            for metric, item, score in conn.execute(
                "SELECT m.metric, i.item_id, AVG(m.score) FROM item_metrics m "
                "JOIN items i ON i.run_id = m.run_id AND i.seq = m.seq "
                "WHERE m.run_id = ? AND m.score IS NOT NULL GROUP BY m.metric, i.item_id",
                (run_id,),
            ):
                out.setdefault(metric, {})[item] = float(score)
        return out

    def briefs(self, run_id: str) -> list[dict[str, Any]]:
        """Return every row's brief (id, tags, scores, delta), in run order."""
        with self._connect() as conn:
            found = conn.execute(
                "SELECT seq, brief FROM items WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        return [json.loads(brief) for _seq, brief in found]

    def item(self, run_id: str, seq: int) -> dict[str, Any] | None:
        """Return one full (redacted) row."""
        with self._connect() as conn:
            found = conn.execute(
                "SELECT row, sort_delta FROM items WHERE run_id = ? AND seq = ?", (run_id, seq)
            ).fetchone()
        if found is None:
            return None
        row: dict[str, Any] = json.loads(found[0])
        row["seq"] = seq
        row["delta"] = None if found[1] == NO_DELTA else found[1]
        return row

    def page(
        self,
        run_id: str,
        query: ItemQuery,
        *,
        after: tuple[float, int] | None = None,
        limit: int = 50,
    ) -> tuple[list[dict[str, Any]], tuple[float, int] | None, int]:
        """Return one page of briefs (most regressed first), the next cursor, and the total."""
        where = ["i.run_id = ?"]
        args: list[Any] = [run_id]
        if query.tag:
            where.append("i.tags LIKE ? ESCAPE '\\'")
            args.append("%," + _like(query.tag) + ",%")
        if query.flaky:
            where.append("i.flaky = 1")
        if query.search:
            where.append("i.search LIKE ? ESCAPE '\\'")
            args.append("%" + _like(query.search.lower()) + "%")
        if query.status or query.metric:
            cond = ["m.run_id = i.run_id", "m.seq = i.seq"]
            if query.metric:
                cond.append("m.metric = ?")
                args.append(query.metric)
            if query.status:
                cond.append("m.status = ?")
                args.append(query.status)
            where.append(f"EXISTS (SELECT 1 FROM item_metrics m WHERE {' AND '.join(cond)})")
        base = " AND ".join(where)
        with self._connect() as conn:
            total = int(
                conn.execute(f"SELECT COUNT(*) FROM items i WHERE {base}", args).fetchone()[0]
            )
            page_where, page_args = base, list(args)
            if after is not None:
                page_where += " AND (i.sort_delta > ? OR (i.sort_delta = ? AND i.seq > ?))"
                page_args += [after[0], after[0], after[1]]
            found = conn.execute(
                f"SELECT i.seq, i.sort_delta, i.brief FROM items i WHERE {page_where} "
                "ORDER BY i.sort_delta, i.seq LIMIT ?",
                [*page_args, limit + 1],
            ).fetchall()
        more = len(found) > limit
        found = found[:limit]
        cursor = (float(found[-1][1]), int(found[-1][0])) if more and found else None
        return [json.loads(brief) for _seq, _d, brief in found], cursor, total


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
