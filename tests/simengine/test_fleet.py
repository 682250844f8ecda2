"""Fleet scale: the sim's accept delay is the kernel's, and long prompts leave the loop free."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import polars as pl
import pyarrow.ipc as ipc
import pytest

from agentload.simengine import accept, tokenizer
from agentload.simengine import timinglog as tl
from agentload.simengine.gate import WorkGate
from tests.simhelper import running_sim


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> socket.socket:
        return self.sock


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="Linux TCP_INFO")
def test_accept_delay_is_the_time_in_the_accept_queue() -> None:
    listener = accept.listen_socket("127.0.0.1", 0)
    listener.setblocking(True)
    client = socket.create_connection(listener.getsockname())
    client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # data does not restart the clock
    time.sleep(0.3)  # the referee: the connection waits unaccepted this long at least
    assert accept.queue_length(listener) == 1
    conn, _ = listener.accept()
    stats = accept.AcceptStats()
    stats.accepted(conn)
    assert 0.29 <= stats.max_s < 5.0  # preemption can only lengthen it
    assert stats.take(_Transport(conn)) is not None
    assert stats.take(_Transport(conn)) is None  # the first request only
    assert stats.counts[accept.BUCKETS.index(0.5)] == 1
    for s in (conn, client, listener):
        s.close()


def _spin(cpu_s: float) -> int:
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass
    return 1


def test_gate_slices_a_burst_of_heavy_requests() -> None:
    """100 requests of 3 ms CPU each, all ready at once: between two turns of a ticker the
    loop spends at most about one budget (5 ms) on them, judged in thread CPU time (which
    preemption by other processes does not stretch), instead of all 300 ms in one turn."""

    async def main() -> tuple[float, list[int]]:
        gate = WorkGate(budget_s=0.005)
        worst = 0.0
        done = False

        async def ticker() -> None:
            nonlocal worst
            last = time.thread_time()
            while not done:
                await asyncio.sleep(0)
                now = time.thread_time()
                worst, last = max(worst, now - last), now

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        results = await asyncio.gather(
            *(gate.run(lambda: _spin(0.003), lambda _: None) for _ in range(100))
        )
        done = True
        await tick
        return worst, results

    worst, results = asyncio.run(main())
    assert results == [1] * 100
    assert worst < 0.030, f"the loop was held for {worst * 1e3:.0f} ms of CPU"


def test_gate_passes_errors_and_undoes_orphans() -> None:
    async def main() -> list[int]:
        gate = WorkGate(budget_s=0.0)  # everything queued
        undone: list[int] = []

        def boom() -> int:
            raise ValueError("bad body")

        with pytest.raises(ValueError, match="bad body"):
            await gate.run(boom, undone.append)
        task = asyncio.create_task(gate.run(lambda: 7, undone.append))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the worker has run it; the caller has not resumed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return undone

    assert asyncio.run(main()) in ([7], [])  # [] if the caller resumed before the cancel


def test_timing_log_and_metrics_report_accept_delay(tmp_path: Path) -> None:
    log = tmp_path / "t.arrow"
    body = {"model": "agentload-sim", "prompt": "hello " * 3000, "max_tokens": 3}
    with running_sim("--preset", "fast", "--timing-log", str(log)) as sim:
        with httpx.Client() as client:  # one keep-alive connection, two requests
            for _ in range(2):
                assert client.post(sim.url + "/v1/completions", json=body).status_code == 200
        metrics = httpx.get(sim.url + "/metrics").text
    assert 'agentload_sim:accept_delay_seconds_bucket{model_name="agentload-sim",le="+Inf"}' in (
        metrics
    )
    assert "agentload_sim:accept_queue{" in metrics and "agentload_sim:prepare_queue{" in metrics
    rows = ipc.open_file(str(log)).read_all().to_pylist()
    delays = [r[tl.ACCEPT_DELAY_NS] for r in rows]
    assert delays[0] is not None and 0 <= delays[0] < 5e9
    assert delays[1] is None  # same connection: accepted once


async def _post(port: int, body: bytes) -> float:
    """Send one streamed request; the client's connect time (monotonic s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connected = time.monotonic()
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    writer.write(head + b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
    await reader.readuntil(b"0\r\n\r\n")
    writer.close()
    return connected


def _body(tokens: int) -> bytes:
    prompt = "".join(tokenizer.id_piece(i % tokenizer.UPPER_BASE) for i in range(tokens))
    return json.dumps(
        {"model": "agentload-sim", "prompt": prompt, "max_tokens": 20, "stream": True}
    ).encode()


def test_connections_arriving_during_a_backlog_are_accepted_at_once(tmp_path: Path) -> None:
    """150 requests of 20,000 tokens (a backlog of seconds of sim CPU), then 40 small ones:
    the small ones are accepted long before the backlog is worked off. uvloop's own server
    accepted one connection per loop turn, so they waited about as long as the backlog.
    Referee: the sim's handler start of each small request minus the client's connect."""
    log = tmp_path / "t.arrow"
    heavy, light = _body(20_000), _body(50)
    with running_sim("--preset", "fast", "--timing-log", str(log)) as sim:
        port = int(sim.url.rsplit(":", 1)[1])

        async def main() -> list[float]:
            first = [asyncio.create_task(_post(port, heavy)) for _ in range(150)]
            await asyncio.sleep(0.3)
            late = await asyncio.gather(*(_post(port, light) for _ in range(40)))
            await asyncio.gather(*first)
            return late

        connects = asyncio.run(main())
    rows = pl.read_ipc(log)
    big = rows.filter(pl.col(tl.PROMPT_TOKENS) > 10_000)
    small = rows.filter(pl.col(tl.PROMPT_TOKENS) < 1_000)
    backlog_s: float = (
        big.select(pl.col(tl.END_NS).max() - pl.col(tl.ARRIVAL_NS).min()).item() / 1e9
    )
    waited_s: float = small.select(pl.col(tl.ACCEPT_DELAY_NS).max()).item() / 1e9
    referee_s: float = small.select(pl.col(tl.ARRIVAL_NS).max()).item() / 1e9 - max(connects)
    assert small.height == 40
    assert waited_s < 0.15 * backlog_s, (waited_s, backlog_s)
    assert referee_s < 0.15 * backlog_s, (referee_s, backlog_s)
