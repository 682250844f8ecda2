"""A run that cannot hold its connections is refused before it starts, in one line."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from agentload.base import oslimits
from agentload.base.errors import EXIT_UNFAITHFUL, UnfaithfulRunError
from agentload.replay import headroom
from agentload.replay.config import ReplayConfig
from tests.replay.workloads import Shape, write_profile


def _config(tmp_path: Path, **kw: object) -> ReplayConfig:
    return ReplayConfig(
        source=tmp_path / "p.arrow",
        target="http://127.0.0.1:1",
        model="m",
        out=tmp_path / "o.arrow",
        **kw,  # type: ignore[arg-type]
    )


def test_pool_sizes(tmp_path: Path) -> None:
    config = _config(tmp_path, concurrency=10_001, workers=2)
    assert [headroom.pool_size(config, w) for w in (0, 1)] == [5001, 5000]
    assert headroom.pool_size(_config(tmp_path), 0) == headroom.OPEN_LOOP_POOL


def test_too_few_ports_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oslimits, "ephemeral_ports", lambda: 100)
    monkeypatch.setattr(oslimits, "nofile", lambda: 1 << 20)
    with pytest.raises(UnfaithfulRunError, match=r"needs 200 local ports .* kernel hands out 100"):
        headroom.check(_config(tmp_path, concurrency=200))
    headroom.check(_config(tmp_path, concurrency=100))


def _low_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_too_few_files_exits_3_before_sending(tmp_path: Path) -> None:
    """A hard open-file limit of 256 against --concurrency 1000: exit 3, one line naming the
    limit and how to raise it, no result file, and nothing sent (the target is a closed
    port: had the run started, its errors would be connect errors)."""
    source = tmp_path / "p.arrow"
    write_profile(source, Shape(sessions=3, calls=1, child=False))
    out = tmp_path / "o.arrow"
    proc = subprocess.run(
        [sys.executable, "-c", "from agentload.cli import main; main()", "replay", str(source),
         "--target", "http://127.0.0.1:9", "--model", "m", "--concurrency", "1000",
         "--out", str(out)],
        capture_output=True, text=True, preexec_fn=_low_limit, timeout=120,
    )  # fmt: skip
    assert proc.returncode == EXIT_UNFAITHFUL, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: --concurrency 1,000 needs about 1,064 open files per client process, above "
        "its open-file limit 256: raise the hard limit (ulimit -Hn 1064; systemd LimitNOFILE=; "
        "/etc/security/limits.conf) or use more --workers"
    ], proc.stderr
    assert not out.exists()
