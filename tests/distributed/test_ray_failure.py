"""A replay actor killed mid-run: reported in the summary and the diagnostics, never hidden;
its rows received before the kill are kept, the other actor finishes its shard."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import ray

from agentload.base.errors import ConfigError
from agentload.replay.config import ReplayConfig
from agentload.replay.distributed import run_on_ray
from agentload.replay.distributed.driver import live_stream_path
from agentload.replay.distributed.shard import shard_of
from agentload.replay.distributed.tail import FileTail, StreamDecoder
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

SHAPE = Shape(sessions=8, calls=16, think_s=(0.3, 0.4, 0.2, 0.5))  # ~6 s per session
KILL_TIMEOUT_S = 90.0


def _kill_after_first_rows(stream: Path, victim: int, killed: list[str]) -> None:
    """Wait until the driver has streamed a row of `victim`, then kill that actor."""
    tail, decoder = FileTail(stream), StreamDecoder()
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        rows = decoder.feed(tail.read_new())
        if rows is not None and victim in rows.column(S.WORKER).to_pylist():
            assert decoder.schema is not None
            info = json.loads(decoder.schema.metadata[S.META_INFO])
            name = f"agentload-replay-{info['ray']['run_id']}-w{victim}"
            ray.kill(ray.get_actor(name), no_restart=True)
            killed.append(name)
            return
        time.sleep(0.05)


def test_killed_actor_shows_up_in_summary(
    ray_cluster: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "profile.arrow"
    profile = write_profile(source, SHAPE)
    roots = profile.filter(pl.col(S.PARENT_SESSION_ID).is_null())[S.SESSION_ID].unique()
    owner = {r: shard_of(r, 2) for r in roots}
    victim = Counter(owner.values()).most_common(1)[0][0]
    out = tmp_path / "ray.arrow"
    killed: list[str] = []
    killer = threading.Thread(
        target=_kill_after_first_rows, args=(live_stream_path(out), victim, killed)
    )
    with running_sim("--preset", "fast") as sim:
        killer.start()
        result = io.read(run_on_ray(ReplayConfig(source, sim.url, sim.model, out, workers=2)))
        killer.join()
    assert killed, "the test never saw a row of the victim actor"

    assert result.metadata[S.META_COMPLETE.decode()] == "false"
    diagnostics = json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])
    assert diagnostics["ray"]["failed_actors"] == [victim]
    record = diagnostics["ray"]["actors"][victim]
    assert record["status"] == "failed" and record["error"]
    assert any(f"ray actor {victim}" in w for w in diagnostics["warnings"])
    summary = capfd.readouterr().err
    assert "PARTIAL" in summary
    assert f"ray actor {victim}" in summary.replace("\n", " ")

    frame = result.frame
    survivor_sessions = [r for r, w in owner.items() if w != victim]
    # a root's parent is null: without fill_null, `~family` would drop the victim's roots
    family = pl.col(S.SESSION_ID).is_in(survivor_sessions) | pl.col(S.PARENT_SESSION_ID).is_in(
        survivor_sessions
    ).fill_null(False)
    survivor = frame.filter(pl.col(S.WORKER) != victim)
    assert survivor.height == profile.filter(family).height  # finished its whole shard
    assert (survivor[S.STATUS] == "ok").all()
    lost = frame.filter(pl.col(S.WORKER) == victim)
    assert 0 < lost.height < profile.filter(~family).height  # kept what it sent, not more
    assert lost.height == record["rows"]


def test_more_actors_than_cluster_cpus_is_a_config_error(ray_cluster: None, tmp_path: Path) -> None:
    source = tmp_path / "profile.arrow"
    write_profile(source, Shape(sessions=2))
    out = tmp_path / "out.arrow"
    # no target on :9 (and no preflight): the cluster's size is checked first
    config = ReplayConfig(source, "http://127.0.0.1:9", "m", out, workers=3, preflight=False)
    with pytest.raises(ConfigError, match=r"--workers 3: the Ray cluster has 2 CPUs, 3 needed"):
        run_on_ray(config)
    assert not list(tmp_path.glob("out.arrow*"))  # nothing left behind


def _interrupt_after_first_rows(stream: Path, sent: list[bool]) -> None:
    """SIGINT this process (the driver) once merged rows have reached its stream file."""
    tail, decoder = FileTail(stream), StreamDecoder()
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        if decoder.feed(tail.read_new()) is not None:
            os.kill(os.getpid(), signal.SIGINT)
            sent.append(True)
            return
        time.sleep(0.05)


def test_sigint_stops_every_actor_and_keeps_a_partial_file(
    ray_cluster: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "profile.arrow"
    profile = write_profile(source, SHAPE)
    out = tmp_path / "ray.arrow"
    sent: list[bool] = []
    watcher = threading.Thread(
        target=_interrupt_after_first_rows, args=(live_stream_path(out), sent)
    )
    with running_sim("--preset", "fast") as sim:
        watcher.start()
        result = io.read(run_on_ray(ReplayConfig(source, sim.url, sim.model, out, workers=2)))
        watcher.join()
    assert sent
    assert result.metadata[S.META_COMPLETE.decode()] == "false"
    diagnostics = json.loads(result.metadata[S.META_DIAGNOSTICS.decode()])
    assert [a["status"] for a in diagnostics["ray"]["actors"]] == ["done", "done"]
    assert 0 < result.frame.height < profile.height
    assert "PARTIAL" in capfd.readouterr().err
    assert not live_stream_path(out).exists()
