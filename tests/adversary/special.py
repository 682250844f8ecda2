"""Scenarios for rows that are not one `agentload` command line: the sim over HTTP, profiles
with one bad value, damaged built-ins, FIFOs, outputs equal to inputs, stopped runs."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from agentload.base.errors import AgentloadError
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.adversary import clirows, inputs
from tests.adversary.generic import partial_result, rows_per_request
from tests.adversary.harness import (
    AGENTLOAD,
    SIGINT,
    SIGTERM,
    Verdict,
    both,
    broke,
    clean_error,
    clean_run,
    held,
    run,
)
from tests.adversary.resources import Resources
from tests.adversary.spec import Scenario, Special, fixed

SIM = ("--target", "{sim}", "--model", "agentload-sim", "--quiet")
BUILTINS = Path(inputs.__file__).resolve().parents[2] / "profiles" / "builtin"


def _replay_args(res: Resources, source: str, out: str, *extra: str) -> list[str]:
    return [
        "replay",
        source,
        "--target",
        res.sim(),
        "--model",
        "agentload-sim",
        "--quiet",
        "--out",
        out,
        *extra,
    ]


def replay_refused(file: str, *extra: str) -> Scenario:
    """Replay of an input with a bad value or link: one clean line, no result or part."""

    def scenario(res: Resources) -> Verdict:
        source = str(res.file(file).relative_to(res.work.root))
        args = _replay_args(res, source, f"out/r_{file}.arrow", *extra)
        return clirows.refused(run(res.work, args, timeout=90), res, args)

    return scenario


def each(*scenarios: Scenario) -> Scenario:
    return lambda res: both(*(lambda s=s: s(res) for s in scenarios))


def sim_huge_max_tokens(res: Resources) -> Verdict:
    """H5: max_tokens 10^12 is a 400 context_length_exceeded, and the sim stays up."""
    body = {"model": "agentload-sim", "prompt": [1, 2, 3], "max_tokens": 10**12, "ignore_eos": True}
    r = httpx.post(res.sim() + "/v1/completions", json=body, timeout=30)
    code = r.json().get("error", {}).get("code") if r.status_code == 400 else None
    if code != "context_length_exceeded":
        return broke(f"HTTP {r.status_code}: {r.text[:120]}")
    alive = httpx.get(res.sim() + "/health", timeout=10).status_code == 200
    return held("400 context_length_exceeded") if alive else broke("the sim died")


def builtin_flip(res: Resources) -> Verdict:
    """H3: one flipped bit in office-work.arrow (byte 1706658 ^ 0x10, modulo today's size):
    stats, transform and export each refuse it cleanly or see unchanged data."""
    src = BUILTINS / "office-work.arrow"
    dst = res.base_files() / "office-flip.arrow"
    data = bytearray(src.read_bytes())
    data[1706658 % len(data)] ^= 0x10
    dst.write_bytes(bytes(data))
    if clirows.same_data(src, dst):
        return held("the flip left the data unchanged")
    checks = [
        ["profile", "stats", str(dst)],
        ["profile", "transform", str(dst), "--out", "out/5/t.arrow"],
        ["profile", "export", "mooncake", str(dst), "--out", "out/5/x.jsonl"],
    ]
    return both(*(lambda a=a: clirows.refused(run(res.work, a), res, a) for a in checks))


def bitflip_statistics(res: Resources) -> Verdict:
    """H3: 300 seeded single-bit flips (150 in a 26-row profile, 150 in a 26-row result),
    read by traceformat.io.read: each an error or identical, never different or 0 rows."""
    sources = [res.file("small.arrow"), res.file("res.arrow")]
    originals = {p: io.read(p) for p in sources}
    rng = random.Random(47)
    same = errors = 0
    bad: list[str] = []
    for i in range(300):
        src = sources[i % 2]
        data = bytearray(src.read_bytes())
        offset = rng.randrange(len(data))
        data[offset] ^= 1 << rng.randrange(8)
        path = res.work.files / f"stat-{i}.arrow"
        path.write_bytes(bytes(data))
        try:
            got = io.read(path)
        except AgentloadError:
            errors += 1
            continue
        finally:
            path.unlink()
        want = originals[src]
        if got.frame.equals(want.frame) and got.metadata == want.metadata and not got.truncated:
            same += 1
        else:
            bad.append(f"{src.name}@{offset}")
    detail = f"{same} identical, {errors} clean errors"
    return broke(f"{detail}, silently different: {bad[:5]}") if bad else held(detail)


def fifo(command: str) -> Scenario:
    """L9: a named pipe with no writer as the input: refused at once, never blocks."""

    def scenario(res: Resources) -> Verdict:
        path = res.work.out(f"fifo-{command}")
        if not path.exists():
            os.mkfifo(path)
        rel = str(path.relative_to(res.work.root))
        args = {"inspect": ["inspect", rel], "report": ["report", rel]}.get(
            command, _replay_args(res, rel, f"out/fifo-{command}.arrow")
        )
        if command != "replay-sigterm":
            return clean_error(run(res.work, args, timeout=120))
        o = run(res.work, args, timeout=20, signals=[(5.0, SIGTERM)])
        if o.rc in (-SIGTERM, 130) and not o.crashed:  # still starting at 5 s: it stopped
            return held(f"stopped by SIGTERM ({o.rc})")
        return clean_error(o)

    return scenario


def out_equals_input(res: Resources) -> Verdict:
    """L8: replay X --out X is refused and X is left as it was."""
    src = res.work.out("117/src_copy.arrow")
    shutil.copy(res.file("small.arrow"), src)
    before = src.read_bytes()
    rel = str(src.relative_to(res.work.root))
    v = clean_error(run(res.work, _replay_args(res, rel, rel)))
    return v if not v.held or src.read_bytes() == before else broke("the input was changed")


def report_overwrites_input(res: Resources) -> Verdict:
    """L8: report R --json R (and --html R) refused; R unchanged."""
    src = res.work.out("118/res_copy.arrow")
    shutil.copy(res.result(), src)
    before = src.read_bytes()
    rel = str(src.relative_to(res.work.root))
    v = both(
        *(
            lambda f=f: clean_error(run(res.work, ["report", rel, "--quiet", f, rel]))
            for f in ("--json", "--html")
        )
    )
    return v if not v.held or src.read_bytes() == before else broke("the input was changed")


def transform_in_place(res: Resources) -> Verdict:
    """transform X --out X: worked in place at 695fba6 (atomic); since L8 it is refused.
    Either is safe: a clean refusal with X unchanged, or a valid 2-session profile."""
    src = res.work.out("587/same.arrow")
    shutil.copy(res.file("small.arrow"), src)
    before = src.read_bytes()
    rel = str(src.relative_to(res.work.root))
    o = run(res.work, ["profile", "transform", rel, "--out", rel, "--sample", "2"])
    if o.rc == 0 and not o.crashed:
        sessions = io.read(src).frame.get_column(S.SESSION_ID).n_unique()
        return held(f"in place: {sessions} sessions")
    v = clean_error(o)
    return v if not v.held or src.read_bytes() == before else broke("refused but changed")


def keyfile_short(res: Resources) -> Verdict:
    key = res.work.out("542/k.key")
    key.write_bytes(b"abc")
    trace = str(res.trace(redact=True))
    args = ["profile", "derive", trace, "--out", "out/542/dk", "--key-file", str(key)]
    return clean_error(run(res.work, args))


def sweep_sigint(res: Resources) -> Verdict:
    """L7: SIGINT 8 s into a two-point sweep on the slow sim stops the whole sweep."""
    args = [
        "sweep",
        "files/slow.arrow",
        "--target",
        res.slow_sim(),
        "--model",
        "agentload-sim",
        "--concurrency",
        "2,4",
        "--out-dir",
        "out/115/sw",
    ]
    res.file("slow.arrow")
    o = run(res.work, args, timeout=60, signals=[(8.0, SIGINT)])
    if o.rc is None:
        return broke("still running 50 s after SIGINT")
    stray = [p.name for p in (res.work.root / "out/115/sw").glob("*c4*")]
    if stray and any(".part" in s for s in stray):
        return broke(f"the next point started: {stray}")
    return held(o.brief()) if o.rc == 130 and not o.crashed else broke(o.brief())


def sigkill_partfile(res: Resources) -> Verdict:
    """A replay killed with SIGKILL mid-run leaves a part file that inspect reads, holding
    at least the rows it held a second before the kill."""
    res.file("slow.arrow")
    args = [
        "replay",
        "files/slow.arrow",
        "--target",
        res.slow_sim(),
        "--model",
        "agentload-sim",
        "--quiet",
        "--concurrency",
        "8",
        "--out",
        "out/452/k9.arrow",
    ]
    folder = res.work.out("452/k9.arrow").parent
    proc = subprocess.Popen(
        [AGENTLOAD, *args], cwd=res.work.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    seen, deadline = 0, time.monotonic() + 150
    while seen == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = _part_rows(folder)
    time.sleep(1)
    proc.kill()
    proc.wait()
    parts = sorted(folder.glob("k9.arrow.part*"))
    if not parts:
        return broke("no part file after SIGKILL")
    o = run(res.work, ["inspect", str(parts[0])])
    rows = io.read(parts[0]).frame.height
    if rows < seen:
        return broke(f"{rows} rows after the kill, {seen} seen a second before")
    return both(lambda: clean_run(o), lambda: held(f"{rows} rows ({seen} a second before)"))


def _part_rows(folder: Path) -> int:
    try:
        return sum(io.read(p).frame.height for p in folder.glob("k9.arrow.part*"))
    except AgentloadError:
        return 0


def long_wait(file: str) -> Scenario:
    """A 1e15 s tool latency (or a 1e300 ms Mooncake delay): refused by the time bounds, or
    (if it were accepted) stopped by SIGTERM into a partial result."""

    def scenario(res: Resources) -> Verdict:
        out = f"out/lw_{file}.arrow"
        args = _replay_args(res, f"files/{file}", out, "--concurrency", "1")
        res.file(file)
        o = run(res.work, args, timeout=90, signals=[(30.0, SIGTERM)])
        if o.rc == 2:
            return clean_error(o)
        return partial_result(o, res, args)

    return scenario


def nonmonotonic(res: Resources) -> Verdict:
    """Mooncake rows whose timestamps go backwards (across rows and inside a session):
    accepted as documented (think clipped at 0) or refused, by inspect, stats and replay."""
    path = res.work.files / "mc_nonmono.jsonl"
    path.write_text(
        inputs._lines(
            {**inputs.MC_OK, "timestamp": 500},
            {**inputs.MC_OK, "timestamp": 100},
            {**inputs.MC_OK, "timestamp": 900, "session_id": "a"},
            {**inputs.MC_OK, "timestamp": 200, "session_id": "a"},
        )
    )
    rel = "files/mc_nonmono.jsonl"
    commands = [
        ["inspect", rel],
        ["profile", "stats", rel],
        _replay_args(res, rel, "out/352/r.arrow", "--speed", "100"),
    ]

    def ok_or_refused(args: list[str]) -> Verdict:
        o = run(res.work, args)
        return clean_run(o) if o.rc == 0 else clean_error(o)

    return both(*(lambda a=a: ok_or_refused(a) for a in commands))


def _port_in_use(res: Resources) -> Verdict:
    port = res.sim().rsplit(":", 1)[1]
    return clean_error(run(res.work, ["sim", "--port", port], timeout=120))


def unreplayable_trace(res: Resources) -> Verdict:
    """A trace holding a call whose request body was not JSON: refused in one line (the
    body cannot be replayed verbatim), or replayed with a row per request."""
    trace = str(res.trace(redact=False))
    args = [
        "replay",
        trace,
        "--target",
        res.upstream()[0],
        "--model",
        "m",
        "--quiet",
        "--out",
        "out/608/rtf.arrow",
        "--timeout",
        "5",
        "--speed",
        "1000",
    ]
    o = run(res.work, args)
    if o.rc == 2:
        return clean_error(o)
    return rows_per_request(o, res, args, "None", "None")


def compare_all_degenerate(res: Resources) -> Verdict:
    """compare of res.arrow and every degenerate result (the note's command is cut at
    `out/k`: the SIGKILL part file, out/k9.arrow.part0.arrows, is the one it began)."""
    from tests.adversary.clirows import bind

    words = [
        "compare",
        "res.arrow",
        "out/o_warmup-nan.arrow",
        "out/f_http500_raw.arrow",
        "out/f_stall_raw.arrow",
        "out/b_unreach_raw.arrow",
        "out/sig_sigint-3s.arrow",
        "out/sig_sigint-chat-calibrating-blackhole.arrow",
        "out/f_garbage-sse_chat.arrow",
        "out/k9.arrow.part0.arrows",
    ]
    return clean_run(run(res.work, bind(words, res, 619)))


SPECIALS: tuple[Special, ...] = (
    Special(r"sim-max-tokens-1e12-OOM|sim-max_tokens-1e12.*", fixed(sim_huge_max_tokens)),
    Special("corrupt-profile-silent-partial", fixed(builtin_flip)),
    Special("bitflip-statistics", fixed(bitflip_statistics)),
    Special("replay-nan-think", fixed(replay_refused("nan_think.arrow", "--concurrency", "8"))),
    Special("replay-inf-think", fixed(replay_refused("inf_think.arrow", "--concurrency", "2"))),
    Special("replay-profile-input-1e12", fixed(replay_refused("huge_input.arrow"))),
    Special(r"replay-trie-input-1e12", fixed(replay_refused("trie_1e12.jsonl"))),
    Special("replay-mutual-parent", fixed(replay_refused("mutual_parent.arrow"))),
    Special("replay-parent-missing-call", fixed(replay_refused("parent_missing.arrow"))),
    Special("replay-self-parent", fixed(replay_refused("self_parent.arrow"))),
    Special("replay-blocksize-262144", fixed(replay_refused("bs262144.arrow"))),
    Special("replay-blocksize-1e6", fixed(replay_refused("bs1000000.arrow"))),
    Special(
        "import-trie-int64-overflow",
        lambda row, m: (
            lambda res: clean_error(
                run(
                    res.work,
                    [
                        "profile",
                        "import",
                        "trie",
                        str(res.file("trie_overflow.jsonl")),
                        "--out",
                        "out/73/x.arrow",
                    ],
                )
            )
        ),
    ),
    Special(
        "replay-mooncake-timestamp-1e300",
        fixed(replay_refused("mc_hugets.jsonl", "--speed", "1000")),
    ),
    Special(
        "replay-profile-nan-arrival", fixed(replay_refused("nan_arrival.arrow", "--speed", "1000"))
    ),
    Special(
        "replay-profile-inf-arrival", fixed(replay_refused("inf_arrival.arrow", "--speed", "1000"))
    ),
    Special(
        "replay-trie-int64-overflow",
        fixed(replay_refused("trie_overflow.jsonl", "--concurrency", "1")),
    ),
    Special(
        r"replay-neg-input/neg-output profile",
        fixed(each(replay_refused("neg_input.arrow"), replay_refused("neg_output.arrow"))),
    ),
    Special("inspect-fifo", fixed(fifo("inspect"))),
    Special("report-fifo", fixed(fifo("report"))),
    Special("replay-fifo", fixed(fifo("replay"))),
    Special("replay-sigterm-blocked-fifo", fixed(fifo("replay-sigterm"))),
    Special("sweep-sigint", fixed(sweep_sigint)),
    Special("replay-out-equals-source", fixed(out_equals_input)),
    Special("report-json-overwrites-input", fixed(report_overwrites_input)),
    Special("transform-out-same-as-in", fixed(transform_in_place)),
    Special("derive-keyfile-short", fixed(keyfile_short)),
    Special(
        "replay-sigkill-partfile",
        fixed(sigkill_partfile),
        "kill -9 after 8 s instead of 14 s (a shorter run)",
    ),
    Special("replay-trie-hugelat", fixed(long_wait("trie_hugelat.jsonl"))),
    Special(
        "replay-sigterm-long-think-wait",
        fixed(each(long_wait("trie_hugelat.jsonl"), long_wait("mc_hugedelay.jsonl"))),
    ),
    Special("replay-mc-nonmonotonic", fixed(nonmonotonic)),
    Special("sim-port-in-use", fixed(_port_in_use)),
    Special("replay-trace-with-unreadable-requests", fixed(unreplayable_trace)),
    Special(
        "compare-degenerate-all",
        fixed(compare_all_degenerate),
        "the note's command is cut at 'out/k'; completed as the SIGKILL part file",
    ),
)
