"""A small local Ray cluster shared by the distributed tests (started once per session).

Two CPUs and a 200 MB object store: enough for two replay actors, small enough to share
the machine with the rest of the suite.

Tests marked `raycluster` start a multi-node cluster of their own (tests/distributed/
raynodes.py) and take about two minutes on the busy 2-core machine, above what the
default tier affords a module: they run only when selected, with `-m raycluster` or by
naming their file (`pytest tests/distributed/test_ray_two_nodes.py`), and are skipped
with that reason otherwise (`make test` / `test-fast` included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from agentload.replay.distributed.connect import LOCAL_SYSTEM_CONFIG

START_ATTEMPTS = 3
CLUSTER_MARK = "raycluster"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{CLUSTER_MARK}: starts a multi-node Ray cluster on this machine (about 2 min on "
        "a busy 2-core host); runs only with -m raycluster or when its file is named",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CLUSTER_MARK in (config.option.markexpr or ""):
        return
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    skip = pytest.mark.skip(reason=f"multi-node Ray cluster: select with -m {CLUSTER_MARK}")
    for item in items:
        if CLUSTER_MARK in item.keywords and item.path.resolve() not in named:
            item.add_marker(skip)


def _start() -> None:
    ray.init(
        # A cluster of our own even when one was started with `ray start` (which ray.init
        # would attach to): its processes are then descendants of the test process, where
        # the noise probe of tests/timing.py looks.
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        namespace="agentload-tests",
        log_to_driver=False,
        configure_logging=False,
        _system_config=LOCAL_SYSTEM_CONFIG,  # Ray's agent/worker deadlines, for a busy host
    )


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    # Ray waits a fixed 30 s for its raylet to register; on a machine kept busy by other
    # processes (stress-ng --cpu 2 and a second suite) it sometimes needs longer.
    for attempt in range(START_ATTEMPTS):
        try:
            _start()
            break
        except Exception as exc:  # Ray raises a bare Exception for this
            ray.shutdown()
            if "timed out during startup" not in str(exc) or attempt == START_ATTEMPTS - 1:
                raise
    try:
        yield
    finally:
        ray.shutdown()
