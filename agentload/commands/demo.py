"""`agentload demo`: simulated engine + agentic-coding sample at two concurrencies."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the sample, result files and HTML reports.",
)
@click.option(
    "--concurrency",
    default="4,16",
    show_default=True,
    help="The two closed-loop concurrencies to compare, e.g. 4,16.",
)
@click.option(
    "--preset",
    type=click.Choice(["default", "fast"]),
    default="default",
    show_default=True,
    help="Simulated engine preset (default: 8B model on one H100).",
)
def command(out: Path, concurrency: str, preset: str) -> None:
    """Replay a time-scaled sample of agentic-coding against the embedded simulated engine
    at two concurrencies; print the comparison and write HTML reports (about a minute)."""
    from agentload.base.errors import ConfigError
    from agentload.orchestration.demo import DemoConfig, run_demo
    from agentload.orchestration.sweep import parse_list
    from agentload.traceformat.outputs import check_output_dir

    check_output_dir(out, "--out")
    points = parse_list(concurrency, int, "--concurrency")
    if len(points) != 2:
        raise ConfigError(f"--concurrency: expected two values, got {concurrency!r}")
    run_demo(DemoConfig(out=out, concurrencies=(points[0], points[1]), preset=preset))
