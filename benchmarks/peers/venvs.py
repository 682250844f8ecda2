"""Install each peer, pinned, into its own virtual environment outside the repository.

    .venv/bin/python -m benchmarks.peers.venvs            # install (or reuse) all peers

Environments live in ~/.cache/agentload/peers/<name>-<version> (AGENTLOAD_PEERS_DIR
overrides), created with the same Python 3.12 as .venv (its base interpreter), filled with
`uv pip install NAME==VERSION`. A stamp file marks a finished install; a failed install
keeps its log and is reported with the exact error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS: dict[str, str] = {
    "tokenspeed-trie": "0.1.1.post20260523",
    "aiperf": "0.13.0",
    "guidellm": "0.8.1",
    "inference-perf": "0.7.0",
}
STAMP = ".agentload-installed"


def peers_dir() -> Path:
    default = Path.home() / ".cache" / "agentload" / "peers"
    return Path(os.environ.get("AGENTLOAD_PEERS_DIR", default))


def base_python() -> str:
    """The interpreter .venv was made from (sys._base_executable), else sys.executable."""
    base = getattr(sys, "_base_executable", None)
    return str(base) if base and Path(base).exists() else sys.executable


@dataclass(frozen=True)
class PeerEnv:
    name: str
    version: str
    path: Path
    error: str | None  # the exact install error, None when installed
    commands: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, script: str) -> Path:
        return self.path / "bin" / script

    @property
    def ok(self) -> bool:
        return self.error is None


def _run(argv: list[str], log: Path) -> str | None:
    with log.open("a") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc == 0:
        return None
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    errors = [x for x in lines if "error" in x.lower()]
    return (errors[-1] if errors else lines[-1] if lines else f"exit {rc}").strip()[:500]


def ensure(name: str, version: str | None = None) -> PeerEnv:
    """Install NAME==VERSION into its cached environment unless already there."""
    version = version or PEERS[name]
    path = peers_dir() / f"{name}-{version}"
    uv = str(Path(sys.executable).parent / "uv")
    cmds = (
        f"{uv} venv --python {base_python()} {path}",
        f"{uv} pip install --python {path}/bin/python {name}=={version}",
    )
    if (path / STAMP).exists():
        return PeerEnv(name, version, path, None, cmds)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.parent / f"{name}-{version}.install.log"
    log.write_text("")
    error = _run([uv, "venv", "-q", "--python", base_python(), str(path)], log)
    if error is None:
        error = _run([uv, "pip", "install", "--python", str(path / "bin" / "python"),
                      f"{name}=={version}"], log)  # fmt: skip
    if error is None:
        (path / STAMP).write_text(version)
    return PeerEnv(name, version, path, error, cmds)


def ensure_all() -> dict[str, PeerEnv]:
    return {name: ensure(name, version) for name, version in PEERS.items()}


def main() -> None:
    for env in ensure_all().values():
        state = "ok" if env.ok else f"FAILED: {env.error}"
        print(f"{env.name}=={env.version}: {env.path} {state}")


if __name__ == "__main__":
    main()
