"""A failed run says so: the early stop, the exit status, the error messages with counts,
and rate limiting as its own kind. Real sims on 127.0.0.1, the real CLI as a subprocess."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from agentload.analysis.failures import error_messages
from agentload.base.errors import (
    EXIT_OK,
    EXIT_THRESHOLD,
    EXIT_UNFAITHFUL,
    ThresholdError,
    UnfaithfulRunError,
)
from agentload.replay.client import http_error, retry_after_s
from agentload.replay.config import TransportChoice
from agentload.replay.diagnostics import diagnose
from agentload.replay.live_stats import LiveStats
from agentload.replay.outcome import (
    EARLY_QUIET_S,
    EARLY_REQUESTS,
    Outcome,
    start_failed,
    verdict,
    watch_start,
)
from agentload.replay.worker import WorkerOutcome
from agentload.traceformat import io
from agentload.traceformat import schema as S
from agentload.traceformat.schema import ErrorKind
from tests.analysis.frames import SEC, frame, row
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim
from tests.timing import Measured, Noise, within_noise
from tests.values import dig

AGENTLOAD = str(Path(sys.executable).parent / "agentload")
SIM_MISSING_MODEL = "does not exist. This server serves `agentload-sim`"


def run_cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [AGENTLOAD, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def fault_sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--allow-faults", "--token-interval-ms", "1") as sim:
        yield sim


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outcome") / "p.arrow"
    write_profile(path, Shape(sessions=4, calls=3, child=False, think_s=(0.01,)))
    return path


def replay_cli(
    source: Path, target: str, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "replay", str(source), "--target", target, "--model", "agentload-sim",
        "--out", str(out), *extra,
    )  # fmt: skip


def diagnostics(path: Path) -> dict[str, object]:
    loaded = io.read(path)
    return dict(json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()]))


# --- the rules, by hand ---------------------------------------------------------------------
def test_start_failed_rule() -> None:
    quiet = EARLY_QUIET_S
    assert start_failed(EARLY_REQUESTS, 0, 5, 0.0)  # 8 failed while others are in flight
    assert not start_failed(EARLY_REQUESTS - 1, 0, 5, 10.0)  # in flight: a cold engine
    assert start_failed(2, 0, 0, quiet)  # two failed, nothing in flight for the quiet time
    assert not start_failed(2, 0, 0, quiet - 0.01)
    assert not start_failed(1, 0, 0, 100.0)  # one refusal alone is not yet a verdict
    assert not start_failed(50, 1, 0, 100.0)  # one success: the engine answers
    assert not start_failed(0, 0, 0, 100.0)


def test_http_error_messages() -> None:
    body = '{"error": {"message": "The model `x` does not exist.", "type": "not_found_error"}}'
    assert http_error(404, body, None) == (
        ErrorKind.HTTP_4XX,
        "HTTP 404: not_found_error: The model `x` does not exist.",
    )
    assert http_error(503, " overloaded \n", None) == (ErrorKind.HTTP_5XX, "HTTP 503: overloaded")
    assert http_error(429, "{}", "7") == (ErrorKind.RATE_LIMITED, "HTTP 429 (Retry-After 7 s): {}")
    assert http_error(429, "slow down", None) == (ErrorKind.RATE_LIMITED, "HTTP 429: slow down")
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    soon = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    wait = retry_after_s(soon)
    assert wait is not None and 115 <= wait <= 121
    assert retry_after_s("soon") is None


def test_verdicts() -> None:
    def outcome(ok: int, failed: int, requests: int | None = None, early: bool = False) -> Outcome:
        return Outcome(
            requests=ok + failed if requests is None else requests,
            ok=ok,
            failed=failed,
            stopped_early=early,
            top_kind="http_4xx",
            top_message="HTTP 404: nope",
        )

    url = "http://h:1"
    none_ok = verdict(outcome(0, 13), url, 0.05)
    assert isinstance(none_ok, UnfaithfulRunError)
    assert str(none_ok) == (
        f"{url}: no request succeeded (13 of 13 failed); mostly http_4xx: HTTP 404: nope"
    )
    early = verdict(outcome(0, 8, early=True), url, 0.05)
    assert isinstance(early, UnfaithfulRunError) and "stopped early" in str(early)
    cancelled_only = verdict(outcome(0, 0, requests=4), url, 0.05)
    assert isinstance(cancelled_only, UnfaithfulRunError)
    assert "0 of 4 failed, 4 cancelled" in str(cancelled_only)
    breach = verdict(outcome(18, 2), url, 0.05)
    assert isinstance(breach, ThresholdError)
    assert "2 of 20 requests failed (10.0% > --max-error-rate 0.05)" in str(breach)
    assert verdict(outcome(18, 2), url, 0.1) is None  # 10% is not above 10%
    assert verdict(outcome(20, 0), url, 0.0) is None


def test_error_messages_grouped_by_kind_then_count() -> None:
    def row(kind: str | None, message: str | None) -> dict[str, object]:
        ok = kind is None
        return {S.STATUS: "ok" if ok else "error", S.ERROR_KIND: kind, S.ERROR: message}

    rows = [row("connect", "refused")] * 3 + [row("http_4xx", f"m{i % 7}") for i in range(14)]
    rows += [row("http_4xx", "m0")] + [row(None, None)] * 4
    got = error_messages(pl.DataFrame(rows), limit=2)
    assert list(got) == ["http_4xx", "connect"]  # 15 before 3
    assert got["connect"] == [{"message": "refused", "count": 3}]
    assert got["http_4xx"] == [
        {"message": "m0", "count": 3},
        {"message": "m1", "count": 2},
        {"message": None, "count": 10},  # m2..m6, two each
    ]


# --- rate limiting: its own kind on every transport ------------------------------------------
@pytest.mark.parametrize("transport", ["raw", "aiohttp", "httpx"])
def test_429_is_rate_limited_with_retry_after(
    fault_sim: Sim, profile: Path, tmp_path: Path, transport: str
) -> None:
    result = replay(
        profile,
        fault_sim.url,
        tmp_path / "o.arrow",
        headers=(("X-Sim-Fault", "http429"),),
        public_headers=("X-Sim-Fault",),  # else masked in the error text as a secret
        transport=TransportChoice(transport),
        max_sessions=1,
        preflight=False,
    )
    rows = result.frame
    assert rows[S.ERROR_KIND].to_list() == [ErrorKind.RATE_LIMITED] * 3
    assert rows[S.HTTP_STATUS].to_list() == [429] * 3
    assert set(rows[S.ERROR].to_list()) == {
        "HTTP 429 (Retry-After 2 s): rate_limit_error: injected fault: http429 (rate limited)"
    }


# --- exit status and messages through the CLI ------------------------------------------------
def test_engine_down_exits_3_within_seconds(profile: Path, tmp_path: Path) -> None:
    """Default flags: non-zero within 5 s, naming the URL (the preflight or the early stop)."""
    url = f"http://127.0.0.1:{closed_port()}"

    def run() -> tuple[subprocess.CompletedProcess[str], int, int]:
        t0 = time.monotonic_ns()
        proc = replay_cli(profile, url, tmp_path / "o.arrow", "--force")
        return proc, t0, time.monotonic_ns()

    measured = Measured(run)
    proc = measured.first[0]
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and url in last, proc.stderr
    assert "Traceback" not in proc.stderr

    def took_ms(ran: tuple[subprocess.CompletedProcess[str], int, int], noise: Noise) -> float:
        # wall time less the CPU the machine withheld from the CLI (its run-queue wait)
        _, t0, t1 = ran
        return (t1 - t0) / 1e6 - noise.stalled_ms(t0, t1)

    within_noise(measured, took_ms, 5000.0, "engine down: time to exit")


def test_engine_down_stops_early_without_preflight(tmp_path: Path) -> None:
    """Sessions 3 s apart: the first session's two calls fail at once, nothing is in flight,
    and the run is stopped EARLY_QUIET_S later instead of running its 6 s schedule."""
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=3, calls=2, child=False, arrival_step_s=3.0))
    url = f"http://127.0.0.1:{closed_port()}"
    out = tmp_path / "o.arrow"
    proc = replay_cli(source, url, out, "--no-preflight")
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    assert "FAILED (stopped early: the first 2 requests all failed)" in proc.stderr
    assert "connect 2x: connect: " in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {url}: stopped early, the first 2 requests all failed; ")
    assert "mostly connect: connect: " in last
    diag = diagnostics(out)  # the partial result is kept
    assert dig(diag, "outcome", "stopped_early") is True
    loaded = io.read(out)
    assert loaded.metadata[S.META_COMPLETE.decode()] == "false"
    assert loaded.frame.height == 2  # stopped before the second session's start at 3 s
    assert "--workers" not in proc.stderr


def test_many_failures_stop_after_the_first_eight(fault_sim: Sim, tmp_path: Path) -> None:
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=8, calls=6, child=False, think_s=(0.01,)))
    out = tmp_path / "o.arrow"
    proc = replay_cli(
        source, fault_sim.url, out, "--public-header", "X-Sim-Fault: http500", "--no-preflight"
    )
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    rows = io.read(out).frame
    assert EARLY_REQUESTS <= rows.height < 48  # stopped, not the whole schedule
    assert "mostly http_5xx: HTTP 500: server_error: injected fault: http500" in proc.stderr


@pytest.mark.parametrize(
    ("target_suffix", "model", "needle"),
    [
        ("/v1", "agentload-sim", "HTTP 404: "),  # a wrong path: /v1/v1/completions
        ("", "gpt-4o", SIM_MISSING_MODEL),  # a model the sim does not serve
    ],
)
def test_wrong_path_or_model_shows_the_server_message(
    fault_sim: Sim, profile: Path, tmp_path: Path, target_suffix: str, model: str, needle: str
) -> None:
    out = tmp_path / "o.arrow"
    url = fault_sim.url + target_suffix
    proc = run_cli(
        "replay", str(profile), "--target", url, "--model", model, "--out", str(out),
        "--no-preflight",
    )  # fmt: skip
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    summary_line = next(x for x in proc.stderr.splitlines() if x.startswith("  http_4xx "))
    assert needle in summary_line, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {url}: ") and needle in last, last
    report = run_cli("report", str(out))
    assert report.returncode == EXIT_OK, report.stderr
    assert "FAILED: 0 of" in report.stdout and needle in report.stdout, report.stdout


def test_max_error_rate(tmp_path: Path) -> None:
    """One of ten calls is longer than the sim's --max-model-len: 10% failed."""
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=10, calls=1, child=False, arrival_step_s=0.05))
    with running_sim("--preset", "fast", "--max-model-len", "240") as sim:
        breach = replay_cli(source, sim.url, tmp_path / "a.arrow")
        within = replay_cli(source, sim.url, tmp_path / "b.arrow", "--max-error-rate", "0.1")
    assert breach.returncode == EXIT_THRESHOLD, breach.stderr
    last = breach.stderr.strip().splitlines()[-1]
    assert "1 of 10 requests failed (10.0% > --max-error-rate 0.05); mostly http_4xx: " in last
    assert within.returncode == EXIT_OK, within.stderr
    assert (tmp_path / "a.arrow").exists() and (tmp_path / "b.arrow").exists()


