"""Model cards in Markdown: intended use, data, metrics, limits, lineage."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.mlmodels.spec import ModelSpec

__all__ = ["model_card"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def model_card(client: Any, spec: ModelSpec, version: str | None = None) -> str:
    """Render the card of a registered version (default: the champion, else the newest)."""
    from llmops.errors import NotFoundError
    from llmops.mlmodels.registry import CHALLENGER, CHAMPION, get_alias, run_profile

    name = spec.name
    if version is None:
        found = get_alias(client, name, CHAMPION)
        if found is None:
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise NotFoundError(
                    f"model '{name}' has no registered version",
                    hint=f"train one first: llmops model train {name}",
                )
            found = max(versions, key=lambda v: int(v.version))
        mv = found
    else:
        mv = client.get_model_version(name, str(version))
    run = client.get_run(mv.run_id)
    profile = run_profile(client, mv.run_id)
    aliases = [
        a
        for a in (CHAMPION, CHALLENGER)
        if (v := get_alias(client, name, a)) and str(v.version) == str(mv.version)
    ]
    params = run.data.params
    tags = run.data.tags
    lines = [
        f"# Model card: {name} v{mv.version}",
        "",
        spec.description or "",
        "",
        f"- Aliases: {', '.join(aliases) or 'none'}",
        f"- Task: {spec.task}; target `{spec.target}`"
        + (
            f"; positive class `{params.get('positive_class')}`"
            if spec.task == "classification"
            else ""
        ),
        f"- Estimator: `{params.get('estimator', spec.estimator.name)}` with "
        + ", ".join(
            f"{k.removeprefix('estimator.')}={v}"
            for k, v in sorted(params.items())
            if k.startswith("estimator.")
        ),
        "",
        "## Intended use",
        "",
        spec.card.intended_use.strip(),
        "",
        "## Data",
        "",
        f"- Source: `{tags.get('llmops.dataset', '?')}`; {profile.rows} rows; "
        f"dataset hash `{profile.dataset_hash[:16]}`",
        f"- Validation split: {params.get('test_size')} held out (seed {params.get('split_seed')})",
        f"- Features: {len(profile.features)} "
        f"({params.get('n_numeric')} numeric, {params.get('n_categorical')} categorical)",
    ]
    if profile.classes:
        target = profile.column(profile.target)
        shares = target.categories if target else {}
        lines.append(
            "- Classes: " + ", ".join(f"{c} ({shares.get(c, 0):.0%})" for c in profile.classes)
        )
    lines += ["", "## Metrics (held-out split)", "", _row(["metric", "value", "threshold"])]
    lines.append(_row(["---", "---", "---"]))
    for metric, value in sorted(run.data.metrics.items()):
        limit = spec.thresholds.get(metric)
        lines.append(_row([metric, f"{value:.4f}", f"{limit:g}" if limit is not None else ""]))
    gate = mv.tags or {}
    if "llmops.gate.result" in gate:
        lines += [
            "",
            "## Promotion gate",
            "",
            f"- {gate['llmops.gate.result']}: {gate.get('llmops.gate.reason', '')}",
        ]
    lines += [
        "",
        "## Limitations",
        "",
        spec.card.limitations.strip(),
        "",
        "## Lineage",
        "",
        f"- MLflow run `{mv.run_id}`; model `{tags.get('llmops.model_uri', mv.source)}`",
        f"- Git commit `{tags.get('llmops.git_commit', 'unknown')}`",
        "- Environment: "
        + ", ".join(
            f"{k.removeprefix('env.')} {v}" for k, v in sorted(tags.items()) if k.startswith("env.")
        ),
    ]
    if spec.card.owners:
        lines += [f"- Owners: {', '.join(spec.card.owners)}"]
    if spec.search is not None:
        lines += [f"- Hyper-parameter search: {json.dumps(spec.search.params)}"]
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"
