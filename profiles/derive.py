"""Derive shareable profiles (one per workload label) from private trace files.

Rules (docs/profiles.md, "Derivation"): opaque session ids (keyed digests); times relative to
the profile start (the workload's first request); token counts from provider usage, or,
for a call recorded without it, from `traceformat.estimate` (USAGE_SOURCE says which; the
info metadata counts the estimated calls); think time = this request's start - the previous
response's end (a child session's call 0: from the end of the parent call that spawned it);
parent links kept (sessions and parents stitched again over all files together when
`restitch` is given: docs/capture.md, "Stitching again offline"); hash_ids from
`profiles.blocks` over `traceformat.prompt`. Calls that failed (error, non-2xx, aborted)
without usage are dropped and counted. With `require_usage`, a successful call without
usage is an error instead of an estimate.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from agentload.base.errors import ConfigError, FormatError
from agentload.profiles.blocks import ChainState, HashKey, hash_prompt
from agentload.traceformat import limits
from agentload.traceformat import schema as s
from agentload.traceformat.estimate import fill_usage, has_usage
from agentload.traceformat.io import read, write_file
from agentload.traceformat.prompt import PartTokens
from agentload.traceformat.tokens import TOKENIZER_NAME

_END: Final = "_end_ns"
_ESTIMATED: Final = pl.col(s.USAGE_SOURCE) == s.UsageSource.ESTIMATE.value
_ORIG_CALL: Final = "_orig_call"


@dataclass(frozen=True)
class DeriveConfig:
    traces: tuple[Path, ...]
    out_dir: Path
    key: HashKey
    block_size: int = 64
    by: str = "workload"
    require_usage: bool = False  # a successful call without usage is an error
    # Sessions stitched again over all trace frames together (capture's offline stitcher,
    # given by the CLI: profiles does not import capture); None keeps the recorded ones.
    restitch: Callable[[list[pl.DataFrame]], list[pl.DataFrame]] | None = None

    def __post_init__(self) -> None:
        if not self.traces:
            raise ConfigError("profile derive: give at least one trace file")
        # The limits table is the one home of the bound (replay's prompt pools need it).
        limits.check_count("--block-size", self.block_size, 1, limits.MAX_BLOCK_SIZE)
        if self.by != "workload":
            raise ConfigError(f"--by: only 'workload' is supported, got {self.by!r}")


@dataclass(frozen=True)
class Derived:
    workload: str
    path: Path
    sessions: int
    calls: int
    estimated: int = 0  # calls whose token counts are estimates


def _ok_call() -> pl.Expr:
    status_ok = pl.col(s.HTTP_STATUS).is_null() | pl.col(s.HTTP_STATUS).is_between(200, 299)
    return pl.col(s.ERROR).is_null() & ~pl.col(s.PARTIAL) & status_ok


def load_calls(trace: pl.DataFrame, parts: PartTokens) -> tuple[pl.DataFrame, int]:
    """The usable calls of one trace file's frame (content registered in `parts`), with
    USAGE_SOURCE and estimated counts where usage is missing, and how many failed calls
    without usage were dropped."""
    frame = trace.with_row_index("_row")
    parts.add_trace(frame)
    frame = fill_usage(frame, parts)
    kept = frame.filter((pl.col(s.USAGE_SOURCE) == s.UsageSource.PROVIDER.value) | _ok_call())
    return kept.drop(s.NEW_CONTENT, "_row"), frame.height - kept.height


def _check_usage(path: Path, trace: pl.DataFrame) -> None:
    """With --require-usage: a successful call without usage is an error (row and call as
    recorded in the file)."""
    missing = trace.with_row_index("_row").filter(_ok_call() & ~has_usage())
    if missing.height:
        row = missing.row(0, named=True)
        field = s.PROMPT_TOKENS if row[s.PROMPT_TOKENS] is None else s.COMPLETION_TOKENS
        raise FormatError(
            f"{path}: row {row['_row']} (call {row[s.CALL_INDEX]}): no provider usage ({field} "
            "is null) and --require-usage is set; capture with usage reporting on (e.g. "
            "stream_options.include_usage), or derive without --require-usage to estimate it"
        )


def _token_scale(calls: pl.DataFrame, counts: list[int]) -> float:
    """Provider tokens per offline token: the median ratio over calls with provider usage,
    to 2 decimals."""
    provider = (calls[s.USAGE_SOURCE] == s.UsageSource.PROVIDER.value).to_list()
    prompts = calls[s.PROMPT_TOKENS].to_list()
    ratios = [p / n for p, n, ok in zip(prompts, counts, provider, strict=True) if ok and n > 0]
    return round(statistics.median(ratios), 2) if ratios else 1.0


def hash_calls(
    calls: pl.DataFrame, parts: PartTokens, key: HashKey, block_size: int
) -> tuple[list[list[int]], float]:
    """hash_ids of every call (rows sorted by session, call index) and the token scale."""
    ids_per_call: list[list[str]] = [x or [] for x in calls[s.REQUEST_CONTENT_IDS].to_list()]
    counts = [parts.prompt(ids)[1][-1] if ids else 0 for ids in ids_per_call]
    scale = _token_scale(calls, counts)
    out: list[list[int]] = []
    prev_session: object = None
    prev_ids: list[str] = []
    prev_state: ChainState | None = None
    for session, ids, prompt_tokens in zip(
        calls[s.SESSION_ID].to_list(), ids_per_call, calls[s.PROMPT_TOKENS].to_list(), strict=True
    ):
        tokens, ends = parts.prompt(ids)
        common = 0
        if session == prev_session:
            same = 0
            while same < min(len(ids), len(prev_ids)) and ids[same] == prev_ids[same]:
                same += 1
            common = ends[same - 1] if same else 0
        hashes, prev_state = hash_prompt(
            key,
            tokens,
            prompt_tokens,
            scale=scale,
            block_size=block_size,
            reuse=prev_state if session == prev_session else None,
            common_tokens=common,
        )
        out.append(hashes)
        prev_session, prev_ids = session, ids
    return out, scale


def _end_expr() -> pl.Expr:
    return pl.coalesce(
        s.T_RESPONSE_END_NS, s.T_FIRST_TOKEN_NS, s.T_RESPONSE_HEADERS_NS, s.T_REQUEST_START_NS
    )


def _with_parents(calls: pl.DataFrame) -> pl.DataFrame:
    """Calls renumbered 0..n-1 per session, with the spawning parent call's end time and
    new index (null when the parent call is not among these calls)."""
    c = calls.sort(s.SESSION_ID, s.CALL_INDEX).with_columns(
        _end_expr().alias(_END),
        pl.col(s.CALL_INDEX).alias(_ORIG_CALL),
        (pl.int_range(pl.len()).over(s.SESSION_ID)).cast(pl.Int32).alias(s.CALL_INDEX),
    )
    parents = c.select(
        pl.col(s.SESSION_ID).alias(s.PARENT_SESSION_ID),
        pl.col(_ORIG_CALL).alias(s.PARENT_CALL_INDEX),
        pl.col(s.CALL_INDEX).alias("_parent_new_call"),
        pl.col(_END).alias("_parent_end"),
    )
    c = c.join(parents, on=[s.PARENT_SESSION_ID, s.PARENT_CALL_INDEX], how="left")
    return c.sort(s.SESSION_ID, s.CALL_INDEX)


# A session is a child when its call 0 found its parent call in this workload.
_LINKED: Final = pl.col("_parent_end").is_not_null().first().over(s.SESSION_ID)


def _think_ns() -> pl.Expr:
    """End-to-start gap; a child's call 0 measures from its parent call's end."""
    prev_end = pl.col(_END).shift(1).over(s.SESSION_ID)
    first = pl.when(_LINKED).then(pl.col(s.T_REQUEST_START_NS) - pl.col("_parent_end"))
    gap = (
        pl.when(pl.col(s.CALL_INDEX) == 0)
        .then(first)
        .otherwise(pl.col(s.T_REQUEST_START_NS) - prev_end)
    )
    return gap.fill_null(0).clip(lower_bound=0)


def _new_input() -> pl.Expr:
    """Tokens appended since the previous call; the whole prompt if the context shrank."""
    prev_in = pl.col(s.PROMPT_TOKENS).shift(1).over(s.SESSION_ID)
    return (
        pl.when(prev_in.is_null() | (pl.col(s.PROMPT_TOKENS) < prev_in))
        .then(pl.col(s.PROMPT_TOKENS))
        .otherwise(pl.col(s.PROMPT_TOKENS) - prev_in)
    )


def to_profile(calls: pl.DataFrame, key: HashKey) -> pl.DataFrame:
    """PROFILE rows of one workload's calls (which carry a HASH_IDS column)."""
    t0 = calls[s.T_REQUEST_START_NS].min()
    c = _with_parents(calls)
    ids = {sid: "s" + key.opaque_id("session", sid) for sid in c[s.SESSION_ID].unique().to_list()}
    parent_id = pl.col(s.PARENT_SESSION_ID).replace_strict(ids, default=None)
    parent_call = pl.col("_parent_new_call").first().over(s.SESSION_ID)
    return c.select(
        pl.col(s.SESSION_ID).replace_strict(ids).alias(s.SESSION_ID),
        pl.col(s.CALL_INDEX),
        pl.when(_LINKED).then(parent_id).alias(s.PARENT_SESSION_ID),
        pl.when(_LINKED).then(parent_call).cast(pl.Int32).alias(s.PARENT_CALL_INDEX),
        pl.col(s.WORKLOAD),
        ((pl.col(s.T_REQUEST_START_NS).min().over(s.SESSION_ID) - t0) / 1e9).alias(s.ARRIVAL_S),
        (_think_ns() / 1e9).alias(s.THINK_S),
        pl.col(s.PROMPT_TOKENS).alias(s.INPUT_TOKENS),
        _new_input().alias(s.NEW_INPUT_TOKENS),
        pl.col(s.COMPLETION_TOKENS).alias(s.OUTPUT_TOKENS),
        pl.col(s.HASH_IDS),
        pl.lit(None, pl.String).alias(s.EXTRA),
        pl.col(s.USAGE_SOURCE),
    ).sort(s.ARRIVAL_S, s.SESSION_ID, s.CALL_INDEX)


