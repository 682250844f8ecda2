"""One worker's event loop: admit root sessions, run their calls causally, emit rows.

The scheduler (`replay.schedule`) decides when sessions start; this module is the sender.
Call i+1 of a session is due `think × scale` (capped) after call i's response ended, as an
absolute monotonic deadline; child sessions are due relative to the end of the parent call
that spawned them. Every task is kept in a set and shut down by cancel + await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from time import monotonic_ns
from typing import Any

from agentload.base.pacer import sleep_until
from agentload.providers.api import Api, classify, request_headers
from agentload.replay.client import Request, Row, issue
from agentload.replay.config import ArrivalMode, ReplayConfig
from agentload.replay.live_stats import LiveStats
from agentload.replay.materialize import Materializer
from agentload.replay.plan import CallPlan, Plan, SessionPlan, cycled_id, salt_hash_ids
from agentload.replay.schedule import Admission
from agentload.replay.transport import Transport
from agentload.traceformat import schema as S

# Requests are built this long before they are due (open loop: sessions start this early)
LEAD_NS = 20_000_000


@dataclass(frozen=True)
class RunnerSetup:
    config: ReplayConfig
    plan: Plan
    materializer: Materializer | None  # None for verbatim (trace) sources
    worker: int
    slots: int | None  # closed loop: this worker's share of --concurrency


class Runner:
    def __init__(
        self,
        setup: RunnerSetup,
        transport: Transport,
        emit: Callable[[Row], None],
        stats: LiveStats,
    ) -> None:
        self.setup = setup
        self.config = setup.config
        self.transport = transport
        self._emit_row = emit
        self.stats = stats
        self.epoch_ns = 0
        self.interrupted = False
        self._stopping = False
        self._sessions: set[asyncio.Task[None]] = set()
        self._admit_task: asyncio.Task[None] | None = None
        # per API: its fixed headers and the key as it expects it, built once, not per call
        keys = self.config.api_keys
        self._api_headers = {api: request_headers(api) | keys.headers(api) for api in Api}
        self._redact = self.config.redactor()

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self, admissions: Iterator[Admission], epoch_ns: int) -> None:
        """Run until every admitted session ended (drain) or the run was stopped."""
        self.epoch_ns = epoch_ns
        self._admit_task = asyncio.create_task(self._admit(admissions))
        stopper = None
        if self.config.duration is not None and not self.config.drain:
            stopper = asyncio.create_task(self._stop_at_deadline())
        try:
            try:
                await self._admit_task
            except asyncio.CancelledError:
                if not self._stopping:  # our own task was cancelled, not the admission
                    raise
            # Drain, or (after stop) wait for the cancelled sessions to emit their rows.
            while self._sessions:
                await asyncio.wait(set(self._sessions))
        finally:
            if stopper is not None:
                stopper.cancel()
                await asyncio.gather(stopper, return_exceptions=True)

    async def stop(self, interrupted: bool = True) -> None:
        """Stop admitting and cancel every session; in-flight calls emit cancelled rows."""
        self.interrupted = self.interrupted or interrupted
        self._stopping = True
        tasks = list(self._sessions)
        if self._admit_task is not None:
            tasks.append(self._admit_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _stop_at_deadline(self) -> None:
        assert self.config.duration is not None
        await sleep_until(self.epoch_ns + int(self.config.duration * 1e9))
        await self.stop(interrupted=False)

    # -- admission ------------------------------------------------------------------------
    async def _admit(self, admissions: Iterator[Admission]) -> None:
        if self.config.arrival_mode is ArrivalMode.CLOSED:
            await self._admit_closed(admissions)
            return
        for item in admissions:
            due = self.epoch_ns + item.offset_ns
            # Start the session a little early: it builds its first request, then waits
            # for `due` itself, so materialization never delays the send.
            await sleep_until(due - LEAD_NS)
            self._start_root(item, due)

    async def _admit_closed(self, admissions: Iterator[Admission]) -> None:
        assert self.setup.slots is not None
        slots = asyncio.Semaphore(self.setup.slots)
        end = (
            None
            if self.config.duration is None
            else self.epoch_ns + int(self.config.duration * 1e9)
        )
        await sleep_until(self.epoch_ns)
        for item in admissions:
            # The next session's first request is built while its slot is still taken.
            first = self._prepare(item.session.calls[0], item.session_id, None, item.cycle)
            await slots.acquire()
            now = monotonic_ns()
            if end is not None and now >= end:
                return
            # A first call is due when its slot starts it: at start-up the N free slots are
            # filled one after the other, a ramp as fast as the client builds and sends,
            # rather than N calls all due at the epoch and sent late one by one (1,000
            # sessions: up to 1.8 s of "lag" that was only the start-up's length).
            task = self._start_root(item, now, first)
            task.add_done_callback(lambda _t: slots.release())
            # Let the session send before the next one is built: the ramp interleaves
            # building and sending instead of building all N first.
            await asyncio.sleep(0)

    def _start_root(
        self, item: Admission, due: int, first: Request | None = None
    ) -> asyncio.Task[None]:
        self.stats.session_started()
        coro = self._session(item.session, item.cycle, due, None, first)
        return self._spawn(coro, root=True)

    def _spawn(self, coro: Coroutine[Any, Any, None], root: bool) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)
        if root:
            task.add_done_callback(lambda _t: self.stats.session_ended())
        return task

    # -- one session ----------------------------------------------------------------------
    async def _session(
        self,
        session: SessionPlan,
        cycle: int,
        start_ns: int,
        parent: str | None,
        first: Request | None = None,
    ) -> None:
        sid = cycled_id(session.session_id, cycle)
        spawned: list[asyncio.Task[None]] = []
        due = end = start_ns
        try:
            for i, call in enumerate(session.calls):
                if i:
                    due = end + self.config.think_ns(call.think_s)
                if i == 0 and first:
                    request, first = first, None
                else:
                    # Built shortly before it is due, not before the think time: building is
                    # never lag, and a thinking session holds no body (10,000 sessions x a
                    # 50 KB prompt would be 500 MB; `issue` drops it once written).
                    await sleep_until(due - LEAD_NS)
                    request = self._prepare(call, sid, parent, cycle)
                await sleep_until(due)
                request.row[S.T_SCHEDULED_NS] = due
                self.stats.request_sent()
                end = (await issue(self.transport, request, self._emit))[S.T_END_NS]
                for child in self.setup.plan.children.get((session.session_id, call.index), ()):
                    child_due = end + self.config.think_ns(child.calls[0].think_s)
                    spawned.append(self._spawn(self._session(child, cycle, child_due, sid), False))
            if spawned:
                await asyncio.gather(*spawned)
        finally:
            for task in spawned:
                task.cancel()

    def _prepare(self, call: CallPlan, sid: str, parent: str | None, cycle: int) -> Request:
        # `call` is passed in, not looked up: building a CallPlan twice per call was ~3% of
        # the client's CPU at 7,000 single-call sessions/s.
        row: Row = {
            S.SESSION_ID: sid,
            S.CALL_INDEX: call.index,
            S.PARENT_SESSION_ID: parent,
            S.WORKER: self.setup.worker,
            S.FINAL_CALL: call.final,
            S.EXPECTED_INPUT_TOKENS: call.input_tokens,
            S.EXPECTED_OUTPUT_TOKENS: call.output_tokens,
            S.USAGE_SOURCE: call.usage_source,
        }
        headers: dict[str, str] = {}
        if self.config.session_header:
            headers[self.config.session_header] = sid
        mat = self.setup.materializer
        if mat is None:
            assert call.body is not None and call.endpoint is not None
            path, body = call.endpoint, call.body
            api = classify("POST", path) or Api.OPENAI_CHAT
        else:
            hashes = None if call.hash_ids is None else salt_hash_ids(call.hash_ids, cycle)
            path, body, api = mat.endpoint, mat.body(sid, call, hashes), mat.api.api
        headers.update(self._api_headers[api])
        return Request(path, body, headers, api, row)

    def _emit(self, row: Row) -> None:
        sent = row.get(S.T_SENT_NS)
        row[S.WARMUP] = sent is not None and sent < self.epoch_ns + int(self.config.warmup * 1e9)
        error = row.get(S.ERROR)
        if error and self._redact:  # a server may echo the key (OpenAI's 401 quotes part)
            row[S.ERROR] = self._redact(error)
        self.stats.request_done(row)
        self._emit_row(row)
