"""A server that stops outputs early is flagged by replay and by report (issue 14).

`agentload sim --ignore-length-fields` ignores min_tokens and ignore_eos and ends every
output after 1-5 tokens, as a server that does not know the fields would.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from agentload.analysis.run_analysis import analyze_path
from agentload.base.errors import ThresholdError
from agentload.replay.config import ReplayConfig
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

SHAPE = Shape(sessions=3, calls=3, outputs=(40, 60, 30), child=False)


def _options(**extra: Any) -> dict[str, Any]:
    """Replay options; the preflight (when present) would stop this run before the clock
    starts, as the probe sees the length fields ignored: the check under test runs after."""
    names = {f.name for f in dataclasses.fields(ReplayConfig)}
    return extra | ({"preflight": False} if "preflight" in names else {})


def _warnings(path: Path) -> list[str]:
    from agentload.traceformat import io

    meta = io.read(path).metadata
    return list(json.loads(meta[S.META_DIAGNOSTICS.decode()])["warnings"])


def test_early_stop_flagged_by_replay_and_report(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", SHAPE)
    out = tmp_path / "out.arrow"
    with running_sim("--preset", "fast", "--ignore-length-fields") as sim:
        replay(tmp_path / "p.arrow", sim.url, out, **_options())
    flagged = [w for w in _warnings(out) if w.startswith("completion lengths:")]
    assert len(flagged) == 1 and "9 of 9 requests (100.0%) off" in flagged[0]
    summary = analyze_path(out).summary
    assert summary["lengths"]["completion"]["failed"]
    assert any(n.startswith("completion lengths:") for n in summary["notes"])
    assert not summary["lengths"]["prompt"]["failed"]  # token ids: exact prompts


def test_strict_lengths_fails_after_writing(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", SHAPE)
    out = tmp_path / "out.arrow"
    with (
        running_sim("--preset", "fast", "--ignore-length-fields") as sim,
        pytest.raises(ThresholdError, match="--strict-lengths: completion lengths"),
    ):
        replay(tmp_path / "p.arrow", sim.url, out, **_options(strict_lengths=True))
    assert out.exists()
    assert ThresholdError("x").exit_code == 1


def test_honoured_lengths_pass_strict(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", SHAPE)
    out = tmp_path / "out.arrow"
    with running_sim("--preset", "fast") as sim:
        replay(tmp_path / "p.arrow", sim.url, out, **_options(strict_lengths=True))
    summary = analyze_path(out).summary
    assert summary["lengths"]["completion"]["off"] == 0
    assert summary["lengths"]["completion"]["requests"] == 9
    assert not any("lengths:" in n for n in summary["notes"])
