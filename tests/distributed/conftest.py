"""A small local Ray cluster shared by the distributed tests (started once per session).

Two CPUs and a 200 MB object store: enough for two replay actors, small enough to share
the machine with the rest of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
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
    )
    try:
        yield
    finally:
        ray.shutdown()
