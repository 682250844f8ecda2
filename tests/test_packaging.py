"""agentload installs under one name: the built wheel goes into a fresh venv that already
holds PyPI's `replay` and stub distributions owning the other generic top-level names our
folders have, and everything still imports, each module under one name only, and
`agentload demo` runs."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"
CLASHING = ("base", "capture", "simengine", "profiles", "traceformat", "analysis", "providers")


def _declared() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"])


def test_the_package_list_names_every_folder() -> None:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: Path(path) for name, path in mapping["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    # agentload/ is mapped too, so its own walk would list the mapped folders' names twice
    assert _declared() == {f for f in found if not f.startswith("agentload.agentload")}


def _stub_wheel(out: Path, name: str) -> Path:
    """A minimal wheel of distribution `stub-NAME` owning the top-level package NAME."""
    dist = f"stub_{name}-1.0"
    files = {
        f"{name}/__init__.py": f"STUB = {name!r}\n".encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: stub-{name}\nVersion: 1.0\n".encode()
        ),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    wheel = out / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


CHECK = """
import importlib, pkgutil, sys
import replay, base, capture, simengine, profiles, traceformat, analysis, providers
assert not hasattr(replay, "STUB") and "site-packages" in replay.__file__, replay.__file__
for name in ("base", "capture", "simengine", "profiles", "traceformat", "analysis", "providers"):
    assert sys.modules[name].STUB == name, name
import agentload
count = 0
for info in pkgutil.walk_packages(agentload.__path__, "agentload."):
    if info.name.startswith("agentload.replay.distributed"):
        continue  # needs the ray extra
    importlib.import_module(info.name)
    count += 1
files = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and "agentload" in path:
        assert name.startswith("agentload"), (name, path)
        assert files.setdefault(path, name) == name, (path, files[path], name)
print(count)
"""


@pytest.mark.slow
def test_wheel_installs_beside_pypi_replay_and_clashing_names(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([str(UV), "build", "--wheel", "--out-dir", str(dist), str(ROOT)], ROOT)
    (wheel,) = dist.glob("agentload-*.whl")
    venv = tmp_path / "venv"
    py = venv / "bin" / "python"
    _run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], tmp_path)
    stubs = [str(_stub_wheel(tmp_path, name)) for name in CLASHING]
    install = [str(UV), "pip", "install", "-q", "--python", str(py)]
    _run([*install, "replay==0.1.2", *stubs], tmp_path)
    _run([*install, str(wheel), "-c", str(ROOT / "requirements.lock")], tmp_path)
    imported = int(_run([str(py), "-c", CHECK], tmp_path).strip())
    assert imported > 100  # every module of the package, not a handful
    out = tmp_path / "demo"
    demo = [str(venv / "bin" / "agentload"), "demo", "--preset", "fast", "--out", str(out)]
    _run([*demo, "--concurrency", "2"], tmp_path)
    assert (out / "index.html").exists() and (out / "compare.html").exists()
