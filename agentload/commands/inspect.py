"""`agentload inspect FILE`: what a trace, profile, result or foreign workload file holds."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agentload.base.errors import ConfigError
from agentload.traceformat.file_overview import Stat, Summary, summarize
from agentload.traceformat.schema import Kind


@dataclass(frozen=True)
class InspectConfig:
    path: Path
    kind: Kind | None
    mooncake_block_size: int
    as_json: bool

    def __post_init__(self) -> None:
        if self.mooncake_block_size < 1:
            raise ConfigError(f"--mooncake-block-size must be >= 1, got {self.mooncake_block_size}")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"


def render(summary: Summary, console: Console) -> None:
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("file", summary.path)
    head.add_row("format", summary.format)
    head.add_row("kind", summary.kind)
    head.add_row("version", summary.version or "-")
    head.add_row("rows", f"{summary.rows:,}")
    head.add_row("sessions", f"{summary.sessions:,}")
    if summary.truncated:
        head.add_row("truncated", "[yellow]yes: the writer stopped mid-stream[/yellow]")
    for key, value in summary.facts.items():
        head.add_row(key, _fact(value))
    console.print(head)
    table = Table(title="distributions")
    for name in ("quantity", "unit", "n", "mean", "p50", "p90", "p95", "max", "total"):
        table.add_column(name, justify="left" if name in ("quantity", "unit") else "right")
    for stat in summary.stats:
        table.add_row(*_stat_cells(stat))
    console.print(table)


def _fact(value: object, width: int = 100) -> str:
    """A fact for the terminal, shortened (--json has it whole)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _stat_cells(stat: Stat) -> list[str]:
    values = (stat.mean, stat.p50, stat.p90, stat.p95, stat.max, stat.total)
    return [stat.name, stat.unit, f"{stat.count:,}", *(_number(v) for v in values)]


@click.command("inspect")
# Existence is checked by the reader, whose error is one line naming the file.
@click.argument("file")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in Kind]),
    default=None,
    help="Require an agentload file of this kind (default: accept any, or trie/Mooncake JSONL).",
)
@click.option(
    "--mooncake-block-size",
    type=int,
    default=512,
    show_default=True,
    help="Tokens per hash block assumed for Mooncake JSONL files.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(file: str, kind: str | None, mooncake_block_size: int, as_json: bool) -> None:
    """Summarise FILE: kind, version, rows, sessions, calls per session, tokens and timing.

    FILE is an agentload trace, profile or result (stream or file format), a trie or
    Mooncake JSONL workload, or a built-in profile's name (agentic-coding, ...)."""
    from agentload.profiles.load import resolve

    path = resolve(file)
    config = InspectConfig(path, Kind(kind) if kind else None, mooncake_block_size, as_json)
    summary = summarize(config.path, config.kind, config.mooncake_block_size)
    if config.as_json:
        # values whole, None as null: for scripts, not eyes
        click.echo(json.dumps(dataclasses.asdict(summary), indent=2, default=str))
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=120)  # piped output: do not squeeze to 80 columns
        render(summary, console)
