"""The shared parts of one catalogue run, started on first use and reused by every attempt:
two sims (fast; slow, for signals), the misbehaving servers, a fake upstream, capture
proxies in front of it (plain and --redact-content), finished trace files, a result file."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.adversary import inputs, servers
from tests.adversary.harness import Work, run
from tests.adversary.warm import Pool
from tests.capture.proxyhelper import Proxy, running_capture
from tests.simhelper import running_sim

FAULTS = ("--allow-faults",)
# The slow sim: 40 ms per token, so a 64-token call lasts ~2.6 s and signals land mid-run.
SLOW_SIM = ("--preset", "fast", "--token-interval-ms", "40", *FAULTS)
SLOW_OUTPUT = 64


# Results the note's rows read that no command writes any more: `--warmup nan` is refused
# now (M2), so the 0-row result it left is taken from a run stopped while calibrating.
SUBSTITUTES = {"out/o_warmup-nan.arrow": "out/sig_sigint-chat-calibrating-blackhole.arrow"}


@dataclass
class Resources:
    work: Work
    stack: ExitStack = field(default_factory=ExitStack)
    _made: dict[str, Any] = field(default_factory=dict)
    # One re-entrant lock for every resource being made. Makers call one another (a capture
    # needs the sim, a produced file runs a row that needs another produced file): with a
    # lock per key, two threads each holding one and waiting for the other's deadlocked
    # `make test-fast`. One lock cannot form such a cycle; the cost is that resources are
    # made one at a time (each once), while the attempts that use them still run at once.
    _making: threading.RLock = field(default_factory=threading.RLock)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key in self._made:  # made already: no lock (a dict read is atomic)
            return self._made[key]
        with self._making:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]

    def _enter(self, cm: AbstractContextManager[Any]) -> Any:
        return self.stack.enter_context(cm)

    # --- servers -----------------------------------------------------------------------
    def sim(self) -> str:
        return str(
            self._once("sim", lambda: self._enter(running_sim("--preset", "fast", *FAULTS)).url)
        )

    def slow_sim(self) -> str:
        return str(self._once("slow", lambda: self._enter(running_sim(*SLOW_SIM)).url))

    def bad(self, mode: str) -> str:
        urls = self._once("bad", lambda: self._enter(servers.bad_servers()))
        return str(urls[f"bad-{mode}"])

    def upstream(self) -> tuple[str, dict[str, str]]:
        return self._once("upstream", lambda: self._enter(servers.fake_upstream()))  # type: ignore[no-any-return]

    def proxy(self, redact: bool) -> Proxy:
        """A capture in front of the fake upstream, running for the whole catalogue."""
        key = "proxy-red" if redact else "proxy"
        extra = ("--redact-content",) if redact else ()
        out = self.work.root / f"live-{key}"
        url, _ = self.upstream()
        return self._once(key, lambda: self._enter(running_capture(url, out, *extra)))  # type: ignore[no-any-return]

    def sim_proxy(self) -> Proxy:
        """A capture in front of the fast sim (faults allowed)."""
        out = self.work.root / "live-sim-proxy"
        return self._once("sim-proxy", lambda: self._enter(running_capture(self.sim(), out)))  # type: ignore[no-any-return]

    def readonly_dir(self) -> Path:
        """A read-only tmpfs (L1): root ignores file modes, a read-only mount it cannot."""

        def make() -> Path:
            path = self.work.root / "ro"
            path.mkdir(exist_ok=True)
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
                check=True,
                capture_output=True,
            )
            self.stack.callback(subprocess.run, ["umount", "-l", str(path)], check=False)
            return path

        return self._once("ro", make)  # type: ignore[no-any-return]

    # --- files -------------------------------------------------------------------------
    def base_files(self) -> Path:
        return self._once("files", self._make_files)  # type: ignore[no-any-return]

    def _make_files(self) -> Path:
        files = self.work.files
        files.mkdir(parents=True, exist_ok=True)
        inputs.profile(files / "small.arrow", inputs.small_rows())
        inputs.profile(files / "slow.arrow", inputs.small_rows(out=SLOW_OUTPUT))
        inputs.profile(
            files / "small2.arrow",
            [
                r
                for r in inputs.small_rows()
                if r["session_id"] in ("s0", "s1") and r["call_index"] < 2
            ],
        )
        inputs.write_jsonl(files)
        return files

    def file(self, name: str) -> Path:
        files = self.base_files()
        if name == "res.arrow" or name.startswith("resflip") or name.startswith("rtrunc"):
            self.result()
        return self._once(f"file:{name}", lambda: _make(files, name))  # type: ignore[no-any-return]

    def produced(self, word: str) -> str | None:
        """An input `out/NAME` that another row's command writes: that row is run once
        (its own verdict aside) and its output's path returned; None for other words."""
        if not word.startswith("out/") or word.count("/") != 1:
            return None
        name = SUBSTITUTES.get(word, word)
        row = _producer(name)
        if row is None:
            return None

        def make() -> str:
            from tests.adversary.families import attempt_for

            attempt_for(row).run(self)
            return f"out/{row.id}/{name.removeprefix('out/')}"

        return str(self._once(f"produced:{name}", make))

    def result(self) -> Path:
        """files/res.arrow: small.arrow replayed on the fast sim by the real CLI."""

        def make() -> Path:
            path = self.base_files() / "res.arrow"
            o = run(
                self.work,
                [
                    "replay",
                    "files/small.arrow",
                    "--target",
                    self.sim(),
                    "--model",
                    "agentload-sim",
                    "--quiet",
                    "--speed",
                    "10",
                    "--out",
                    str(path),
                ],
            )
            if o.rc != 0:
                raise RuntimeError(f"could not make res.arrow: {o.brief()}")
            return path

        return self._once("res", make)  # type: ignore[no-any-return]

    def trace(self, redact: bool) -> Path:
        """A finished trace (cap_fake / cap_red): four calls through a capture that then
        stopped, one of them with a body that is not JSON."""
        key = "cap_red" if redact else "cap_fake"
        return self._once(key, lambda: self._make_trace(key, redact))  # type: ignore[no-any-return]

    def _make_trace(self, key: str, redact: bool) -> Path:
        url, _ = self.upstream()
        out = self.work.root / key
        extra = ("--redact-content",) if redact else ()
        with running_capture(url, out, *extra) as proxy:
            chat = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
            for scenario in ("json-plain", "sse-plain", "json-plain"):
                body = {**chat, "stream": scenario.startswith("sse")}
                httpx.post(
                    proxy.url + "/v1/chat/completions",
                    json=body,
                    timeout=30,
                    headers={"X-Scenario": scenario, "X-Session-ID": "t1"},
                )
            if not redact:
                httpx.post(proxy.url + "/v1/chat/completions", content=b"not json", timeout=30)
        found = sorted(out.glob("trace-*.arrow"))
        if not found:
            raise RuntimeError(f"capture wrote no trace file under {out}")
        return found[0]


def _producer(word: str) -> Any:
    """The catalogue row whose command writes `out/NAME` (its --out), if any."""
    from tests.adversary.catalogue_rows import load

    made_by = {"out/k9.arrow.part0.arrows": 452}  # written by a scenario, not a --out
    for row in load():
        if made_by.get(word) == row.id:
            return row
        if f"--out {word} " in row.command + " " or f"--out {word};" in row.command:
            return row
    return None


def _make(files: Path, name: str) -> Path:
    path = files / name
    if path.exists():
        return path
    try:
        return inputs.damaged(files, name)
    except KeyError:
        return inputs.profile_variant(files, name)


@contextmanager
def resources(root: Path, warm: bool = True) -> Iterator[Resources]:
    res = Resources(Work(root, Pool() if warm else None))
    with res.stack:
        if res.work.warm is not None:
            res.stack.callback(res.work.warm.close)
        yield res