def test_bad_max_error_rate_is_one_line(profile: Path, tmp_path: Path) -> None:
    proc = replay_cli(profile, "http://127.0.0.1:9", tmp_path / "o.arrow", "--max-error-rate", "2")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --max-error-rate: expected a number in [0, 1], got 2.0"


# --- every error kind: arises from a real fault, counted and shown ------------------------
FAULTS = [
    ("http500", ErrorKind.HTTP_5XX, "HTTP 500: server_error: injected fault: http500"),
    ("http429", ErrorKind.RATE_LIMITED, "HTTP 429 (Retry-After 2 s): rate_limit_error: "),
    ("drop-mid-stream", ErrorKind.STREAM_ERROR, "connection closed by the server"),
    ("garbage-sse", ErrorKind.STREAM_ERROR, "{this is not json"),
    ("stall", ErrorKind.TIMEOUT, "no data for 0.5 s"),
]


@pytest.mark.parametrize(("fault", "kind", "needle"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_kind_counted_and_shown(
    fault_sim: Sim, profile: Path, tmp_path: Path, fault: str, kind: ErrorKind, needle: str
) -> None:
    out = tmp_path / "o.arrow"
    proc = replay_cli(
        profile, fault_sim.url, out, "--no-preflight", "--timeout", "0.5",
        "--public-header", f"X-Sim-Fault: {fault}",
    )  # fmt: skip
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    rows = io.read(out).frame
    # the early stop cancels what is still in flight (the stalled calls): cancelled rows
    assert set(rows[S.ERROR_KIND].to_list()) <= {kind, ErrorKind.CANCELLED}
    n = rows.filter(pl.col(S.ERROR_KIND) == kind).height
    assert n >= 2
    assert f"{kind} {n}" in proc.stderr.split("errors: ")[1].splitlines()[0], proc.stderr
    shown = [x for x in proc.stderr.splitlines() if x.startswith(f"  {kind} ")]
    assert sum(int(x.split()[1].rstrip("x:")) for x in shown) == n, shown
    assert any(needle in x for x in shown), shown
    report = run_cli("report", str(out), "--json", str(tmp_path / "r.json"))
    assert needle in report.stdout, report.stdout  # the Errors table
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["status"].startswith(f"FAILED: 0 of {rows.height} ok"), summary["status"]
    counted = summary["requests"]["error_messages"][kind]
    assert sum(e["count"] for e in counted) == n


def test_cancelled_rows_are_counted_and_shown_but_not_failures(tmp_path: Path) -> None:
    """--no-drain: calls in flight at the deadline end as cancelled rows; the run exits 0."""
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=2, calls=6, child=False, outputs=(40,), think_s=(0.01,)))
    out = tmp_path / "o.arrow"
    with running_sim("--preset", "fast", "--token-interval-ms", "20") as sim:
        proc = replay_cli(
            source, sim.url, out, "--concurrency", "2", "--duration", "2", "--no-drain"
        )
    assert proc.returncode == EXIT_OK, proc.stderr
    rows = io.read(out).frame
    cancelled = rows.filter(pl.col(S.ERROR_KIND) == ErrorKind.CANCELLED).height
    assert cancelled >= 1 and rows.filter(pl.col(S.STATUS) == "ok").height >= 2
    assert f"errors: cancelled {cancelled}\n" in proc.stderr, proc.stderr
    assert f"  cancelled {cancelled}x: cancelled before the response ended" in proc.stderr
    assert "FAILED" not in proc.stderr


