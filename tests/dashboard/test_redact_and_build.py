"""Redaction rules, the size bound, --since, and the Markdown view of the same document."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from dash_helpers import lineage, make_run

from llmops.dashboard import BuildOptions, History, Redactor, build_payload, render_markdown
from llmops.dashboard.redact import MASK


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("judge at http://bob:pa55word@127.0.0.1:8000/v1", "pa55word"),
        ("postgresql://app:s3cr3t@db:5432/traces", "s3cr3t"),
        ("GET /v1?api_key=abcdef123456&x=1", "abcdef123456"),
        ("https://h/x?token=tok_998877&y", "tok_998877"),
        ("key sk-proj-AbCdEfGhIjKlMnOpQrSt", "sk-proj-AbCdEfGhIjKlMnOpQrSt"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
        ("aws AKIAABCDEFGHIJKLMNOP in a log", "AKIAABCDEFGHIJKLMNOP"),
        ("the value Zq9-custom-secret leaked", "Zq9-custom-secret"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    redactor = Redactor({"MY_SERVICE_TOKEN": "Zq9-custom-secret", "HOME": "/root"})
    cleaned = redactor.text(text)
    assert secret not in cleaned and MASK in cleaned


def test_plain_values_and_ordinary_env_survive() -> None:
    redactor = Redactor({"AUTH_MODE": "enabled", "PATH": "/usr/bin", "HOME": "/root"})
    text = "auth enabled; http://127.0.0.1:8000/v1 at /usr/bin; prompt_tokens 12; max_tokens 256"
    assert redactor.text(text) == text
    doc = {
        "api_key": "whatever-it-is",
        "api_key_env": "LLMOPS_JUDGE_API_KEY",
        "n": 3,
        "x": [None, "ok"],
    }
    assert redactor.clean(doc) == {**doc, "api_key": MASK}


def test_ten_thousand_items_fit_in_five_megabytes(tmp_path: Path) -> None:
    from llmops.dashboard import write_dashboard

    hist = History(tmp_path / "h.sqlite")
    hist.record(make_run(10_000, seed=1))
    hist.record(
        make_run(10_000, seed=2, started="2026-12-02T00:00:00+00:00", shift={"returns": 0.2})
    )
    payload = build_payload(hist, BuildOptions(full_items=200))
    (suite,) = payload["suites"]
    assert suite["items"]["total"] == 10_000 and len(suite["items"]["cols"]["id"]) == 10_000
    assert len(suite["items"]["full"]) == 200
    worst = sorted(suite["comparisons"][0]["diffs"], key=lambda d: d["worst"])
    assert len(worst) == 200 and worst[0]["worst"] < -0.15
    paths = write_dashboard(payload, tmp_path / "site")
    assert paths.bytes <= 5_000_000, paths.bytes
    assert paths.html.stat().st_size == paths.bytes


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    ("since", "expected"),
    [("first", 3), ("second", 2), ("HEAD", 1), ("2026-12-02", 2), ("2026-12-03T00:00:00", 1)],
)
def test_since_a_git_ref_or_a_date(tmp_path: Path, since: str, expected: int) -> None:
    _git(tmp_path, "init", "-q")
    commits = []
    for label in ("first", "second", "third"):
        _git(tmp_path, "commit", "-q", "--allow-empty", "-m", label)
        _git(tmp_path, "tag", label)
        commits.append(_git(tmp_path, "rev-parse", "HEAD"))
    hist = History(tmp_path / "h.sqlite")
    for day, commit in enumerate(commits, start=1):
        hist.record(
            make_run(
                8, seed=day, started=f"2026-12-0{day}T10:00:00+00:00", lin=lineage(commit=commit)
            )
        )
    payload = build_payload(hist, BuildOptions(since=since, root=tmp_path))
    assert len(payload["runs"]) == expected


def test_since_rejects_what_it_cannot_read(tmp_path: Path) -> None:
    from llmops.errors import UsageError

    hist = History(tmp_path / "h.sqlite")
    hist.record(make_run(4))
    with pytest.raises(UsageError, match="neither a date"):
        build_payload(hist, BuildOptions(since="no-such-ref", root=tmp_path))


def test_markdown_is_a_view_of_the_same_document(history: History) -> None:
    payload: dict[str, Any] = build_payload(history)
    text = render_markdown(payload, report_path="site/index.html")
    assert "## llmops eval: `support`" in text and "## llmops eval: `billing`" in text
    assert "**Not compared with run" in text and "different dataset" in text
    assert "**Most regressed items**" in text
    assert "**Slices that regressed**" in text and "`returns` faithfulness" in text
    assert "**Judge calibration**" in text and "**Flaky items**" in text
    assert text.rstrip().endswith("Report: `site/index.html`")


def test_report_build_with_the_monitor_page(cli: Any, tmp_path: Path) -> None:
    import time

    from llmops.config import load_settings
    from llmops.traces import TraceRecord, TraceStore

    (tmp_path / "llmops.yaml").write_text("project: pages\n")
    settings = load_settings(tmp_path)
    History.for_state(settings.state_path).record(make_run(6))
    store = TraceStore(settings.trace_url)
    store.write(
        [
            TraceRecord(
                request_id=f"r{i}", ts=time.time() - 60, route="support", latency_ms=20.0 + i
            )
            for i in range(30)
        ]
    )
    store.close()
    out = tmp_path / "site"
    built = cli("report", "build", "--page", "monitor", "--out", str(out), cwd=tmp_path)
    assert built.exit_code == 0, built.stderr
    html = (out / "index.html").read_text()
    assert '"id":"monitor"' in html and "Latency by route" in html
    wrong = cli("report", "build", "--page", "monitr", "--out", str(out), cwd=tmp_path)
    assert wrong.exit_code == 2 and "did you mean 'monitor'" in wrong.stderr
