"""Model cards in Markdown: intended use, data, metrics, limits, lineage."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.mlmodels.spec import ModelSpec

__all__ = ["model_card"]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _artifact(client: Any, run_id: str, path: str) -> Any | None:
    """Return a JSON artifact of the run, or None when the run has none (older runs)."""
    from llmops.mlmodels.registry import _artifact_json

    parent, _, _ = path.rpartition("/")
    names = {a.path for a in client.list_artifacts(run_id, parent or None)}
    return _artifact_json(client, run_id, path) if path in names else None


def _fairness_lines(client: Any, run_id: str) -> list[str]:
    from llmops.mlmodels.fairness import FairnessReport
    from llmops.mlmodels.training import FAIRNESS_ARTIFACT

    data = _artifact(client, run_id, FAIRNESS_ARTIFACT)
    if data is None:
        return []
    report = FairnessReport.model_validate(data)
    lines = [
        "",
        "## Fairness (held-out split)",
        "",
        f"Positive class `{report.positive_class}`; {report.rows} rows; groups under "
        f"{report.min_group_size} rows are shown but not judged.",
        "",
        _row(["attribute", "group", "rows", "selection rate", "TPR", "FPR", "accuracy"]),
        _row(["---"] * 7),
    ]
    for a in report.attributes:
        for g in a.groups:
            rates = [
                f"{v:.3f}" if v is not None else "n/a"
                for v in (g.selection_rate, g.true_positive_rate, g.false_positive_rate, g.accuracy)
            ]
            size = f"{g.rows}" + ("" if g.judged else " (not judged)")
            lines.append(_row([a.attribute, g.group, size, *rates]))
    lines.append("")
    for a in report.attributes:
        for m in a.measures:
            mark = "BROKEN" if m.broken else "ok" if m.bound is not None else "-"
            lines.append(f"- {a.attribute}: {m.describe()} {mark}")
        if a.note:
            lines.append(f"- {a.attribute}: {a.note}")
    return lines


def _explanation_lines(client: Any, run_id: str, top: int = 5) -> list[str]:
    from llmops.mlmodels.explain import ExplanationReport, describe_row
    from llmops.mlmodels.training import EXPLANATION_ARTIFACT

    data = _artifact(client, run_id, EXPLANATION_ARTIFACT)
    if data is None:
        return []
    report = ExplanationReport.model_validate(data)
    perm = ", ".join(f"{f.feature} {f.mean:.3f}" for f in report.permutation[:top])
    lines = [
        "",
        "## Explanations",
        "",
        f"- Permutation importance (drop in {report.metric}, {report.rows} held-out rows, "
        f"{report.permutation_repeats} repeats): {perm}",
    ]
    if report.shap is not None:
        shap = ", ".join(f"{f.feature} {f.mean:.3f}" for f in report.shap[:top])
        lines.append(f"- Mean |SHAP| ({report.shap_kind}, {report.shap_output}): {shap}")
    else:
        lines.append(f"- SHAP: not computed ({report.shap_note})")
    if report.examples:
        lines += [
            "- One held-out prediction explained:",
            *("  " + line for line in describe_row(report.examples[0])),
        ]
    lines.append(
        "- Full report: `explanation/report.md` in the run; one prediction: "
        "`llmops model explain NAME --row ...`"
    )
    return lines


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
        f"- Source: `{tags.get('llmops.dataset', '?')}`; {profile.rows} rows",
        f"- Dataset version (sha256 of the validated data): `{profile.dataset_hash}`",
        f"- Held-out rows version: `{tags.get('llmops.holdout_hash', 'not recorded')}`; "
        f"training configuration `{tags.get('llmops.config_hash', 'not recorded')[:16]}`",
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
        if metric.startswith("fairness."):
            continue  # shown with their groups under Fairness
        limit = spec.thresholds.get(metric)
        lines.append(_row([metric, f"{value:.4f}", f"{limit:g}" if limit is not None else ""]))
    lines += _fairness_lines(client, mv.run_id)
    lines += _explanation_lines(client, mv.run_id)
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
