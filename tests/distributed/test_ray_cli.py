"""`agentload replay ... --ray ADDRESS` reaches run_on_ray through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentload.traceformat import io
from agentload.traceformat import schema as S
from tests.replay.workloads import Shape, write_profile
from tests.simhelper import running_sim

AGENTLOAD = str(Path(sys.executable).parent / "agentload")


def test_cli_ray_option_runs_actors_on_the_cluster(ray_cluster: None, tmp_path: Path) -> None:
    source = tmp_path / "profile.arrow"
    profile = write_profile(source, Shape(sessions=4, calls=3))
    out = tmp_path / "ray.arrow"
    with running_sim("--preset", "fast") as sim:
        proc = subprocess.run(
            [AGENTLOAD, "replay", str(source), "--ray", "auto", "--workers", "1",
             "--target", sim.url, "--model", sim.model, "--out", str(out), "--quiet"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = io.read(out, S.Kind.RESULT)
    assert loaded.metadata[S.META_COMPLETE.decode()] == "true"
    assert loaded.frame.height == profile.height
    assert loaded.frame[S.NODE].null_count() == 0  # rows came back through a Ray actor
    assert "ray" in loaded.info
