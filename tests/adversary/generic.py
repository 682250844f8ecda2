"""The verdicts of `$A ...` rows, chosen by the row's name and promise."""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.adversary import clirows
from tests.adversary.catalogue_rows import Row
from tests.adversary.harness import (
    SIGINT,
    SIGTERM,
    Outcome,
    Verdict,
    both,
    broke,
    clean_error,
    clean_run,
    held,
    run,
)
from tests.adversary.resources import Resources
from tests.adversary.spec import Scenario
from tests.procinfo import catches, children

Ready = Callable[[subprocess.Popen[str]], bool]

FLIP = re.compile(r"(res)?flip\d+_\d+\.arrow")
MATRIX = re.compile(r"(inspect|report|compare|stats|replay|export|import):(\S+)$")


def _signals(command: str) -> list[tuple[float, int]]:
    m = re.search(r"; signals (\[.*\])", command)
    if not m:
        return []
    text = re.sub(r"<Signals\.\w+: (\d+)>", r"\1", m[1])
    return [(float(d), int(s)) for d, s in ast.literal_eval(text)]


def _timeout(args: list[str], signals: list[tuple[float, int]]) -> float:
    if "--ray" in args:
        return 120.0
    return 240.0 + sum(d for d, _ in signals)


def cli_scenario(row: Row) -> Scenario | None:
    """The scenario of a `$A ...` row, or None when the command is not one."""
    words = clirows.parse(row.command)
    if words is None:
        return None
    signals = _signals(row.command)

    def scenario(res: Resources) -> Verdict:
        if "<tmp>" in words:
            return readonly(row, words, res)
        args = clirows.bind(words, res, row.id)
        ready = _begun(row, args, res)
        o = run(res.work, args, timeout=_timeout(args, signals), signals=signals, ready=ready)
        if not _refused_by_preflight(o, row):
            return judge(row, args, o, res, bool(signals))
        # Since issue 14 replay probes the target first and refuses a faulty one (exit 3,
        # one line, nothing sent): that refusal must be clean, and with --no-preflight the
        # run the note made must still keep its promise (a row per request, a partial file).
        refusal = clean_error(o)
        if not refusal.held:
            return refusal
        args = [*args, "--no-preflight"]
        again = run(res.work, args, timeout=_timeout(args, signals), signals=signals, ready=ready)
        v = judge(row, args, again, res, bool(signals))
        return Verdict(v.held, f"preflight refused it; with --no-preflight: {v.detail}")

    return scenario


def _begun(row: Row, args: list[str], res: Resources) -> Ready | None:
    """When a signal row's clock starts. The note's delays were from the process start on
    an idle machine (~1 s of imports); on a loaded one the imports alone can take longer,
    so the clock starts once the run has begun: its workers spawned (--workers: the signal
    then lands while they start, M3) or its part file made. The at-start rows (the CLI
    still importing, M3) start theirs once the console script holds signals (SIGTERM
    caught, /proc's SigCgt): before its first line only the interpreter and site run,
    ~0.05 s on an idle machine, but on a loaded one 0.3 s from the process start can still
    fall there, where no code of ours runs (docs/replay.md, Stopping)."""
    if "signals" not in row.command:
        return None
    if "at-start" in row.name:
        return lambda proc: catches(proc.pid, SIGTERM)
    if "--workers" in args:
        return lambda proc: bool(children(proc.pid))
    out = res.work.root / clirows.out_paths(args)[0]
    return lambda proc: any(out.parent.glob(out.name + ".part*"))


def _refused_by_preflight(o: Outcome, row: Row) -> bool:
    return o.rc == 3 and "preflight" in o.err and row.expected != "error"


def readonly(row: Row, words: list[str], res: Resources) -> Verdict:
    """L1: the output on a read-only tmpfs (`<tmp>`; a folder under it for the -subdir row)."""
    ro = res.readonly_dir()
    target = {"replay-subdir": f"{ro}/sub/r.arrow", "sim-timinglog": f"{ro}/t.arrow"}.get(
        row.name.split(":")[-1], f"{ro}/{row.id}.out"
    )
    if any(f in words for f in ("--csv", "--parquet", "--out-dir")) or "capture" in words:
        target = f"{ro}/d{row.id}"
    args = clirows.bind([target if w == "<tmp>" else w for w in words], res, row.id)
    return clean_error(run(res.work, args))


