"""Engine faults become error rows; the run completes and counts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentload.replay.config import TransportChoice
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import Sim, running_sim


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
        preflight=False,  # the client's handling of faults, not the preflight's
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
    result = replay(
        tmp_path / "p.arrow", "http://127.0.0.1:9", tmp_path / "o.arrow", timeout=2.0,
        preflight=False,  # the client's connect errors; the preflight's: test_preflight.py
    )  # fmt: skip
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
            preflight=False,
        )
        kinds[fault] = result.frame[S.ERROR_KIND][0]
    assert kinds == {
        "http500": S.ErrorKind.HTTP_5XX,
        "drop-mid-stream": S.ErrorKind.STREAM_ERROR,
        "garbage-sse": S.ErrorKind.STREAM_ERROR,
        "stall": S.ErrorKind.TIMEOUT,
        None: None,
    }


@pytest.mark.parametrize("transport", ["raw", "aiohttp", "httpx"])
def test_client_errors_are_http_4xx(fault_sim: Sim, tmp_path: Path, transport: str) -> None:
    """A 404 (a model the target does not serve) and a 400 (a request it rejects) become
    http_4xx rows with the status and the server's message, without retries."""
    write_profile(tmp_path / "p.arrow", Shape(sessions=2, calls=2, child=False, think_s=(0.01,)))
    cases: dict[int, dict[str, Any]] = {
        404: {"model": "no-such-model"},
        # public: a secret header's value would be masked where the server echoes it
        400: {"headers": (("X-Sim-Fault", "no-such-fault"),), "public_headers": ("X-Sim-Fault",)},
    }
    for status, options in cases.items():
        needle = "no-such-model" if status == 404 else "no-such-fault"
        result = replay(
            tmp_path / "p.arrow",
            fault_sim.url,
            tmp_path / f"o{status}.arrow",
            timeout=5.0,
            transport=TransportChoice(transport),
            preflight=False,
            **options,
        )
        rows = result.frame
        assert rows.height == 4, status  # every call yields a row, no retries
        assert rows[S.ERROR_KIND].to_list() == [S.ErrorKind.HTTP_4XX] * 4, rows[S.ERROR].to_list()
        assert rows[S.HTTP_STATUS].to_list() == [status] * 4
        errors = rows[S.ERROR].to_list()
        assert all(e.startswith(f"HTTP {status}: ") and needle in e for e in errors), errors
        assert rows[S.COMPLETION_TOKENS].is_null().all()
        diagnostics = json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])
        assert diagnostics["errors"] == {S.ErrorKind.HTTP_4XX: 4}
