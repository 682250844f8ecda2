"""Fixtures for the real-engine tier: one engine process for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.engines import Engine, EngineUnavailable, running_engine


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """llama-server (or vLLM with AGENTLOAD_ENGINE=vllm) on a free 127.0.0.1 port.

    A missing build fails the tests ("run make engine"): this tier is part of the default
    suite, so it must never pass by skipping.
    """
    problem = None
    try:
        with running_engine(tmp_path_factory.mktemp("engine")) as eng:
            yield eng
    except EngineUnavailable as exc:
        problem = str(exc)
    if problem is not None:  # outside the except block: no chained traceback noise
        pytest.fail(problem, pytrace=False)
