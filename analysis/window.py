"""The admission window: the part of a run that steady-state figures are fitted over.

A run admits sessions for a while, then drains: sessions in flight finish while no new
ones start, so load falls from N to 1 and tokens/s with it. Fitting a steady state over the
drain mixes in that wind-down (issue 14: 213.6 tok/s fitted to the drain's end against the
engine's ~256), so it is fitted over the admission window only:

- start: the first scheduled send of the run (the schedule's zero, warmup included);
- end, with ``--duration D``: start + D (admissions stop there; what follows is the drain);
- end, without ``--duration``: the last root session's admission (its first scheduled send);
  when that came before ``MIN_ADMISSION_SHARE`` of the run (every session was admitted at
  once: nothing cycled, the workload simply ran to completion) there is no admission window
  to speak of and the whole run is used, as the report then says.

Everything here is computed from the rows and ``--duration`` (META_INFO options), so the
window of any result file can be recovered; replay also records it in its diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from agentload.traceformat import schema as s

MIN_ADMISSION_SHARE = 0.2
ADMISSION = "admission"
WHOLE_RUN = "whole run"


@dataclass(frozen=True)
class Window:
    """A run's fitting window, in ns on the run's clock."""

    start_ns: int
    end_ns: int
    run_end_ns: int
    kind: str  # ADMISSION or WHOLE_RUN
    reason: str

    @property
    def length_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def run_s(self) -> float:
        return (self.run_end_ns - self.start_ns) / 1e9

    def describe(self) -> str:
        """e.g. 'steady state over 0-20 s (admission window: --duration 20); drain 20-35 s
        excluded'."""
        end, run = _seconds(self.length_s), _seconds(self.run_s)
        head = f"steady state over 0-{end} s ({self.kind} window: {self.reason})"
        return f"{head}; drain {end}-{run} s excluded" if run != end else head

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "end_s": self.length_s,
            "run_s": self.run_s,
            "drain_s": self.run_s - self.length_s,
            "description": self.describe(),
        }


def _seconds(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _root_starts() -> pl.Expr:
    """A root session's first call (the session's admission)."""
    first = pl.col(s.CALL_INDEX) == pl.col(s.CALL_INDEX).min().over(s.SESSION_ID)
    return first & pl.col(s.PARENT_SESSION_ID).is_null()


def run_window(frame: pl.DataFrame, duration_s: float | None) -> Window | None:
    """The window steady state is fitted over (module docstring); None without rows."""
    if frame.height == 0:
        return None
    bounds = frame.select(
        pl.col(s.T_SCHEDULED_NS).min().alias("start"),
        pl.max_horizontal(pl.col(s.T_END_NS).max(), pl.col(s.T_SENT_NS).max()).alias("end"),
        pl.col(s.T_SCHEDULED_NS).filter(_root_starts()).max().alias("last_admission"),
    ).row(0, named=True)
    start = int(bounds["start"])
    run_end = max(int(bounds["end"] or start), start)
    if duration_s is not None:
        end = min(start + int(duration_s * 1e9), run_end)
        return Window(start, end, run_end, ADMISSION, f"--duration {duration_s:g}")
    last = bounds["last_admission"]
    if last is not None and last - start >= MIN_ADMISSION_SHARE * (run_end - start) > 0:
        return Window(start, int(last), run_end, ADMISSION, "until the last session admission")
    early = 0.0 if last is None else (last - start) / 1e9
    reason = f"every session was admitted within {_seconds(early)} s, so no admission window"
    return Window(start, run_end, run_end, WHOLE_RUN, reason)


def duration_option(info: dict[str, object]) -> float | None:
    """``--duration`` as recorded in META_INFO options (None when absent or unset)."""
    options = info.get("options")
    value = options.get("duration") if isinstance(options, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
