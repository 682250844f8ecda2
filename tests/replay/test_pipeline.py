"""The one run pipeline: whatever the workers are (local processes, Ray actors, a fake
here), the same code builds the scraper with the request headers, writes the file and
its metadata, and honours the stop event."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from agentload.replay import pipeline as run_module
from agentload.replay.config import ApiChoice, ReplayConfig
from agentload.replay.keys import resolve_keys
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.pipeline import RunResult, replay
from agentload.replay.plan import Plan
from agentload.replay.results import read_parts
from agentload.replay.worker import WorkerOutcome
from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile

KEY = ("Authorization", "Bearer sk-test")


class FakeWorkers:
    """Workers that send nothing: they record what the pipeline gave them."""

    def __init__(self, stop_seen: list[bool]) -> None:
        self.stats = [LiveStats()]
        self.stop_seen = stop_seen
        self.cleaned = False

    async def run(
        self,
        plan: Plan,
        materializer: Materializer | None,
        stop: asyncio.Event,
        info: dict[str, object],
    ) -> None:
        self.stop_seen.append(stop.is_set())
        info["fake"] = {"sessions": len(plan.roots)}

    def rows(self) -> pl.DataFrame:
        return read_parts([])

    def outcomes(self) -> list[WorkerOutcome]:
        return [WorkerOutcome(0, 0.0, 0.0, 0, interrupted=False)]

    def judge(self, diagnostics: dict[str, Any]) -> bool:
        diagnostics["fake"] = True
        return True

    def cleanup(self) -> None:
        self.cleaned = True


class RecordingScraper:
    made: ClassVar[list[dict[str, str] | None]] = []

    def __init__(
        self, target: str, period_s: float = 1.0, headers: dict[str, str] | None = None
    ) -> None:
        RecordingScraper.made.append(headers)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def samples(self) -> list[dict[str, object]]:
        return [{"t_ns": 1, "name": "fake:kv_cache_usage", "labels": {}, "value": 0.5}]


@pytest.mark.parametrize("stopped", [False, True])
def test_pipeline_owns_scraper_file_and_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped: bool
) -> None:
    write_profile(tmp_path / "p.arrow", Shape(sessions=3))
    monkeypatch.setattr(run_module, "Scraper", RecordingScraper)
    RecordingScraper.made.clear()
    config = ReplayConfig(
        tmp_path / "p.arrow", "http://127.0.0.1:9", "m", tmp_path / "r.arrow",
        headers=(KEY,), scrape_metrics=True, calibrate=False, quiet=True, preflight=False,
        api=ApiChoice.MESSAGES, api_keys=resolve_keys("sk-metrics-key", {}),
    )  # fmt: skip
    seen: list[bool] = []
    workers = FakeWorkers(seen)

    async def main() -> RunResult:
        stop = asyncio.Event()
        if stopped:
            stop.set()
        return await replay(config, stop, workers)

    result = asyncio.run(main())
    # the run's headers and key reach /metrics (under --ray too: the same code)
    assert RecordingScraper.made == [dict([KEY]) | {"x-api-key": "sk-metrics-key"}]
    assert seen == [stopped] and workers.cleaned
    assert result.interrupted is stopped and result.complete is not stopped
    loaded = io.read(result.path)
    assert loaded.metadata[S.META_COMPLETE.decode()] == ("false" if stopped else "true")
    assert loaded.info["fake"] == {"sessions": 3}
    assert json.loads(loaded.metadata[S.META_DIAGNOSTICS.decode()])["fake"] is True
    assert json.loads(loaded.metadata[S.META_ENGINE_METRICS.decode()])[0]["value"] == 0.5
