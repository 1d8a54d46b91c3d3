"""`llmops prompt push` against a real local MLflow store (sqlite under the state root)."""

from __future__ import annotations

import json
from pathlib import Path

from prompt_helpers import GREET_DRAFT

from llmops.prompts import load_registry


def test_push_registers_versions_and_aliases_idempotently(
    cli, shipped: Path, _isolated_state: Path
) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    first = cli("prompt", "push", "--json", cwd=shipped)
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    uri = f"sqlite:///{_isolated_state / 'mlflow.db'}"
    assert report["tracking_uri"] == uri  # default: sqlite under the state root
    registry = load_registry(shipped)
    lock = registry.read_lock()
    # One registration per released version and one alias per label, as the lock lists them.
    released = sum(len(e.versions) for e in lock.prompts.values())
    assert len(report["registered"]) == released
    assert len(report["aliases"]) == sum(len(e.labels) for e in lock.prompts.values())

    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name, entry in lock.prompts.items():
        versions = {int(v.tags["llmops.version"]): v for v in client.search_prompt_versions(name)}
        assert sorted(versions) == sorted(entry.versions)
        for number, pv in versions.items():
            assert pv.tags["llmops.content_hash"] == entry.versions[number].hash
            ours = registry.get(f"{name}@{number}")
            expected = ours.file.template or [
                {"role": r, "content": c} for r, c in ours.message_templates()
            ]
            assert pv.template == expected
        for label, number in entry.labels.items():
            aliased = client.get_prompt_version_by_alias(name, label)
            assert aliased.tags["llmops.version"] == str(number)

    second = cli("prompt", "push", cwd=shipped)
    assert second.exit_code == 0, second.stderr
    assert second.stdout.strip().endswith(
        f"0 registered, 0 alias(es) set, {released} unchanged ({uri})"
    )
    assert len(client.search_prompt_versions("rag-answer")) == 2

    # moving a label moves only the alias
    assert cli("prompt", "label", "rag-answer@2", "production", cwd=shipped).exit_code == 0
    third = cli("prompt", "push", cwd=shipped)
    assert "alias rag-answer@production -> rag-answer@2" in third.stdout
    assert f"0 registered, 1 alias(es) set, {released} unchanged" in third.stdout
    assert (
        client.get_prompt_version_by_alias("rag-answer", "production").tags["llmops.version"] == "2"
    )

    # another project's different rag-answer@1 must not be silently merged
    other = shipped.parent / "other"
    (other / "prompts").mkdir(parents=True)
    (other / "llmops.yaml").write_text("project: other\n")
    (other / "prompts" / "rag-answer.yaml").write_text(
        GREET_DRAFT.replace("name: greet", "name: rag-answer")
    )
    assert cli("prompt", "release", "rag-answer", cwd=other).exit_code == 0
    clash = cli("prompt", "push", "--tracking-uri", uri, cwd=other)
    assert clash.exit_code == 2
    assert clash.stderr.splitlines()[0] == (
        "error: MLflow holds a different 'rag-answer@1' (content hash differs)"
    )
    assert len(client.search_prompt_versions("rag-answer")) == 2
