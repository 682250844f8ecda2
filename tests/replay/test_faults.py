"""Engine faults become error rows; the run completes and counts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from replay.config import TransportChoice
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim
from traceformat import schema as S


@pytest.fixture(scope="module")
def fault_sim() -> Iterator[Sim]:
    with running_sim("--preset", "fast", "--allow-faults", "--token-interval-ms", "1") as sim:
        yield sim


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("http500", S.ErrorKind.HTTP_5XX),
        ("drop-mid-stream", S.ErrorKind.STREAM_ERROR),
        ("garbage-sse", S.ErrorKind.STREAM_ERROR),
        ("stall", S.ErrorKind.TIMEOUT),
    ],
)
def test_fault_becomes_error_rows(fault_sim: Sim, tmp_path: Path, fault: str, kind: str) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=2, calls=2, child=False, think_s=(0.01,)))
    result = replay(
        tmp_path / "p.arrow",
        fault_sim.url,
        tmp_path / "o.arrow",
        headers=(("X-Sim-Fault", fault),),
        timeout=0.5,
    )
    rows = result.frame
    assert rows.height == 4  # every call yields a row, no retries
    assert (rows[S.STATUS] == "error").all()
    assert (rows[S.ERROR_KIND] == kind).all(), rows[S.ERROR].to_list()
    assert result.metadata[S.META_COMPLETE.decode()] == "true"
    diagnostics = json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])
    assert diagnostics["errors"] == {kind: 4}


def test_connect_error(tmp_path: Path) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=1, calls=2, child=False, think_s=(0.01,)))
    result = replay(tmp_path / "p.arrow", "http://127.0.0.1:9", tmp_path / "o.arrow", timeout=2.0)
    assert result.frame[S.ERROR_KIND].to_list() == [S.ErrorKind.CONNECT] * 2


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_other_transports_classify_faults(fault_sim: Sim, tmp_path: Path, transport: str) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=4, calls=1, child=False))
    kinds = {}
    for fault in ("http500", "drop-mid-stream", "garbage-sse", "stall", None):
        headers = () if fault is None else (("X-Sim-Fault", fault),)
        result = replay(
            tmp_path / "p.arrow",
            fault_sim.url,
            tmp_path / f"o-{fault}.arrow",
            headers=headers,
            timeout=0.5,
            transport=TransportChoice(transport),
            max_sessions=1,
        )
        kinds[fault] = result.frame[S.ERROR_KIND][0]
    assert kinds == {
        "http500": S.ErrorKind.HTTP_5XX,
        "drop-mid-stream": S.ErrorKind.STREAM_ERROR,
        "garbage-sse": S.ErrorKind.STREAM_ERROR,
        "stall": S.ErrorKind.TIMEOUT,
        None: None,
    }
