"""Shared sims for the simengine tests (one process per configuration, per session)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simhelper import Sim, running_sim

AGENT_SCRIPT = {
    "turns": [
        {
            "text": "Let me check.",
            "calls": [{"tool": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {"tool": "*"},
    ],
    "final": {"text": "It is sunny in Paris."},
}


@pytest.fixture(scope="session")
def script_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "agent.json"
    path.write_text(json.dumps(AGENT_SCRIPT))
    return path


@pytest.fixture(scope="session")
def fast_sim(tmp_path_factory: pytest.TempPathFactory, script_path: Path) -> Iterator[Sim]:
    """fast preset with an agent script, faults allowed and a timing log."""
    log = tmp_path_factory.mktemp("simlog") / "timing.arrow"
    args = ["--preset", "fast", "--agent-script", str(script_path), "--allow-faults"]
    with running_sim(*args, "--timing-log", str(log)) as sim:
        yield sim


@pytest.fixture(scope="session")
def small_kv_sim() -> Iterator[Sim]:
    """A KV cache of 64 blocks of 16 tokens, to observe eviction."""
    with running_sim(
        "--preset",
        "fast",
        "--kv-capacity-tokens",
        "1024",
        "--block-size",
        "16",
        "--max-model-len",
        "2048",
    ) as sim:
        yield sim
