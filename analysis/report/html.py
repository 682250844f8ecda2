"""One self-contained HTML file: inline CSS and inline SVG, no scripts, no external URLs."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from agentload.analysis.report.charts import Chart
from agentload.analysis.report.tables import Table

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#111827;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#4b5563;margin-bottom:12px}
.notes{background:#fef3c7;border:1px solid #f59e0b;padding:8px 14px;border-radius:6px}
.notes li{margin:2px 0}
.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f4f6}caption{font-weight:600;text-align:left;padding:4px 0}
figure.chart{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
.omitted{color:#6b7280;font-style:italic;margin:4px 0}
svg .grid{stroke:#e5e7eb;stroke-width:1}svg .axis{stroke:#374151;stroke-width:1}
svg text{font:11px system-ui,sans-serif;fill:#374151}svg .label{font-size:12px}
td.wrap{text-align:left;max-width:760px;word-break:break-all}
td.regressed{color:#b91c1c;font-weight:600;background:#fee2e2}
td.improved{color:#047857;font-weight:600;background:#d1fae5}td.noise{color:#6b7280}
.warnings{background:#fee2e2;border:1px solid #ef4444;padding:8px 14px;border-radius:6px}
"""


def table_html(table: Table, wrap_last: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = []
    for r, row in enumerate(table.rows):
        cells = []
        for i, cell in enumerate(row):
            name = "wrap" if wrap_last and i == len(row) - 1 else table.styles.get((r, i), "")
            cls = f' class="{name}"' if name else ""
            cells.append(f"<td{cls}>{escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><caption>{escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def chart_html(chart: Chart) -> str:
    if chart.svg is None:
        return (
            f'<p class="omitted" data-omitted="{escape(chart.key)}">'
            f"{escape(chart.title)}: {escape(chart.note)}</p>"
        )
    return (
        f'<figure class="chart" data-chart="{escape(chart.key)}">'
        f"<figcaption>{escape(chart.title)}</figcaption>{chart.svg}</figure>"
    )


def page(
    title: str,
    subtitle: str,
    notes: Sequence[str],
    tables: Sequence[Table],
    charts: Sequence[Chart],
    metadata: Table | None = None,
    warnings: Sequence[str] = (),
    links: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole document. Charts without data are listed as notes, never drawn empty;
    `warnings` (e.g. compare's mismatched runs) open it in red."""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><div class='sub'>{escape(subtitle)}</div>",
    ]
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        parts.append(f'<div class="warnings" id="warnings"><ul>{items}</ul></div>')
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        parts.append(f'<div class="notes" id="notes"><ul>{items}</ul></div>')
    if links:
        items = "".join(
            f'<li><a href="{escape(href)}">{escape(text)}</a></li>' for text, href in links
        )
        parts.append(f'<h2>Reports</h2><ul class="links">{items}</ul>')
    parts.append("<h2>Summary</h2><div class='grid'>")
    parts += [table_html(t) for t in tables]
    parts.append("</div>")
    drawn = [c for c in charts if c.svg is not None]
    omitted = [c for c in charts if c.svg is None]
    if drawn or omitted:
        parts.append("<h2>Charts</h2>")
    parts += [chart_html(c) for c in omitted]
    parts.append("<div class='grid'>")
    parts += [chart_html(c) for c in drawn]
    parts.append("</div>")
    if metadata is not None:
        parts.append("<h2>Run metadata</h2>")
        parts.append(table_html(metadata, wrap_last=True))
    parts.append("</body></html>")
    return "\n".join(parts)


def write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
