"""Rows whose command is an `agentload` command line (`$A ...`): the command is run as
written, with the note's placeholders bound to this run's parts, and judged by the row's
promise ('error': a clean one-line refusal; 'ok': a clean run; a replay's 'rc 0, N rows,
kind K': a result with a row per request)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

from agentload.base.errors import AgentloadError
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.adversary.harness import Outcome, Verdict, both, broke, clean_error, held
from tests.adversary.resources import Resources

# The note's fixed ports, bound to this run's servers.
PORTS: dict[str, Callable[[Resources], str]] = {
    "18000": lambda r: r.sim(),
    "18001": lambda r: r.sim(),
    "18002": lambda r: r.slow_sim(),
    "18010": lambda r: r.bad("blackhole"),
    "18011": lambda r: r.bad("html"),
    "18012": lambda r: r.bad("html502"),
    "18013": lambda r: r.bad("halfheader"),
    "18014": lambda r: r.bad("garbagestatus"),
    "18015": lambda r: r.bad("trickle"),
    "18016": lambda r: r.bad("badchunk"),
    "18017": lambda r: r.bad("clmismatch"),
    "18018": lambda r: r.bad("rst"),
    "18019": lambda r: r.bad("hugeheader"),
    "18100": lambda r: r.upstream()[0],
}
UNREACHABLE = "http://127.0.0.1:9"  # the note's 18099: nothing listens (discard port, closed)
OUTPUT_FLAGS = ("--out", "--html", "--json", "--csv", "--parquet", "--out-dir")
BASE_FILES = {"small.arrow", "small2.arrow", "res.arrow", "slow.arrow"}


def _ansi_c(text: str) -> str:
    """bash's $'...' quoting (the header-injection row) as one shell-quoted word."""
    return re.sub(
        r"\$'((?:[^'\\]|\\.)*)'",
        lambda m: shlex.quote(m[1].encode().decode("unicode_escape")),
        text,
    )


def _bind_url(word: str, res: Resources) -> str:
    m = re.fullmatch(r"(http://)?127\.0\.0\.1:(\d+)(/.*)?", word)
    if not m or m[2] in ("99999", "0", "1"):
        return word
    if m[2] == "18099":
        url = UNREACHABLE
    elif m[2] in PORTS:
        url = PORTS[m[2]](res)
    else:
        return word
    return (url if m[1] else url.removeprefix("http://")) + (m[3] or "")


def bind(words: list[str], res: Resources, row_id: int) -> list[str]:
    """Placeholders -> this run: ports, files/ inputs (made on demand), out/ paths kept
    apart per row (many rows write out/x.arrow), results another row wrote (out/f_*.arrow),
    cap_* traces. Against the slow sim (18002) small.arrow is slow.arrow: 64-token outputs,
    so that a signal lands mid-run (the note's slow sim)."""
    if any("127.0.0.1:18002" in w for w in words):
        words = ["slow.arrow" if w == "small.arrow" else w for w in words]
    bound: list[str] = []
    for word in words:
        output = bool(bound) and bound[-1] in OUTPUT_FLAGS
        base = word.split("/")[0]
        if base in BASE_FILES:  # small2.arrow, or small2.arrow/r.arrow (a file as a folder)
            res.file(base)
            word = f"files/{word}"
        elif word.startswith("files/"):
            res.file(word.removeprefix("files/"))
        elif not output and (made := res.produced(word)) is not None:
            word = made
        elif word.startswith("out/") or word == "out":
            word = f"out/{row_id}/{word.removeprefix('out').lstrip('/')}".rstrip("/")
            (res.work.root / word).parent.mkdir(parents=True, exist_ok=True)
            if word == f"out/{row_id}":
                (res.work.root / word).mkdir(parents=True, exist_ok=True)
        elif word.startswith(("cap_fake/", "cap_red/")):
            word = str(res.trace(word.startswith("cap_red/")))
        else:
            word = _bind_url(word, res)
        bound.append(word)
    return bound


def parse(command: str) -> list[str] | None:
    """The agentload arguments of a `$A ...` row (a `timeout N` prefix dropped), or None."""
    text = re.sub(r"^timeout \d+ ", "", command.strip())
    if not text.startswith("$A "):
        return None
    text = _ansi_c(text[3:])
    text = re.split(r";\s|\s&&\s", text)[0]  # a chained check is the verdict's job
    return shlex.split(text)


def out_paths(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a in OUTPUT_FLAGS]


def refused(o: Outcome, res: Resources, args: list[str]) -> Verdict:
    """A clean error that left no output or part file behind."""

    def nothing_written() -> Verdict:
        for out in out_paths(args):
            path = res.work.root / out
            if not out or not out.startswith("out/") or path.is_dir():
                continue
            stray = [p.name for p in path.parent.glob(path.name + "*")]
            if stray:
                return broke(f"a refused run left {stray}")
        return held()

    return both(lambda: clean_error(o), nothing_written)


def same_data(a: Path, b: Path) -> bool:
    """Whether two agentload files read back to the same rows and metadata."""
    try:
        x, y = io.read(a), io.read(b)
    except AgentloadError:
        return False
    return x.frame.equals(y.frame) and x.metadata == y.metadata


def error_or_identical(o: Outcome, res: Resources, args: list[str], damaged: Path) -> Verdict:
    """A damaged input: a clean error, or (a flip in padding) a run on unchanged data."""
    pristine = res.file("res.arrow" if damaged.name.startswith("res") else "small.arrow")
    if o.rc == 0 and not o.crashed:
        if same_data(damaged, pristine):
            return held("the flip left the data unchanged (padding)")
        return broke(f"exit 0 on changed data: {o.brief()}")
    return refused(o, res, args)


def result_rows(path: Path) -> tuple[int, dict[str, int], str]:
    loaded = io.read(path)
    kinds = loaded.frame.get_column(S.ERROR_KIND).value_counts() if loaded.frame.height else None
    counts = {} if kinds is None else {str(k): int(n) for k, n in kinds.iter_rows()}
    complete = loaded.metadata.get(S.META_COMPLETE.decode(), "")
    return loaded.frame.height, counts, complete
