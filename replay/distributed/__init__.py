"""Replay across many machines on an existing Ray cluster (extra `agentload[ray]`).

`run_on_ray(config, address)` runs a whole replay there; `ray_workers(config, address)` gives
the run pipeline (`replay.run.replay`) its Ray workers. `ray` is imported only when either
is called, so the rest of replay works without the extra, and only after an explicit
address was found listening, so a wrong one fails at once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from agentload.base.errors import ConfigError
from agentload.replay.distributed.connect import check_address

if TYPE_CHECKING:
    from agentload.replay.backend import Workers
    from agentload.replay.config import ReplayConfig

__all__ = ["ray_workers", "run_on_ray"]


def _require_ray(address: str | None) -> None:
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--ray needs the ray extra: pip install 'agentload[ray]'")
    check_address(address)


def ray_workers(config: ReplayConfig, address: str | None = None) -> Workers:
    """The run's workers as `config.workers` actors on the cluster at `address`."""
    _require_ray(address)
    from agentload.replay.distributed.driver import RayWorkers

    return RayWorkers(config, address)


def run_on_ray(config: ReplayConfig, address: str | None = None) -> Path:
    """Replay `config` across `config.workers` Ray actors; see `replay.distributed.driver`."""
    _require_ray(address)
    from agentload.replay.distributed.driver import run_on_ray as run

    return run(config, address)
