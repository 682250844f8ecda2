"""The timing-test helper (tests/timing.py): what noise explains, and what it never does."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.timing import (
    MAX_ATTEMPTS,
    QUIET,
    Measured,
    Noise,
    judge,
    probe,
    within_noise,
)

MS = 1_000_000


def _noise(jitter_ms: float, max_ms: float | None = None) -> Noise:
    return Noise(1000, 0.1, 0.1 + jitter_ms, max_ms if max_ms is not None else jitter_ms)


def _waited(pid: int, start_ms: int, wait_ms: int) -> Noise:
    """A process that sat runnable on the run queue for `wait_ms` from `start_ms` on."""
    series = tuple((t * MS, min(max(t - start_ms, 0), wait_ms) * MS) for t in range(0, 1000))
    return Noise(1000, 0.1, 0.2, 0.3, {pid: series})


def test_quiet_machine_keeps_the_bound() -> None:
    assert judge(2.0, 2.0, 0.5, QUIET).ok
    verdict = judge(2.1, 2.0, 0.5, QUIET)
    assert not verdict.ok and verdict.allowed_ms == 2.0
    assert not verdict.retry  # nothing stalled: a failure on a quiet machine is final


def test_noise_widens_the_bound_by_k_jitter() -> None:
    verdict = judge(4.9, 2.0, 0.5, _noise(6.0))  # allowed 2 + 0.5 × 6 = 5
    assert verdict.ok and verdict.allowed_ms == pytest.approx(5.0)
    assert not judge(5.1, 2.0, 0.5, _noise(6.0)).ok


def test_systematic_error_above_the_noise_fails_even_on_a_very_busy_machine() -> None:
    # A client adding 20 ms to every request, judged while the probe read 60 ms of jitter:
    # the allowance stops at 10 ms, so it fails; on a quiet machine it fails as well.
    assert judge(2.0 + 20.0, 2.0, 0.5, _noise(60.0)).allowed_ms == 12.0
    assert not judge(2.0 + 20.0, 2.0, 0.5, _noise(60.0)).ok
    assert not judge(2.0 + 20.0, 2.0, 0.5, QUIET).ok


def test_late_ms_subtracts_only_the_wait_of_that_window() -> None:
    noise = _waited(pid=7, start_ms=100, wait_ms=30)  # waited from 100 to 130 ms
    assert noise.stalled_ms(100 * MS, 130 * MS) == 30.0
    assert noise.late_ms(100 * MS, 125 * MS) == 0.0  # 25 ms late, all of it on the run queue
    assert noise.late_ms(100 * MS, 150 * MS) == 20.0  # 50 ms late: 20 ms not explained
    assert noise.late_ms(500 * MS, 520 * MS) == 20.0  # a sleep elsewhere: all of it counts
    assert noise.late_ms(500 * MS, 497 * MS) == -3.0  # early is never noise


def _scripted(noises: list[Noise]) -> Iterator[list[Noise]]:
    yield [noises.pop(0)]


def _measured(values: list[float], noises: list[Noise]) -> Measured[float]:
    return Measured(lambda: values.pop(0), lambda: contextlib.contextmanager(_scripted)(noises))


def test_a_failure_on_a_quiet_machine_is_not_retried() -> None:
    measured = _measured([3.0, 1.0], [QUIET, QUIET])
    with pytest.raises(AssertionError, match=r"attempt 1: lag = 3\.00 ms") as err:
        within_noise(measured, lambda v, _n: v, 2.0, "lag")
    assert "attempt 2" not in str(err.value) and measured.runs == 1


def test_a_noisy_failure_is_retried_and_every_attempt_reported() -> None:
    stalled = _noise(0.2, max_ms=40.0)  # a 40 ms stall explains a 3 ms excess
    measured = _measured([5.0, 1.0], [stalled, QUIET])
    within_noise(measured, lambda v, _n: v, 2.0, "lag")  # the second run passes
    assert measured.runs == 2
    always_late = _measured([22.0] * MAX_ATTEMPTS, [_noise(60.0)] * MAX_ATTEMPTS)
    with pytest.raises(AssertionError) as err:
        within_noise(always_late, lambda v, _n: v, 2.0, "lag")
    assert [f"attempt {i + 1}: lag = 22.00 ms" in str(err.value) for i in range(3)] == [True] * 3
    assert always_late.runs == MAX_ATTEMPTS


def _sleeps(extra_s: float) -> list[tuple[int, int]]:
    """(intended, actual) wake-ups of 2 ms sleeps that each oversleep by `extra_s`."""
    out = []
    for _ in range(20):
        intended = time.monotonic_ns() + 2 * MS
        time.sleep(0.002 + extra_s)
        out.append((intended, time.monotonic_ns()))
    return out


@pytest.mark.parametrize(("extra_s", "passes"), [(0.0, True), (0.020, False)])
def test_real_probe_tells_a_20ms_bug_from_noise(extra_s: float, passes: bool) -> None:
    measured = Measured(lambda: _sleeps(extra_s))

    def median_late(run: list[tuple[int, int]], noise: Noise) -> float:
        return statistics.median(noise.late_ms(a, b) for a, b in run)

    ctx = contextlib.nullcontext() if passes else pytest.raises(AssertionError)
    with ctx:
        within_noise(measured, median_late, 2.0, "oversleep")


def test_probe_sees_the_run_queue_wait_of_child_processes() -> None:
    # Three busy children on two cores: together they wait ~1/3 of the time they run.
    hog = "import time\nend = time.monotonic() + 0.4\nwhile time.monotonic() < end: pass"
    with probe() as noise:
        hogs = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(3)]
        for h in hogs:
            h.wait()
    measured = noise[0]
    assert measured.samples >= 100  # 1 ms sleeps over the ~0.5 s window
    assert {h.pid for h in hogs} <= set(measured.waits)
    assert measured.total_stalled_ms() >= 100.0, measured


def test_probe_sees_the_run_queue_wait_of_threads_other_than_main() -> None:
    # A Ray actor replays on a thread of its own; /proc/PID/schedstat is the main thread's.
    # Three children each spin on a second thread while the main one sleeps in join().
    spin = (
        "import threading, time\n"
        "def spin():\n"
        "    print(threading.get_native_id(), flush=True)\n"
        "    end = time.monotonic() + 0.4\n"
        "    while time.monotonic() < end: pass\n"
        "t = threading.Thread(target=spin)\nt.start()\nt.join()"
    )
    with probe() as noise:
        children = [
            subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE) for _ in range(3)
        ]
        spinners = {int(c.communicate()[0]) for c in children}
    measured = noise[0]
    assert spinners.isdisjoint(c.pid for c in children)
    assert spinners <= set(measured.waits)
    waited = sum(measured.waits[t][-1][1] - measured.waits[t][0][1] for t in spinners) / 1e6
    assert waited >= 100.0, measured