# --- no client-bound advice when failures dominate -----------------------------------------
@pytest.mark.parametrize(("failed", "advised"), [(5, True), (10, False), (20, False)])
def test_client_advice_suppressed_when_failures_dominate(failed: int, advised: bool) -> None:
    """A busy client (99% of a core) sending 1 s late: advised to add --workers unless at
    least half of the finished requests failed (the engine was down or refusing)."""
    rows = [
        row(f"s{i}", 0, **{S.T_SCHEDULED_NS: i * SEC, S.T_SENT_NS: i * SEC + SEC})
        for i in range(20)
    ]
    for r in rows[:failed]:
        r.update({S.STATUS: "error", S.ERROR_KIND: ErrorKind.CONNECT.value, S.ERROR: "refused"})
    busy = WorkerOutcome(0, 9.9, 10.0, rows=20, interrupted=False, runqueue_wait_s=0.0)
    warnings = dig(diagnose(frame(rows), [busy], closed_loop=False, calibration=None), "warnings")
    assert any("add --workers" in w for w in warnings) is advised, warnings
    assert any("schedule lag p99" in w for w in warnings) is advised, warnings
    assert any(f"{failed} of 20 requests failed" in w for w in warnings) is not advised


# --- sweep: an unfaithful point ends it, a breach fails it at the end ------------------------
def test_sweep_stops_at_an_unfaithful_point(fault_sim: Sim, profile: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "sweep"
    proc = run_cli(
        "sweep", str(profile), "--target", fault_sim.url, "--model", "gpt-4o",
        "--concurrency", "1,2", "--out-dir", str(out_dir), "--no-preflight",
    )  # fmt: skip
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stdout + proc.stderr
    assert "sweep stopped at point c1" in proc.stdout and "points not run: c2" in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: point c1: {fault_sim.url}: ") and SIM_MISSING_MODEL in last
    assert (out_dir / "c1.arrow").exists() and not (out_dir / "c2.arrow").exists()


def test_sweep_breach_exits_1_after_every_point(tmp_path: Path) -> None:
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=10, calls=1, child=False, arrival_step_s=0.05))
    out_dir = tmp_path / "sweep"
    with running_sim("--preset", "fast", "--max-model-len", "240") as sim:
        proc = run_cli(
            "sweep", str(source), "--target", sim.url, "--model", "agentload-sim",
            "--concurrency", "1,2", "--max-sessions", "10", "--out-dir", str(out_dir),
        )  # fmt: skip
    assert proc.returncode == EXIT_THRESHOLD, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 2 of 2 points: c1: "), last
    assert "; c2: " in last and "(10.0% > --max-error-rate 0.05)" in last
    assert (out_dir / "sweep.html").exists()  # the comparison was still written


