"""`agentload replay SOURCE --target URL --model NAME`: replay a workload against an engine."""

from __future__ import annotations

from pathlib import Path

import click

from traceformat.errors import ConfigError


def _resolve_source(source: str) -> tuple[Path, str]:
    """A path as given, or a built-in profile name (when the profiles package has it)."""
    path = Path(source)
    if path.exists():
        return path, source
    try:
        from profiles import builtin
    except ImportError:
        return path, source
    try:
        names = builtin.names()
    except Exception:  # a broken profiles package must not hide the real error below
        names = []
    if source in names:
        return Path(builtin.path(source)), f"builtin:{source}"
    known = f" (built-in profiles: {', '.join(names)})" if names else ""
    raise ConfigError(f"{source}: no such file or built-in profile{known}")


def _headers(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        key, sep, val = value.partition(":")
        if not sep:
            raise ConfigError(f"--header {value!r}: expected 'Name: value'")
        out.append((key.strip(), val.strip()))
    return tuple(out)


@click.command("replay")
@click.argument("source")
@click.option("--target", required=True, help="Base URL of the engine, e.g. http://127.0.0.1:8000.")
@click.option("--model", required=True, help="Model name to put in every request.")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=Path("results.arrow"),
    show_default=True,
    help="Result file (Arrow).",
)
@click.option(
    "--api",
    type=click.Choice(["completions", "chat", "messages"]),
    default="completions",
    show_default=True,
    help="Endpoint for synthetic prompts (a trace keeps its recorded API).",
)
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
    "--think-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply recorded think (tool) times by this factor.",
)
@click.option("--max-think", type=float, default=None, help="Cap each think time (seconds).")
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop admitting sessions after this many seconds (sessions are cycled).",
)
@click.option(
    "--drain/--no-drain",
    default=True,
    show_default=True,
    help="After --duration, let running sessions finish, or cancel them.",
)
@click.option(
    "--max-sessions", type=int, default=None, help="Admit at most this many root sessions."
)
@click.option(
    "--warmup",
    type=float,
    default=0.0,
    show_default=True,
    help="Flag requests sent in the first S seconds as warmup (excluded from metrics).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for Poisson arrivals.")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Client processes (sessions sharded by a stable hash).",
)
@click.option(
    "--header", "headers", multiple=True, help="Extra request header 'Name: value' (repeatable)."
)
@click.option(
    "--session-header",
    default="X-Session-ID",
    show_default=True,
    help="Per-session routing header ('' to disable).",
)
@click.option(
    "--gpus", type=int, default=None, help="GPUs behind the target (for per-GPU figures)."
)
@click.option("--scrape-metrics", is_flag=True, help="Poll the target's /metrics every second.")
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait to connect or for the next byte of a response.",
)
@click.option(
    "--transport",
    type=click.Choice(["raw", "aiohttp", "httpx"]),
    default="raw",
    show_default=True,
    help="HTTP client: raw (built-in HTTP/1.1, fastest; https targets use aiohttp), "
    "aiohttp or httpx.",
)
@click.option("--no-calibrate", is_flag=True, help="Do not calibrate text prompts with /tokenize.")
@click.option("--quiet", is_flag=True, help="No live progress and no summary.")
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
    headers: tuple[str, ...],
    session_header: str,
    no_calibrate: bool,
    ray_address: str | None,
    **options: object,
) -> None:
    """Replay SOURCE (profile, trace, trie/Mooncake file or built-in profile name) against
    an engine with the original timing, writing one result row per request."""
    from replay.config import ApiChoice, ReplayConfig, TransportChoice
    from replay.run import run_replay

    path, label = _resolve_source(source)
    options["api"] = ApiChoice(str(options["api"]))
    options["transport"] = TransportChoice(str(options["transport"]))
    config = ReplayConfig(
        source=path,
        source_label=label,
        headers=_headers(headers),
        session_header=session_header or None,
        calibrate=not no_calibrate,
        **options,  # type: ignore[arg-type]
    )
    if ray_address is None:
        run_replay(config)
    else:
        from replay.distributed import run_on_ray

        run_on_ray(config, ray_address or None)
