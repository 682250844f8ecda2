"""`agentload trace ...`: work on recorded (private) trace files."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

_console = Console()
_err = Console(stderr=True)


@click.group("trace")
def command() -> None:
    """Recorded trace files (private, full content)."""


@command.command("stitch")
@click.argument("traces", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Trace file to write: every call of TRACES, in order of request start, with "
    "sessions and parents stitched again.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def stitch_cmd(traces: tuple[Path, ...], out: Path, force: bool) -> None:
    """Stitch sessions again over any set of trace files (several capture processes, old
    traces, better rules); the files given are left as recorded."""
    from agentload.capture.restitch import stitch_files
    from agentload.traceformat.outputs import check_input, check_output

    for path in traces:
        check_input(path)
    check_output(out, "--out", inputs=traces, force=force)
    with _err.status("stitching"):
        done = stitch_files(
            traces, out, note=lambda msg: _err.print(f"note: {msg}", highlight=False)
        )
    _console.print(
        f"{done.path}: {done.calls:,} calls from {done.files} file(s), {done.sessions:,} "
        f"sessions ({done.children:,} with a parent); recorded: {done.recorded_sessions:,}",
        highlight=False,
        soft_wrap=True,
    )
