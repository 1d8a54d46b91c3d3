"""A self-contained HTML report: inline CSS, no scripts or fonts fetched from anywhere."""

from __future__ import annotations

from llmops.evals.records import RunResult

__all__ = ["to_html"]

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>llmops eval: {{ run.suite }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4}.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}.skipped,.n\\/a{color:#777}
code{background:#f6f8fa;padding:1px 4px}details{margin:2px 0}pre{white-space:pre-wrap;margin:0}
</style></head><body>
<h1>{{ run.suite }} — <span class="{{ 'pass' if run.passed else 'fail' }}">{{ 'passed' if run.passed else 'failed' }}</span></h1>
<p>{{ run.items }} items × {{ run.repeats }} repeat(s) · started {{ run.started_at }} · {{ '%.1f'|format(run.wall_s) }} s ·
{{ run.calls.model_calls }} model calls · cache hit rate {{ '%.0f'|format(run.calls.hit_rate * 100) }}%
{% if run.partial %}· <b>partial (interrupted)</b>{% endif %}</p>
<h2>Lineage</h2>
<table>{% for key, value in lineage.items() %}<tr><th>{{ key }}</th><td><code>{{ value }}</code></td></tr>{% endfor %}</table>
<h2>Metrics</h2>
<table><tr><th>metric</th><th>type</th><th>mean</th><th>pass rate</th><th>threshold</th><th>baseline</th><th>Δ [CI]</th><th>status</th><th>notes</th></tr>
{% for m in run.metrics %}<tr><td>{{ m.name }}</td><td>{{ m.type }}</td><td>{{ fmt(m.mean) }}</td><td>{{ fmt(m.pass_rate) }}</td>
<td>{{ m.threshold }}</td><td>{{ fmt(m.baseline_mean) }}</td>
<td>{% if m.diff is not none %}{{ '%+.3f'|format(m.diff) }} [{{ '%+.3f'|format(m.ci_low) }}, {{ '%+.3f'|format(m.ci_high) }}]{% else %}–{% endif %}</td>
<td class="{{ m.status }}">{{ m.status }}</td><td>{{ m.reasons|join('; ') }}</td></tr>{% endfor %}</table>
{% if run.flaky %}<h2>Flaky items</h2><table><tr><th>item</th><th>metric</th><th>verdicts</th><th>flip rate</th></tr>
{% for f in run.flaky %}<tr><td>{{ f.id }}</td><td>{{ f.metric }}</td><td>{{ f.verdicts|join(' → ') }}</td><td>{{ '%.0f'|format(f.flip_rate*100) }}%</td></tr>{% endfor %}</table>{% endif %}
{% if run.calibration %}<h2>Judge calibration</h2><table><tr><th>metric</th><th>n</th><th>accuracy</th><th>kappa</th><th>TPR</th><th>TNR</th></tr>
{% for name, c in run.calibration.items() %}<tr><td>{{ name }}</td><td>{{ c.n }}</td><td>{{ fmt(c.accuracy) }}</td><td>{{ fmt(c.kappa) }}</td><td>{{ fmt(c.tpr) }}</td><td>{{ fmt(c.tnr) }}</td></tr>{% endfor %}</table>{% endif %}
<h2>Items</h2>
<table><tr><th>item</th><th>question</th><th>answer</th>{% for m in run.metrics %}<th>{{ m.name }}</th>{% endfor %}<th>latency</th></tr>
{% for row in run.rows %}<tr><td>{{ row.id }}{% if run.repeats > 1 %} #{{ row.repeat }}{% endif %}</td>
<td>{{ row.input }}</td>
<td><details><summary>{{ row.output.answer[:120] }}{% if row.output.answer|length > 120 %}…{% endif %}</summary><pre>{{ row.output.answer }}</pre>
{% if row.output.error %}<p class="error">{{ row.output.error }}</p>{% endif %}
{% for c in row.output.contexts %}<p><code>{{ c.id }}</code> {{ c.source }}</p>{% endfor %}</details></td>
{% for m in run.metrics %}{% set r = row.metrics.get(m.name) %}<td class="{{ r.status if r else '' }}" title="{{ r.reason if r else '' }}">{% if r %}{{ fmt(r.score) if r.score is not none else r.status }}{% endif %}</td>{% endfor %}
<td>{{ '%.0f'|format(row.output.latency_ms) }} ms</td></tr>{% endfor %}</table>
</body></html>
"""


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def to_html(run: RunResult) -> str:
    """Return the run as one HTML page."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    lineage = {
        key: value
        for key, value in run.lineage.model_dump(mode="json", exclude_none=True).items()
        if value not in ({}, [], "")
    }
    return env.from_string(TEMPLATE).render(run=run, lineage=lineage, fmt=_fmt)
