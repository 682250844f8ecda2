"""Inter-token latency stays accurate at concurrency 64 (the client does not saturate)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from agentload.analysis import itl_samples
from agentload.traceformat import schema as S
from tests.replay.conftest import replay
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim


@pytest.mark.slow
def test_itl_p50_at_concurrency_64(tmp_path: Path) -> None:
    write_profile(
        tmp_path / "p.arrow",
        Shape(sessions=64, calls=2, child=False, think_s=(0.01,), outputs=(120,)),
    )
    log = tmp_path / "timing.arrow"
    with running_sim(
        "--preset", "fast", "--token-interval-ms", "2", "--timing-log", str(log)
    ) as sim:
        result = replay(tmp_path / "p.arrow", sim.url, tmp_path / "o.arrow", concurrency=64)
    rows = result.frame
    assert rows.height == 128
    assert (rows[S.STATUS] == "ok").all()
    itl = itl_samples(rows)["itl_ms"]
    # Every token after the first chunk of its request is one gap sample.
    first = rows.select(pl.col(S.CHUNK_TOKENS).list.first().sum()).item()
    assert itl.len() == 128 * 120 - first
    assert rows.select(pl.col(S.CHUNK_TOKENS).list.sum().sum()).item() == 128 * 120
    # The sim's own token spacing: if it fell behind 2 ms (a loaded machine), say so.
    sim_log = pl.read_ipc(log)
    sim_tpot = (
        (sim_log["end_ns"] - sim_log["first_token_ns"]) / (sim_log["completion_tokens"] - 1) / 1e6
    ).median()
    p50 = float(itl.median())  # type: ignore[arg-type]
    assert abs(p50 - 2.0) <= 0.1, f"client ITL p50 {p50:.3f} ms; sim's own TPOT {sim_tpot:.3f} ms"
