"""`agentload profile ...`: derive, inspect, convert, fetch and transform workload profiles."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agentload.base.errors import ConfigError

_console = Console()
_err = Console(stderr=True)


@click.group("profile")
def command() -> None:
    """Shareable, content-free workload profiles."""


@command.command("derive")
@click.argument("traces", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the profiles (one <workload>.arrow per workload label).",
)
@click.option(
    "--by",
    default="workload",
    type=click.Choice(["workload"]),
    help="How to split calls into profiles.",
)
@click.option(
    "--block-size",
    default=64,
    show_default=True,
    type=int,
    help='Tokens per hash_ids block (1 .. 65,536, docs/formats.md "Limits").',
)
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    help="Secret for the keyed hashes (>= 16 bytes); default: random per run.",
)
@click.option(
    "--require-usage",
    is_flag=True,
    help="Fail on a successful call recorded without provider usage instead of estimating "
    "its token counts from its content (offline tokenizer, scaled by the trace's other calls).",
)
@click.option(
    "--recorded-sessions",
    is_flag=True,
    help="Keep the sessions as capture recorded them instead of stitching them again over "
    "all TRACES together (as `agentload trace stitch` does).",
)
def derive_cmd(
    traces: tuple[Path, ...],
    out_dir: Path,
    by: str,
    block_size: int,
    key_file: Path | None,
    require_usage: bool,
    recorded_sessions: bool,
) -> None:
    """Derive one profile per workload label from trace files."""
    from agentload.capture.restitch import restitch_frames
    from agentload.profiles.blocks import HashKey
    from agentload.profiles.derive import DeriveConfig, derive
    from agentload.traceformat.outputs import check_output_dir

    key = HashKey.from_file(key_file) if key_file is not None else HashKey.random()
    restitch = None if recorded_sessions else restitch_frames
    config = DeriveConfig(tuple(traces), out_dir, key, block_size, by, require_usage, restitch)
    check_output_dir(out_dir, "--out")  # after the options: a refused run creates no folder
    with _err.status("deriving") as status:
        written = derive(
            config,
            progress=lambda msg: status.update(msg),
            note=lambda msg: _err.print(f"note: {msg}", highlight=False, soft_wrap=True),
        )
    for item in written:
        _console.print(
            f"{item.path}: workload {item.workload!r}, "
            f"{item.sessions:,} sessions, {item.calls:,} calls, "
            f"{item.estimated:,} with estimated token counts (no provider usage)"
        )


@command.command("list")
def list_cmd() -> None:
    """List the built-in profiles with their headline figures."""
    import polars as pl

    from agentload.profiles import builtin, reference
    from agentload.profiles.load import load
    from agentload.traceformat import schema as s

    table = Table(title="built-in profiles")
    for col in (
        "name",
        "sessions",
        "calls",
        "mean tool turns",
        "mean start prompt",
        "block",
        "reference",
    ):
        table.add_column(col, no_wrap=col == "name")
    for name in builtin.names():
        p = load(name, (s.SESSION_ID, s.CALL_INDEX, s.INPUT_TOKENS))
        firsts = p.frame.filter(pl.col(s.CALL_INDEX) == 0)
        ref = reference.REFERENCES.get(name)
        table.add_row(
            name,
            f"{firsts.height:,}",
            f"{p.frame.height:,}",
            f"{p.frame.height / max(firsts.height, 1) - 1:.1f}",
            f"{firsts.select(pl.col(s.INPUT_TOKENS).mean()).item() or 0:,.0f}",
            "—" if p.block_size is None else str(p.block_size),
            "—" if ref is None else ref.basis,
        )
    _console.print(table)


def _print_stats(name_or_path: str, reference_name: str | None) -> None:
    from agentload.profiles import reference, render, workload_stats
    from agentload.profiles.load import load
    from agentload.traceformat import schema as s

    p = load(name_or_path, workload_stats.COLUMNS)
    if p.frame.height == 0:
        raise ConfigError(f"{p.path}: profile has no calls")
    label = reference_name or str(p.frame[s.WORKLOAD].mode().sort()[0])
    ref = reference.REFERENCES.get(label)
    if reference_name is not None and ref is None:
        raise ConfigError(
            f"--reference: unknown workload {reference_name!r}; choose one of: "
            + ", ".join(reference.REFERENCES)
        )
    st = workload_stats.compute(p.frame, p.block_size)
    render.print_stats(_console, f"{p.path.name} ({label})", st, ref, p.block_size)


@command.command("show")
@click.argument("name")
def show_cmd(name: str) -> None:
    """Statistics of a built-in profile beside its reference figures."""
    from agentload.profiles import builtin

    builtin.path(name)  # one-line error naming the choices
    _print_stats(name, None)


@command.command("stats")
@click.argument("profiles", nargs=-1, required=True)
@click.option(
    "--reference",
    "reference_name",
    help="Reference workload to compare with (default: the profile's label).",
)
def stats_cmd(profiles: tuple[str, ...], reference_name: str | None) -> None:
    """Statistics of a profile file (or built-in name) beside the reference figures; with
    two profiles A B, both side by side: marginals, correlations, final-context tail."""
    if len(profiles) > 2:
        raise ConfigError(f"profile stats: one profile, or two to compare; got {len(profiles)}")
    if len(profiles) == 1:
        _print_stats(profiles[0], reference_name)
        return
    from agentload.profiles import render, structure_stats
    from agentload.profiles.load import load

    loaded = [load(name, structure_stats.COLUMNS) for name in profiles]
    tables = render.comparison_tables(
        (profiles[0], profiles[1]),
        (structure_stats.marginals(loaded[0].frame), structure_stats.marginals(loaded[1].frame)),
        (
            structure_stats.correlations(loaded[0].frame),
            structure_stats.correlations(loaded[1].frame),
        ),
    )
    for table in tables:
        _console.print(table)


@command.command("import")
@click.argument("fmt", type=click.Choice(["trie", "mooncake"]))
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Profile file to write."
)
@click.option(
    "--block-size",
    default=512,
    show_default=True,
    type=int,
    help="Mooncake only: tokens per hash_ids block of the source.",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def import_cmd(fmt: str, source: Path, out: Path, block_size: int, force: bool) -> None:
    """Convert a trie or Mooncake JSONL file into an agentload profile."""
    from agentload.traceformat.foreign.convert import import_file
    from agentload.traceformat.outputs import check_input, check_output

    check_input(source)
    check_output(out, "--out", inputs=[source], force=force)

    _console.print(f"{import_file(fmt, source, out, block_size)}: written")


@command.command("export")
@click.argument("fmt", type=click.Choice(["trie", "mooncake"]))
@click.argument("profile")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="JSONL file to write.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def export_cmd(fmt: str, profile: str, out: Path, force: bool) -> None:
    """Write a profile (file or built-in name) as trie or Mooncake JSONL."""
    from agentload.profiles.load import load, resolve
    from agentload.traceformat.foreign.convert import export_file
    from agentload.traceformat.outputs import check_input, check_output

    source = check_input(resolve(profile))
    check_output(out, "--out", inputs=[source], force=force)
    loaded = load(profile)
    _console.print(f"{export_file(fmt, loaded.frame, loaded.info, out)}: written")


@command.command("fetch")
@click.argument("dataset", type=click.Choice(["applied-compute"]))
@click.option("--base-url", help="Mirror serving the three files (default: pinned GitHub commit).")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Cache directory (default: the user cache dir, agentload/).",
)
@click.option("--refresh", is_flag=True, help="Download again even when cached.")
def fetch_cmd(dataset: str, base_url: str | None, cache_dir: Path | None, refresh: bool) -> None:
    """Download the public Applied Compute workload files (sha256-pinned, cached)."""
    from agentload.profiles.fetch import DEFAULT_BASE_URL, FetchConfig, fetch

    config = FetchConfig(dataset, base_url or DEFAULT_BASE_URL, cache_dir, refresh)
    with _err.status("fetching") as status:
        results = fetch(config, progress=lambda msg: status.update(msg))
    for r in results:
        if r.pinned_now:
            _err.print(f"warning: {r.name}: no published sha256; pinned {r.sha256} on first use")
        state = "downloaded" if r.downloaded else "cached"
        _console.print(f"{r.path} ({state}, sha256 {r.sha256})")


@command.command("transform")
@click.argument("profile")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Profile file to write."
)
@click.option("--sample", type=int, help="Keep N root sessions chosen at random (with --seed).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --sample.")
@click.option("--min-turns", type=int, help="Keep sessions with at least this many tool turns.")
@click.option("--max-turns", type=int, help="Keep sessions with at most this many tool turns.")
@click.option("--max-context", type=int, help="Drop sessions with any prompt above T tokens.")
@click.option(
    "--cap-context", type=int, help="End each session before its first prompt above T tokens."
)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=float,
    help="Multiply arrival offsets and think times by X.",
)
@click.option(
    "--shared-prefix-tokens",
    type=int,
    help="Start every session with one shared system prompt of N tokens (whole blocks; "
    "a profile without hash_ids gets them, 64-token blocks).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def transform_cmd(
    profile: str,
    out: Path,
    sample: int | None,
    seed: int,
    min_turns: int | None,
    max_turns: int | None,
    max_context: int | None,
    cap_context: int | None,
    time_scale: float,
    shared_prefix_tokens: int | None,
    force: bool,
) -> None:
    """Sample, filter, cap, rescale a profile (children follow their root session) and add
    a shared system prompt."""
    from agentload.profiles.load import load
    from agentload.profiles.transforms import TransformConfig, add_shared_prefix, apply
    from agentload.traceformat import schema as s
    from agentload.traceformat.io import write_file

    config = TransformConfig(
        sample, seed, min_turns, max_turns, max_context, cap_context, time_scale,
        shared_prefix_tokens,
    )  # fmt: skip
    from agentload.profiles.load import resolve
    from agentload.traceformat.outputs import check_input, check_output

    source = check_input(resolve(profile))
    check_output(out, "--out", inputs=[source], force=force)
    p = load(profile)
    result, block = apply(p.frame, config), p.block_size
    if shared_prefix_tokens:
        result, block = add_shared_prefix(result, shared_prefix_tokens, block)
    info = {**p.info, "transform": config.describe()}
    extra = {} if block is None else {s.META_BLOCK_SIZE: str(block).encode()}
    write_file(out, s.Kind.PROFILE, result, info=info, extra_metadata=extra)
    _console.print(f"{out}: {result[s.SESSION_ID].n_unique():,} sessions, {result.height:,} calls")


@command.command("synthesize")
@click.argument("source")
@click.option("--sessions", required=True, type=int, help="Sessions to generate (a count).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the draw.")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Profile file to write."
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def synthesize_cmd(source: str, sessions: int, seed: int, out: Path, force: bool) -> None:
    """Fit a model of SOURCE's sessions (profile, built-in name, trie or Mooncake JSONL) and
    write N new ones that keep its structure (docs/profiles.md, "Synthesized profiles")."""
    from agentload.profiles.load import load, resolve
    from agentload.profiles.synthesize import synthesize
    from agentload.traceformat import schema as s
    from agentload.traceformat.io import write_file
    from agentload.traceformat.outputs import check_input, check_output

    path = check_input(resolve(source))
    check_output(out, "--out", inputs=[path], force=force)
    p = load(source)
    with _err.status("fitting and drawing"):
        frame, info = synthesize(p.frame, p.block_size, sessions, seed)
    info["from"] = path.name
    extra = {} if p.block_size is None else {s.META_BLOCK_SIZE: str(p.block_size).encode()}
    write_file(out, s.Kind.PROFILE, frame, info=info, extra_metadata=extra)
    _console.print(f"{out}: {sessions:,} sessions, {frame.height:,} calls (seed {seed})")
