"""The admission window (analysis.window) and the steady state fitted over it, by hand."""

from __future__ import annotations

import pytest

from agentload.analysis.throughput import throughput
from agentload.analysis.window import ADMISSION, WHOLE_RUN, duration_option, run_window
from tests.analysis.frames import SEC, frame, request


def _rows() -> list[dict[str, object]]:
    """Two root sessions started at 0 s and 10 s (a third one's second call is at 30 s).

    Request ends (s) and completion tokens: 5:50, 10:100, 15:150, 20:200 inside the first
    20 s; then the drain 30:10, 40:10 where load fell."""
    return [
        request("a", 0, 0.0, 1.0, 5.0, completion=50),
        request("a", 1, 6.0, 7.0, 10.0, completion=100),
        request("b", 0, 10.0, 11.0, 15.0, completion=150),
        request("b", 1, 16.0, 17.0, 20.0, completion=200),
        request("b", 2, 25.0, 26.0, 30.0, completion=10),
        request("a", 2, 35.0, 36.0, 40.0, completion=10),
    ]


def test_window_with_duration_ends_at_duration() -> None:
    window = run_window(frame(_rows()), 20.0)
    assert window is not None
    assert (window.kind, window.start_ns, window.end_ns) == (ADMISSION, 0, 20 * SEC)
    assert window.run_end_ns == 40 * SEC
    assert window.describe() == (
        "steady state over 0-20 s (admission window: --duration 20); drain 20-40 s excluded"
    )
    assert window.as_json()["drain_s"] == pytest.approx(20.0)


def test_steady_state_fitted_over_the_admission_window_only() -> None:
    rows = frame(_rows())
    got = throughput(rows, run_window(rows, 20.0)).row(0, named=True)
    # window 0-20 s, cut at 20% = 4 s: points (5, 50), (10, 150), (15, 300), (20, 500);
    # mean t 12.5, mean C 250; cov = (-7.5·-200 + -2.5·-100 + 2.5·50 + 7.5·250) / 3
    # = 3750 / 3; var = (56.25 + 6.25 + 6.25 + 56.25) / 3 = 125 / 3 -> slope 30 tok/s
    assert got["completion_tps_steady"] == pytest.approx(30.0)
    assert (got["steady_from_s"], got["steady_to_s"]) == pytest.approx((4.0, 20.0))
    # overall stays the whole run: 520 tokens over 40 s
    assert got["completion_tps"] == pytest.approx(13.0)
    # the old whole-run fit includes the drain: (10, 150), (15, 300), (20, 500), (30, 510),
    # (40, 520) after the 8 s cut; it is far lower
    whole = throughput(rows).row(0, named=True)["completion_tps_steady"]
    assert whole < 15.0


def test_window_without_duration_ends_at_last_admission() -> None:
    rows = frame(_rows())
    window = run_window(rows, None)
    assert window is not None
    # roots a (0 s) and b (10 s): the last admission is b's first scheduled send
    assert (window.kind, window.end_ns) == (ADMISSION, 10 * SEC)
    assert window.reason == "until the last session admission"


def test_whole_run_when_everything_was_admitted_at_once() -> None:
    rows = [request(s, 0, 0.0, 1.0, 5.0 + i) for i, s in enumerate("abc")]
    rows += [request(s, 1, 6.0 + i, 7.0, 20.0 + i) for i, s in enumerate("abc")]
    window = run_window(frame(rows), None)
    assert window is not None
    assert (window.kind, window.end_ns) == (WHOLE_RUN, 22 * SEC)
    assert window.describe() == (
        "steady state over 0-22 s (whole run window: every session was admitted within 0 s, "
        "so no admission window)"
    )


def test_duration_option_from_info() -> None:
    assert duration_option({"options": {"duration": 20}}) == 20.0
    assert duration_option({"options": {"duration": None}}) is None
    assert duration_option({}) is None
    assert run_window(frame([]), 20.0) is None
