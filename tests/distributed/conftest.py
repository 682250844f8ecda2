"""A small local Ray cluster shared by the distributed tests (started once per session).

Two CPUs and a 200 MB object store: enough for two replay actors, small enough to share
the machine with the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from agentload.replay.distributed.connect import LOCAL_SYSTEM_CONFIG

START_ATTEMPTS = 3


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
