"""`agentload replay SOURCE --target URL --model NAME`: replay a workload against an engine."""

from __future__ import annotations

from pathlib import Path

import click

from agentload.base.errors import EXIT_INTERRUPTED
from agentload.commands._options import force_option, replay_config, replay_options


@click.command("replay")
@replay_options()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("results.arrow"),
    show_default=True,
    help="Result file (Arrow).",
)
@force_option()
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    help="Divide recorded session arrival offsets by this factor.",
)
@click.option(
    "--session-rate",
    type=float,
    default=None,
    help="Start root sessions at this rate (sessions/s) instead of as recorded.",
)
@click.option("--poisson", is_flag=True, help="Poisson session arrivals (with --session-rate).")
@click.option(
    "--concurrency",
    type=int,
    default=None,
    help="Closed loop: keep N sessions in flight (each holds its slot through tool waits).",
)
@click.option(
    "--drain/--no-drain",
    default=True,
    show_default=True,
    help="After --duration, let running sessions finish, or cancel them.",
)
@click.option("--quiet", is_flag=True, help="No live progress and no summary.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (sessions, requests, tokens, mode, estimated duration) and exit: "
    "nothing is sent and no result file is written.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Run the workers as Ray actors (extra agentload[ray]); ADDRESS: auto, HOST:6379, or "
    "empty for Ray's default. --workers sets the number of actors. Put it after SOURCE.",
)
def command(
    source: str,
    ray_address: str | None,
    force: bool,
    dry_run: bool,
    **options: object,
) -> None:
    """Replay SOURCE (profile, trace, trie/Mooncake file or built-in profile name) against
    an engine with the original timing, writing one result row per request.

    How long it runs: recorded arrivals last until the last session's arrival / --speed,
    plus that session; --session-rate and --concurrency cycle the source's sessions until
    --duration, then the sessions in flight finish (the drain; --no-drain cancels them),
    or until --max-sessions; without a bound, every session of the source runs once. The
    run starts with a plan line that estimates its duration; --dry-run prints only that.

    SIGINT/SIGTERM stop the run: the result file is still written, marked partial, and the
    exit status is 130. A run where no request succeeded (it stops early when the first
    ones all fail) exits 3, one above --max-error-rate exits 1 (docs/exit-codes.md)."""
    from agentload.replay.pipeline import replay
    from agentload.replay.signals import run_until_signalled

    config = replay_config(source, **options)
    if dry_run:  # the plan only: nothing is sent, no result file is written
        from agentload.replay.estimate import estimate
        from agentload.replay.source import load_plan

        click.echo(estimate(load_plan(config.source, config.model), config).line(), err=True)
        return
    from agentload.traceformat.outputs import check_output

    # before the run, not after it: a bad --out used to cost the whole run (M5)
    check_output(config.out, "--out", inputs=[config.source], force=force)
    workers = None
    if ray_address is not None:
        from agentload.replay.distributed import ray_workers

        workers = ray_workers(config, ray_address or None)
    result = run_until_signalled(lambda stop: replay(config, stop, workers))
    if result.interrupted:
        click.echo(
            f"interrupted: partial result ({result.rows} requests) written to {result.path}",
            err=True,
        )
        raise SystemExit(EXIT_INTERRUPTED)
    from agentload.replay.outcome import verdict

    failure = verdict(result.outcome, config.target, config.max_error_rate)
    if failure is not None:  # the result file is written and kept
        raise failure
