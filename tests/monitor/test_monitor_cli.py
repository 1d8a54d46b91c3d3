"""`llmops monitor`: report, watch (Ctrl-C stops it cleanly), alerts; rules in llmops.yaml
refused with file, line and key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from synth import fill, traffic  # type: ignore[import-not-found]

from llmops.traces import TraceStore


def _project(tmp_path: Path, monitor: str = "") -> Path:
    (tmp_path / "llmops.yaml").write_text("project: cli\n" + textwrap.dedent(monitor))
    return tmp_path


@pytest.mark.parametrize(
    ("yaml", "line", "message"),
    [
        (
            """\
            monitor:
              alerts:
                - name: a
                  signal: unsupported_rat
                  above: 0.1
            """,
            5,
            "unknown signal 'unsupported_rat' (did you mean 'unsupported_rate'?)",
        ),
        (
            """\
            monitor:
              actions:
                hook: {type: webhook, url: "http://x"}
              alerts:
                - name: a
                  signal: error_rate
                  above: 0.1
                  actions: [log, hok]
            """,
            9,
            "unknown action 'hok' (did you mean 'hook'?)",
        ),
        (
            """\
            monitor:
              alerts:
                - name: a
                  signal: query_drift
                  above: 0.1
            """,
            5,
            "'query_drift' is a test: use significance",
        ),
        (
            """\
            monitor:
              alerts:
                - name: a
                  signal: error_rate
                  above: 0.1
                  significance: 0.01
            """,
            4,
            "give exactly one of above, below or significance",
        ),
        (
            """\
            monitor:
              actions:
                hook: {type: webhook, pipeline: docs}
            """,
            4,
            "pipeline do(es) not apply to webhook actions",
        ),
        (
            """\
            monitor:
              actions:
                hook: {type: webhook, url: "http://x", cooldwn: 1h}
            """,
            4,
            "unknown key 'monitor.actions.hook.cooldwn' (did you mean 'cooldown'?)",
        ),
        (
            """\
            monitor:
              alerts:
                - name: a
                  signal: error_rate
                  window: 1 hour
                  above: 0.1
            """,
            6,
            "'1 hour' is not a duration",
        ),
    ],
)
def test_bad_rules_are_refused_with_file_line_and_key(
    cli: Any, tmp_path: Path, yaml: str, line: int, message: str
) -> None:
    root = _project(tmp_path, yaml)
    result = cli("monitor", "report", cwd=root)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert f"llmops.yaml:{line}" in result.stderr.replace("\n", "")


def test_report_json_and_tables(cli: Any, tmp_path: Path) -> None:
    root = _project(tmp_path)
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    store = TraceStore(url)
    now = time.time()
    fill(store, traffic("qa", 400, now - 3000, now, seed=1))
    store.close()
    result = cli("monitor", "report", "--window", "2h", "--traces", url, "--json", cwd=root)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (route,) = data["routes"]
    assert route["route"] == "qa"
    assert route["signals"]["error_rate"]["status"] == "ok"
    assert route["signals"]["unsupported_rate"]["value"] is not None
    assert route["signals"]["query_drift"]["status"] == "no_data"  # nothing embedded: said so
    tables = cli("monitor", "report", "--traces", url, "--route", "qa", cwd=root)
    assert tables.exit_code == 0, tables.stderr
    for heading in ("Operations", "Hallucination", "Retrieval", "Queries", "Answers", "Release"):
        assert heading in tables.stdout
    bad = cli("monitor", "report", "--window", "yesterday", "--traces", url, cwd=root)
    assert bad.exit_code == 2 and "--window" in bad.stderr and "not a duration" in bad.stderr


def test_monitor_help_imports_nothing_heavy() -> None:
    heavy = ["torch", "sentence_transformers", "numpy", "sqlalchemy", "mlflow", "qdrant_client"]
    code = (
        "import sys, json\nfrom llmops.cli import main\n"
        "rc = main(['monitor', '--help'])\n"
        f"print(json.dumps([rc, sorted(m for m in {heavy!r} if m in sys.modules)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rc, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0 and loaded == []


def test_watch_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """\
        monitor:
          sampler: {embed_rate: 0}  # no query embedding: this test needs no model
          alerts:
            - {name: errors, signal: error_rate, window: 1h, above: 0.5}
        """,
    )
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    store = TraceStore(url)
    now = time.time()
    fill(store, traffic("qa", 200, now - 1800, now, seed=2))
    store.close()
    env = {**os.environ, "LLMOPS_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops", "monitor", "watch", "--traces", url,
         "--interval", "1h"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first evaluation is printed, then it waits an hour
    assert "·" in first, first
    rule = proc.stdout.readline()
    assert "errors on qa" in rule
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped cleanly after 1 evaluation" in err
    assert "Traceback" not in err
    published = TraceStore(url)
    from llmops.monitor.journal import read_signals

    names = {name for name, _, _, _ in read_signals(published)}
    assert "llmops_monitor_error_rate" in names and "llmops_monitor_alert_firing" in names
    published.close()


def test_alerts_lists_the_journal(cli: Any, tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """\
        monitor:
          sampler: {embed_rate: 0}
          alerts:
            - {name: errors, signal: error_rate, window: 1h, above: 0.01}
        """,
    )
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    store = TraceStore(url)
    now = time.time()
    from synth import Arm  # type: ignore[import-not-found]

    fill(store, traffic("qa", 300, now - 1800, now, arm=Arm(error_rate=0.3), seed=3))
    store.close()
    once = cli("monitor", "watch", "--once", "--traces", url, cwd=root)
    assert once.exit_code == 0, once.stderr
    assert "FIRING errors on qa" in once.stdout
    listed = cli("monitor", "alerts", "--traces", url, "--json", cwd=root)
    entries = json.loads(listed.stdout)
    assert [e["kind"] for e in entries][:2] == ["action", "alert"]
    assert entries[0]["action"] == "log" and entries[0]["status"] == "done"
    assert entries[1]["evidence"]["signal"]["name"] == "error_rate"
