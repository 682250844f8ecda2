"""A thinking session holds no request body: each call is built LEAD_NS before it is due.

At fleet scale (10,000 sessions, prompts of tens of KB) bodies built before the think time
would be most of the client's memory. The referee is the clock: the moment each body is
built, recorded by a wrapper around the runner's builder, against the call's due time in
the result file.
"""

from __future__ import annotations

from pathlib import Path
from time import monotonic_ns

import pytest

from agentload.replay import runner as runner_mod
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim


def test_bodies_are_built_just_before_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[tuple[str, int], int] = {}
    real = runner_mod.Runner._prepare

    def recording(self: runner_mod.Runner, call, sid, parent, cycle):  # type: ignore[no-untyped-def]
        out = real(self, call, sid, parent, cycle)
        built[(sid, call.index)] = monotonic_ns()
        return out

    monkeypatch.setattr(runner_mod.Runner, "_prepare", recording)
    write_profile(tmp_path / "p.arrow", Shape(sessions=2, calls=3, child=False, think_s=(0.3,)))
    with running_sim("--preset", "fast") as sim:
        rows = replay(tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow").frame
    later = rows.filter(rows[S.CALL_INDEX] > 0)
    assert later.height == 4
    for sid, index, due in later.select(S.SESSION_ID, S.CALL_INDEX, S.T_SCHEDULED_NS).rows():
        # built no earlier than LEAD_NS before due (the 300 ms think time is not spent
        # holding the body); a late build only makes the send late, judged elsewhere
        assert built[(sid, index)] >= due - runner_mod.LEAD_NS, (sid, index)
