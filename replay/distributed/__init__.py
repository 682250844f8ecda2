"""Replay across many machines on an existing Ray cluster (extra `agentload[ray]`).

`run_on_ray(config, address)` is the entry point; `ray` is imported only when it is called,
so the rest of replay works without the extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentload.replay.config import ReplayConfig

__all__ = ["run_on_ray"]


def run_on_ray(config: ReplayConfig, address: str | None = None) -> Path:
    """Replay `config` across `config.workers` Ray actors; see `replay.distributed.driver`."""
    from agentload.replay.distributed.driver import run_on_ray as run

    return run(config, address)
