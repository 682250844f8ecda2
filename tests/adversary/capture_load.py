"""Capture under load and stops: SIGKILL and SIGTERM with clients sending, rotation, a
full disk, the output folder removed, a kill during compaction. Each starts its own proxy."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agentload.base.errors import AgentloadError
from agentload.traceformat import io
from tests.adversary.harness import SIGINT, SIGKILL, SIGTERM, Verdict, broke, held, run
from tests.adversary.resources import Resources
from tests.adversary.spec import Scenario, Special, fixed
from tests.capture.proxyhelper import Proxy, running_capture

MARGIN_S = 1.0  # rows flush every 0.5 s; a call ended this long before a kill is on disk


@dataclass
class Clients:
    """`n` threads sending calls in a loop until stopped; the end times of finished calls."""

    url: str
    n: int
    prompt_bytes: int = 200
    stream: bool = True
    ends: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def _loop(self, i: int) -> None:
        body = {
            "model": "agentload-sim",
            "max_tokens": 8,
            "stream": self.stream,
            "messages": [{"role": "user", "content": "w " * (self.prompt_bytes // 2)}],
        }
        with httpx.Client(base_url=self.url, timeout=30) as c:
            while not self.stop.is_set():
                try:
                    r = c.post("/v1/chat/completions", json=body, headers={"X-Session-ID": f"c{i}"})
                    if r.status_code == 200:
                        self.ends.append(time.monotonic())
                except httpx.HTTPError:
                    time.sleep(0.05)

    def __enter__(self) -> Clients:
        for i in range(self.n):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(35)


def rows_on_disk(out: Path) -> tuple[int, list[str]]:
    """Rows in every trace file under `out`; the files that could not be read."""
    rows, unreadable = 0, []
    for p in sorted(out.glob("trace-*.arrow")):
        try:
            rows += io.read(p).frame.height
        except AgentloadError as exc:
            unreadable.append(f"{p.name}: {exc}")
    return rows, unreadable


def killed_under_load(
    secs: float, sig: int, *extra: str, prompt: int = 200, stream: bool = True, clients: int = 4
) -> Scenario:
    """Clients loop for `secs`, the proxy gets `sig`: every file readable, and at least the
    calls that ended MARGIN_S before the signal are rows."""

    def check(res: Resources) -> Verdict:
        out = res.work.out(f"kill-{time.monotonic_ns()}")
        with (
            running_capture(res.sim(), out, *extra) as proxy,
            Clients(proxy.url, clients, prompt, stream) as load,
        ):
            time.sleep(secs)
            at = time.monotonic()
            proxy.proc.send_signal(sig)
            proxy.proc.wait(30)
        before = sum(1 for t in load.ends if t < at - MARGIN_S)
        rows, unreadable = rows_on_disk(out)
        if unreadable or rows < before:
            return broke(f"{rows} rows for {before} calls; unreadable {unreadable}")
        return held(f"{rows} rows >= {before} calls ended {MARGIN_S} s before the signal")

    return check


def outdir_removed(res: Resources) -> Verdict:
    """H2: the output folder removed mid-run: noticed, a new file written, the loss said."""
    out = res.work.out("3/cap")
    with running_capture(res.sim(), out) as proxy, Clients(proxy.url, 3) as load:
        time.sleep(3)
        shutil.rmtree(out)
        removed_at = time.monotonic()
        time.sleep(4)
        proxy.proc.send_signal(SIGINT)
        proxy.proc.wait(30)
    after = sum(1 for t in load.ends if t > removed_at + MARGIN_S)
    rows, unreadable = rows_on_disk(out) if out.exists() else (0, [])
    said = "".join(proxy.output)
    if rows == 0 or unreadable or "lost" not in said + "dropped":
        return broke(f"{rows} rows on disk after removal ({after} calls); unreadable {unreadable}")
    return held(f"{rows} rows in a new file for {after} calls after the removal")


def sigterm_inflight(res: Resources) -> Verdict:
    """H9: SIGTERM with 3 slow streams in flight: a clean stop, the calls recorded (partial)."""
    out = res.work.out("41/cap")
    with running_capture(res.slow_sim(), out, "--stop-grace", "1") as proxy:
        body = {
            "model": "agentload-sim",
            "prompt": "hi",
            "max_tokens": 300,
            "stream": True,
            "ignore_eos": True,
        }
        threads = [
            threading.Thread(target=_swallow, args=(proxy.url, body), daemon=True) for _ in range(3)
        ]
        for t in threads:
            t.start()
        time.sleep(2)
        proxy.proc.send_signal(SIGTERM)
        proxy.proc.wait(30)
    said = "".join(proxy.output)
    rows, unreadable = rows_on_disk(out)
    if "Traceback" in said or "CancelledError" in said or rows != 3 or unreadable:
        return broke(f"{rows} rows, unreadable {unreadable}; {said[-200:]}")
    return held("3 partial rows, clean stop")


def _swallow(url: str, body: dict[str, Any]) -> None:
    try:
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=30) as r:
            for _ in r.iter_raw():
                pass
    except httpx.HTTPError:
        pass


@dataclass
class DiskFull:
    rows: int
    unreadable: list[str]
    empty_files: list[str]
    ok_calls: int
    resumed: bool
    derive_rc: int | None
    derive_err: str


def disk_full_run(res: Resources) -> DiskFull:
    """M1: capture on a 1 MB tmpfs; clients with 60 KB prompts fill it; a filler is then
    deleted and calls go on; stop; derive every trace file left."""

    def make() -> DiskFull:
        mnt = res.work.root / "full"
        mnt.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
        try:
            return _fill(res, mnt)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], check=False)

    return res._once("disk-full", make)  # type: ignore[no-any-return]


def _fill(res: Resources, mnt: Path) -> DiskFull:
    out = mnt / "traces"
    filler = mnt / "filler"
    filler.write_bytes(b"\0" * 600_000)
    with running_capture(res.sim(), out) as proxy, Clients(proxy.url, 3, 60_000) as load:
        time.sleep(6)
        filler.unlink()
        freed = time.monotonic()
        time.sleep(6)
        proxy.proc.send_signal(SIGINT)
        proxy.proc.wait(30)
    files = sorted(out.glob("trace-*.arrow"))
    empty = [p.name for p in files if p.stat().st_size == 0]
    rows, unreadable = rows_on_disk(out)
    copy = res.work.out("disk-full-traces")
    shutil.copytree(out, copy, dirs_exist_ok=True)
    args = [
        "profile",
        "derive",
        *map(str, sorted(copy.glob("trace-*.arrow"))),
        "--out",
        str(res.work.out("disk-full-profiles")),
    ]
    o = run(res.work, args)
    resumed = any(p.stat().st_mtime > time.time() - (time.monotonic() - freed) for p in files)
    return DiskFull(rows, unreadable, empty, len(load.ends), resumed, o.rc, o.err[-300:])


def disk_full(judge: Callable[[DiskFull], Verdict]) -> Scenario:
    return lambda res: judge(disk_full_run(res))


def _traffic_held(d: DiskFull) -> Verdict:
    return held(f"{d.ok_calls} calls ok") if d.ok_calls > 0 else broke("no call got through")


def _resumed(d: DiskFull) -> Verdict:
    if d.rows == 0 or not d.resumed:
        return broke(f"{d.rows} rows; written to after the space was freed: {d.resumed}")
    return held(f"{d.rows} rows; recording resumed")


def _derive(d: DiskFull) -> Verdict:
    if d.empty_files:
        return broke(f"0-byte files left: {d.empty_files}")
    if d.derive_rc != 0:
        return broke(f"derive exit {d.derive_rc}: {d.derive_err}")
    return held(f"derive of {d.rows} rows ok, no empty file")


def kill_during_compaction(delay: float) -> Scenario:
    """SIGTERM (compaction starts) then SIGKILL `delay` s later: all rows still readable."""

    def check(res: Resources) -> Verdict:
        out = res.work.out(f"compact-{delay}")
        with running_capture(res.sim(), out) as proxy, Clients(proxy.url, 3, 300_000) as load:
            time.sleep(6)
        ended = len(load.ends)
        proxy.proc.send_signal(SIGTERM)
        time.sleep(delay)
        proxy.proc.send_signal(SIGKILL)
        proxy.proc.wait(10)
        rows, unreadable = rows_on_disk(out)
        if unreadable or rows < ended:
            return broke(f"{rows} rows of {ended} calls; unreadable {unreadable}")
        return held(f"{rows} rows of {ended} calls")

    return check


SHORT = "clients for 4 s instead of 8-10 s (a shorter run)"
SPECIALS: tuple[Special, ...] = (
    Special(
        "capture-outdir-removed-midrun",
        fixed(outdir_removed),
        "3 s before and 4 s after the removal instead of 7 s and 7 s",
        alone=True,
    ),
    Special(
        "capture-sigterm-inflight-streams",
        fixed(sigterm_inflight),
        "40 ms per token instead of 20 (the run's slow sim); --stop-grace 1",
    ),
    Special("capture-sigkill-stream", fixed(killed_under_load(4, SIGKILL)), SHORT, True),
    Special(
        "capture-sigkill-nonstream",
        fixed(killed_under_load(4, SIGKILL, stream=False)),
        SHORT,
        True,
    ),
    Special(
        "capture-sigkill-rotating",
        fixed(killed_under_load(4, SIGKILL, "--rotate-mb", "1", prompt=50_000)),
        SHORT,
        True,
    ),
    Special(
        "capture-sigkill-rotation-bigprompts",
        fixed(killed_under_load(5, SIGKILL, "--rotate-mb", "1", prompt=200_000, clients=3)),
        SHORT,
        True,
    ),
    Special(
        "capture-sigterm-rotation-bigprompts",
        fixed(killed_under_load(5, SIGTERM, "--rotate-mb", "1", prompt=200_000, clients=3)),
        SHORT,
        True,
    ),
    Special(
        "capture-disk-full-traffic",
        fixed(disk_full(_traffic_held)),
        "6 s full, then 6 s freed (one run shared by the three disk-full rows)",
        True,
    ),
    Special(
        "capture-disk-full-then-freed",
        fixed(disk_full(_resumed)),
        "6 s full, then 6 s freed (one run shared by the three disk-full rows)",
        True,
    ),
    Special(
        "capture-disk-full-leftovers-break-derive",
        fixed(disk_full(_derive)),
        "6 s full, then 6 s freed (one run shared by the three disk-full rows)",
        True,
    ),
    Special(
        r"capture-kill-during-compaction-(0\.\d+)",
        lambda row, m: kill_during_compaction(float(m[1])),
        "300 KB prompts for 6 s instead of 20 s",
        True,
    ),
)
_ = Proxy