def safe_name(label: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A file stem for a workload label; a short digest is appended when the plain stem
    is empty or already taken by another label."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")
    if not name or name in taken:
        digest = hashlib.blake2b(label.encode(), digest_size=4).hexdigest()
        name = f"{name or 'workload'}-{digest}"
    return name


def derive(
    config: DeriveConfig,
    progress: Callable[[str], None] = lambda _: None,
    note: Callable[[str], None] = lambda _: None,
) -> list[Derived]:
    """Write one profile per workload into config.out_dir; returns what was written.
    `progress` receives a short status line before each step, `note` one per skipped file.

    0-byte files are skipped: capture leaves one per failed retry on a full disk, and a
    `traces/*.arrow` glob must still derive the calls the other files hold."""
    parts = PartTokens({}, {})
    empty = {path for path in config.traces if path.is_file() and path.stat().st_size == 0}
    if len(empty) == len(config.traces):
        raise FormatError(f"{config.traces[0]}: every trace file given is empty (0 bytes)")
    frames = []
    for path in config.traces:
        if path in empty:
            note(f"{path}: empty file (0 bytes), skipped")
            continue
        progress(f"reading {path}")
        frames.append(read(path, s.Kind.TRACE).frame)
        if config.require_usage:
            _check_usage(path, frames[-1])
    if config.restitch is not None:
        progress(f"stitching sessions of {sum(f.height for f in frames):,} calls")
        frames = config.restitch(frames)
    loaded = [load_calls(frame, parts) for frame in frames]
    calls = pl.concat([f for f, _ in loaded], how="diagonal_relaxed").sort(
        s.SESSION_ID, s.CALL_INDEX
    )
    dropped = sum(n for _, n in loaded)
    if calls.height == 0:
        raise FormatError(
            f"{config.traces[0]}: no calls to derive from (failed calls without usage are dropped)"
        )
    progress(f"hashing {calls.height:,} prompts")
    hashes, scale = hash_calls(calls, parts, config.key, config.block_size)
    calls = calls.with_columns(pl.Series(s.HASH_IDS, hashes, dtype=pl.List(pl.Int64)))
    config.out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Derived] = []
    stems: set[str] = set()
    for (workload,), group in calls.group_by(s.WORKLOAD, maintain_order=True):
        stem = safe_name(str(workload), stems)
        stems.add(stem)
        info: dict[str, object] = {
            "source": "derived",
            "tokenizer": TOKENIZER_NAME,
            "token_scale": scale,
            "trace_files": len(loaded),
            "dropped_failed_calls": dropped,
            "sessions_stitched_again": config.restitch is not None,
            "estimated_calls": group.filter(_ESTIMATED).height,
        }
        written.append(_write(config, str(workload), stem, to_profile(group, config.key), info))
    return written


def _write(
    config: DeriveConfig, workload: str, stem: str, profile: pl.DataFrame, info: dict[str, object]
) -> Derived:
    path = write_file(
        config.out_dir / f"{stem}.arrow",
        s.Kind.PROFILE,
        profile,
        info=info,
        extra_metadata={s.META_BLOCK_SIZE: str(config.block_size).encode()},
    )
    sessions, estimated = profile[s.SESSION_ID].n_unique(), profile.filter(_ESTIMATED).height
    return Derived(workload, path, sessions, profile.height, estimated)