def test_every_error_kind_has_a_fault_test() -> None:
    """The kinds raised by real faults above: a new ErrorKind needs a test here too."""
    covered = {kind for _, kind, _ in FAULTS} | {
        ErrorKind.CONNECT,  # test_engine_down_stops_early_without_preflight
        ErrorKind.HTTP_4XX,  # test_wrong_path_or_model_shows_the_server_message
        ErrorKind.CANCELLED,  # test_cancelled_rows_are_counted_and_shown_but_not_failures
    }
    assert covered == set(ErrorKind)


def test_watch_start_waits_for_a_quiet_second_then_stops() -> None:
    """Two failures, nothing in flight: stopped EARLY_QUIET_S after the last change, not
    before; a failure arriving meanwhile restarts the quiet second."""

    async def scenario() -> tuple[int | None, float, bool]:
        stats = LiveStats()
        stop = asyncio.Event()
        watch = asyncio.create_task(watch_start([stats], stop))
        await asyncio.sleep(EARLY_QUIET_S * 1.5)  # workers starting: nothing done yet
        assert not stop.is_set()
        for _ in range(2):
            stats.request_sent()
            stats.request_done({S.STATUS: "error"})
        t0 = time.monotonic()
        await asyncio.sleep(EARLY_QUIET_S / 2)
        stats.request_sent()  # a third request: the quiet second starts again
        stats.request_done({S.STATUS: "error"})
        early = stop.is_set()
        got = await watch
        return got, time.monotonic() - t0, early

    got, took, early = asyncio.run(scenario())
    assert got == 3 and not early
    assert took >= EARLY_QUIET_S * 1.5  # half a second, then a whole quiet one


def test_watch_start_ends_at_the_first_success() -> None:
    async def scenario() -> tuple[int | None, bool]:
        stats = LiveStats()
        stop = asyncio.Event()
        watch = asyncio.create_task(watch_start([stats], stop))
        stats.request_sent()
        stats.request_done({S.STATUS: "error"})
        stats.request_sent()
        stats.request_done({S.STATUS: "ok"})
        for _ in range(EARLY_REQUESTS):  # failures after a success do not stop the run
            stats.request_sent()
            stats.request_done({S.STATUS: "error"})
        return await asyncio.wait_for(watch, EARLY_QUIET_S * 3), stop.is_set()

    assert asyncio.run(scenario()) == (None, False)
