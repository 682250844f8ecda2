"""Keys under --ray: the actors send the key (the config travels pickled, the key with it)
and the driver's /metrics scraper sends it too, against a sim that requires it everywhere;
the merged result file holds no trace of it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from agentload.replay.config import ReplayConfig
from agentload.replay.distributed import run_on_ray
from agentload.replay.keys import resolve_keys
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.test_secrets import decoded_result
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

KEY = f"sk-ray-canary-{secrets.token_hex(16)}"


def test_ray_actors_and_scraper_send_the_key(
    ray_cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "profile.arrow"
    # think times of a second: the run lasts several of the scraper's 1-s polls
    write_profile(source, Shape(sessions=6, calls=3, think_s=(1.0, 1.0, 1.0), child=False))
    monkeypatch.setenv("AGENTLOAD_SIM_API_KEY", KEY)
    with running_sim("--preset", "fast") as sim:
        config = ReplayConfig(
            source, sim.url, sim.model, tmp_path / "ray.arrow", workers=2, quiet=True,
            scrape_metrics=True, api_keys=resolve_keys(KEY, {}),
        )  # fmt: skip
        path = run_on_ray(config, None)
    loaded = io.read(path)
    assert (loaded.frame[S.STATUS] == "ok").all(), loaded.frame[S.ERROR].to_list()
    assert set(loaded.frame[S.WORKER].to_list()) == {0, 1}
    samples = json.loads(loaded.metadata[S.META_ENGINE_METRICS.decode()])
    assert samples, "the sim answers /metrics only with the key: no sample, no key sent"
    assert KEY.encode() not in decoded_result(path)
