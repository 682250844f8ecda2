"""`agentload report`: terminal tables, HTML, JSON, Parquet and CSV from one result file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from agentload.analysis.goodput import Slo
from agentload.analysis.report import charts, html, tables, terminal
from agentload.analysis.report.tables import Table
from agentload.analysis.run_analysis import RunAnalysis, analyze_path
from agentload.traceformat.distribution import POINTS


@dataclass(frozen=True)
class ReportConfig:
    results: Path
    html: Path | None = None
    json: Path | None = None
    parquet: Path | None = None
    csv: Path | None = None
    slo: Slo | None = None
    gpus: int | None = None
    quiet: bool = False
    points: Sequence[str] = POINTS  # latency distribution points (--percentiles)


def rich_table(table: Table) -> RichTable:
    out = RichTable(title=table.title, title_justify="left", title_style="bold")
    for i, header in enumerate(table.headers):
        out.add_column(header, justify="left" if i == 0 else "right")
    for r, row in enumerate(table.rows):
        styles = [tables.STYLES.get(table.styles.get((r, c), ""), "") for c in range(len(row))]
        out.add_row(*(Text(cell, style=style) for cell, style in zip(row, styles, strict=True)))
    return out


def print_report(a: RunAnalysis, console: Console) -> None:
    console.print(f"[bold]agentload report[/bold] {a.data.path}")
    for note in a.summary["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")
    for table in tables.all_tables(a):
        console.print(rich_table(table))


def html_report(a: RunAnalysis) -> str:
    info = a.summary["info"]
    subtitle = " · ".join(str(x) for x in (a.data.path, info.get("target"), info.get("model")) if x)
    return html.page(
        title="agentload report",
        subtitle=subtitle,
        notes=a.summary["notes"],
        tables=tables.all_tables(a),
        charts=charts.all_charts(a),
        metadata=tables.info_table(a.summary),
    )


def frames(a: RunAnalysis) -> dict[str, pl.DataFrame]:
    """The per-request, per-session, per-turn and ITL tables written by --parquet/--csv."""
    return {"requests": a.requests, "sessions": a.sessions, "turns": a.turns, "itl": a.itl}


def write_tables(a: RunAnalysis, directory: Path, fmt: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name, frame in frames(a).items():
        path = directory / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        else:  # CSV has no list type: chunk offsets/tokens stay in Parquet only
            flat = [c for c, t in frame.schema.items() if not isinstance(t, pl.List)]
            frame.select(flat).write_csv(path)
        out.append(path)
    return out


def run(config: ReportConfig, console: Console | None = None) -> RunAnalysis:
    console = console or terminal.console()
    a = analyze_path(config.results, slo=config.slo, gpus=config.gpus, points=config.points)
    if not config.quiet:
        print_report(a, console)
    if config.html is not None:
        html.write(config.html, html_report(a))
        console.print(f"HTML report: {config.html}")
    if config.json is not None:
        config.json.parent.mkdir(parents=True, exist_ok=True)
        config.json.write_text(json.dumps(a.summary, indent=2, default=str) + "\n")
        console.print(f"JSON summary: {config.json}")
    for directory, fmt in ((config.parquet, "parquet"), (config.csv, "csv")):
        if directory is not None:
            write_tables(a, directory, fmt)
            console.print(f"{fmt} tables: {directory}")
    return a
