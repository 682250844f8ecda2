"""`agentload demo`: an agentic-coding sample on two simulated engines (a preset, and the
same preset with less KV cache), judged like `compare` judges runs."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the sample, both result files and the HTML pages (open index.html).",
)
@click.option(
    "--preset",
    type=click.Choice(["default", "fast"]),
    default="default",
    show_default=True,
    help="Simulated engine preset of both runs (default: 8B model on one H100; fast: "
    "near-zero cost, where KV size barely matters).",
)
@click.option(
    "--kv-fraction",
    type=float,
    default=0.25,
    show_default=True,
    help="KV cache of the second engine as a fraction of the preset's (0.25: a quarter, "
    "100,000 tokens of the default preset's 400,000).",
)
@click.option(
    "--concurrency",
    default="16",
    show_default=True,
    metavar="SESSIONS",
    help="Sessions in flight (closed loop) in both runs, each running that many sessions. "
    "Deprecated: two values 'A,B' (the old demo of two concurrencies) run both engines "
    "at the larger, with a warning.",
)
def command(out: Path, preset: str, kv_fraction: float, concurrency: str) -> None:
    """Replay a time-scaled sample of agentic-coding against two embedded simulated
    engines, a preset and the same preset with a fraction of its KV cache; print the
    comparison and each metric's verdict, and write the HTML pages (about a minute)."""
    from agentload.base.errors import EXIT_INTERRUPTED
    from agentload.orchestration.demo import DemoConfig, run_demo
    from agentload.traceformat.outputs import check_output_dir

    check_output_dir(out, "--out")
    config = DemoConfig(
        out=out, concurrency=_concurrency(concurrency), preset=preset, kv_fraction=kv_fraction
    )
    if run_demo(config).compared is None:
        raise SystemExit(EXIT_INTERRUPTED)


def _concurrency(text: str) -> int:
    """'16' -> 16; the deprecated 'A,B' -> max(A, B) with a warning on stderr."""
    from agentload.base.errors import ConfigError
    from agentload.orchestration.sweep import parse_list

    points = parse_list(text, int, "--concurrency")
    if len(points) > 2:
        raise ConfigError(f"--concurrency: expected one value, got {text!r}")
    if min(points) < 1:
        raise ConfigError(f"--concurrency: expected values >= 1, got {text!r}")
    if len(points) == 2:
        click.echo(
            f"warning: --concurrency {text}: two concurrencies are deprecated (the demo now "
            f"compares two engines at one concurrency); running both at {max(points)}",
            err=True,
        )
    return max(points)
