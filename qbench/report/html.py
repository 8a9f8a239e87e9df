"""A self-contained HTML leaderboard. Every value that reaches the page is HTML-escaped."""

from __future__ import annotations

import json
from html import escape

import numpy as np

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.ci{color:#777;font-size:.85em} .meta{color:#555}
"""


def _cell(value: float, lo: float, hi: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "<td>–</td>"
    ci = "" if np.isnan(lo) else f' <span class="ci">[{lo:.{digits}f}, {hi:.{digits}f}]</span>'
    return f"<td>{value:.{digits}f}{ci}</td>"


def leaderboard_html(data, summary, ci) -> str:
    """Render the leaderboard (one table per dataset, skipped metrics, failures) as HTML."""
    from .tables import KEYS, _digits

    env = json.loads(data.run["env_json"])
    name = escape(str(data.suite["name"]))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>qbench: {name}</title>"
             f"<style>{CSS}</style></head><body><h1>Leaderboard: {name}</h1>"]
    if data.suite.get("description"):
        parts.append(f"<p>{escape(str(data.suite['description']))}</p>")
    meta = (f"Suite hash {data.suite_hash} · run {data.run['run_id']} · qbench {env.get('qbench')} · "
            f"torch {env.get('torch')} · Pillow {env.get('pillow')} ({env.get('libjpeg')}) · "
            f"device {env.get('device')}")
    parts.append(f"<p class='meta'>{escape(meta)}. Means of per-image values with bootstrap 95% "
                 "confidence intervals; ↑ higher is better, ↓ lower is better.</p>")
    arrows = {m: "↑" if data.higher_is_better.get(m, True) else "↓" for m in data.all_metric_names}
    for dataset in (dict.fromkeys(summary["dataset"]) if len(summary) else []):
        sub = summary[summary["dataset"] == dataset]
        head = "".join(f"<th>{escape(m)} {arrows[m]}</th>" for m in data.all_metric_names)
        parts.append(f"<h2>{escape(str(dataset))}</h2><table><tr><th class='l'>solver</th>"
                     f"<th class='l'>codec</th><th>quality</th><th>images</th><th>bpp ↓</th>{head}</tr>")
        for _, r in sub.iterrows():
            key = tuple(r[k] for k in KEYS)
            quality = format(float(r["quality"]), "g")
            cells = "".join(_cell(float(r[m]), *ci[key][m], _digits(m)) for m in data.all_metric_names)
            parts.append(f"<tr><td class='l'>{escape(str(r['solver']))}</td><td class='l'>"
                         f"{escape(str(r['codec']))}</td><td>{quality}</td>"
                         f"<td>{int(r['n_images'])}</td><td>{float(r['bpp']):.4f}</td>{cells}</tr>")
        parts.append("</table>")
    if data.skipped_metrics:
        items = "".join(f"<li><code>{escape(m)}</code>: {escape(reason)}</li>"
                        for m, reason in sorted(data.skipped_metrics.items()))
        parts.append(f"<h2>Skipped metrics</h2><ul>{items}</ul>")
    if len(data.failures):
        items = "".join(f"<li>{escape(str(f['stage']))}: {escape(str(f['detail']))}: "
                        f"{escape(str(f['error']).splitlines()[0] if f['error'] else '')}</li>"
                        for _, f in data.failures.head(200).iterrows())
        parts.append(f"<h2>Failures ({len(data.failures)})</h2><ul>{items}</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