def judge(row: Row, args: list[str], o: Outcome, res: Resources, signalled: bool) -> Verdict:
    m = MATRIX.match(row.name)
    if m and FLIP.fullmatch(m[2]):
        return clirows.error_or_identical(o, res, args, res.file(m[2]))
    if signalled:
        return partial_result(o, res, args, "double" in row.name or "then" in row.name)
    expected = row.expected
    if expected == "error":
        return clirows.refused(o, res, args)
    if expected == "ok":
        return ran_or_refused(o, res, args)
    if rows := re.match(r"rc 0, (\d+|None) rows, kind (\w+)", expected):
        return rows_per_request(o, res, args, rows[1], rows[2])
    if expected.startswith("valid partial"):
        return partial_result(o, res, args)
    # 'manual' rows, judged by hand then: a clean run or a clean one-line error
    return clean_run(o) if o.rc == 0 else clean_error(o)


def _result_path(res: Resources, args: list[str]) -> Path | None:
    outs = clirows.out_paths(args)
    return res.work.root / outs[0] if outs else None


def ran_or_refused(o: Outcome, res: Resources, args: list[str]) -> Verdict:
    """'ok': a clean run; for replay, whose file is readable and complete, or (for option
    values bounded since: nan, inf, 1e-300) a clean one-line refusal."""
    if "replay" not in args:
        return clean_run(o)
    path = _result_path(res, args)
    if o.rc == 2:  # options the bounds refuse since (nan, inf, 1e-300): a clean refusal
        return clirows.refused(o, res, args)
    if path is None or not path.exists() or o.rc not in (0, 1, 3):
        return broke(f"no result file: {o.brief()}")
    n, kinds, complete = clirows.result_rows(path)
    if o.crashed or complete != "true":
        return broke(f"complete={complete}, {n} rows: {o.brief()}")
    if o.rc:  # 3: nothing succeeded (a 1 µs timeout), 1: too many failed; the file is kept
        return held(f"exit {o.rc} ({o.err.strip().splitlines()[-1][:80]}), {n} rows {kinds}")
    bounded = any(a in args for a in ("--duration", "--max-sessions", "--timeout"))
    if not bounded and n != 4 and "small2" in " ".join(args):
        return broke(f"{n} rows for 4 requests")
    return held(f"{n} rows, kinds {kinds}")


def rows_per_request(o: Outcome, res: Resources, args: list[str], rows: str, kind: str) -> Verdict:
    """Every faulted request is exactly one row with the fault's error kind; the exit status
    is 0, 1 (more failed than --max-error-rate) or 3 (nothing succeeded), docs/exit-codes.md."""
    if o.rc not in (0, 1, 3) or o.crashed:
        return broke(o.brief())
    path = _result_path(res, args)
    if path is None or not path.exists():
        return broke(f"no result file: {o.brief()}")
    n, kinds, _ = clirows.result_rows(path)
    # Since issue 14 a run whose first requests all fail stops early, exit 3 (the target is
    # down): fewer rows then, each one a request that was sent.
    early = o.rc == 3 and rows != "None" and 0 < n < int(rows)
    if rows != "None" and n != int(rows) and not early:
        return broke(f"{n} rows, expected {rows} ({kinds})")
    if kind != "None" and kinds != {kind: n}:
        return broke(f"error kinds {kinds}, expected {kind}")
    stop = " (stopped early: nothing succeeded)" if early else ""
    return held(f"rc {o.rc}, {n} rows, kinds {kinds}{stop}")


def partial_result(
    o: Outcome, res: Resources, args: list[str], second_signal: bool = False
) -> Verdict:
    """A stopped run: exit 130, no traceback, a readable result marked partial."""
    path = _result_path(res, args)

    def file_ok() -> Verdict:
        if path is None or not path.exists():
            return broke(f"no result file: {o.brief()}")
        n, kinds, complete = clirows.result_rows(path)
        if o.rc == 0 and complete == "true":
            return held(f"finished before the signal: {n} rows")
        if complete != "false":
            return broke(f"complete={complete!r} after a signal ({n} rows)")
        return held(f"{n} rows {kinds}")

    def status() -> Verdict:
        if o.rc in (0, 130) and not o.crashed:
            return held()
        # A second signal that lands while the process exits, its partial file written,
        # ends it by the signal's default action: a shell sees 130 (SIGINT) or 143 either way.
        if second_signal and o.rc in (-SIGINT, -SIGTERM) and not o.crashed:
            return held(f"exit {o.rc}: the second signal ended the exit")
        return broke(o.brief())

    return both(status, file_ok)
