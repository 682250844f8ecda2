"""The sim's HTTP server (aiohttp on uvloop): routes, the generation handler, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import signal
import socket
import sys
import time
from typing import Any, Final

from aiohttp import web

from agentload.base import oslimits
from agentload.base.errors import ConfigError
from agentload.simengine import (
    accept,
    agentscript,
    faults,
    metrics,
    render,
    streaming,
    strict,
    tokenizer,
)
from agentload.simengine.anthropic_api import MessagesCodec
from agentload.simengine.config import SimConfig
from agentload.simengine.engine import Engine, SimRequest
from agentload.simengine.errors import ApiError, bad_request
from agentload.simengine.gate import WorkGate
from agentload.simengine.jobs import Codec, Job, SimContext, Usage
from agentload.simengine.openai_api import ChatCodec, CompletionsCodec
from agentload.simengine.responses_api import ResponsesCodec
from agentload.simengine.timinglog import TimingLog

# The request body size the app reads at most (EngineConfig.max_body_bytes), for messages.
BODY_LIMIT: Final = web.AppKey("body_limit", int)


class SimServer:
    """Owns the engine, its step-loop task, the timing log and the aiohttp application."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.engine = Engine(config.engine)
        script = agentscript.load(config.agent_script) if config.agent_script else None
        self.ctx = SimContext(
            config.model,
            config.engine,
            tokenizer.Tokenizer(),
            script,
            deterministic_ids=config.tool_call_ids == "deterministic",
        )
        self.log = TimingLog(config.timing_log) if config.timing_log else None
        self._counter = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.accepts = accept.AcceptStats()
        self.gate = WorkGate()
        self.listener: socket.socket | None = None  # set by serve()
        middlewares = [] if config.api_key is None else [strict.auth_middleware(config.api_key)]
        self.app = web.Application(
            client_max_size=config.engine.max_body_bytes, middlewares=middlewares
        )
        self.app[BODY_LIMIT] = config.engine.max_body_bytes
        codecs: list[Codec] = [CompletionsCodec(), ChatCodec(), MessagesCodec(), ResponsesCodec()]
        for codec in codecs:
            self.app.router.add_post(codec.endpoint, self._generation_handler(codec))
        self.app.router.add_get("/health", self._health)
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_post("/tokenize", self._tokenize)
        self.app.router.add_post("/detokenize", self._detokenize)
        self.app.router.add_post("/reset_prefix_cache", self._reset_prefix_cache)

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.engine.run(), name="sim-engine"))
        if self.log is not None:
            self._tasks.append(asyncio.create_task(self._flush_log(), name="sim-timing-log"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.gate.close()
        if self.log is not None:
            self.log.close()

    async def _flush_log(self) -> None:
        assert self.log is not None
        while True:
            await asyncio.sleep(0.25)
            self.log.flush_if_due()

    # --- small endpoints ----------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _models(self, request: web.Request) -> web.Response:
        model = {
            "id": self.config.model,
            "object": "model",
            "created": 0,
            "owned_by": "agentload",
            "max_model_len": self.config.engine.max_model_len,
        }
        return web.json_response({"object": "list", "data": [model]})

    async def _reset_prefix_cache(self, request: web.Request) -> web.Response:
        # vLLM's endpoint, so replay --reset-cache can be tested against the sim
        forgotten = self.engine.pool.reset_prefix_cache()
        return web.json_response({"reset": True, "blocks": forgotten})

    async def _metrics(self, request: web.Request) -> web.Response:
        text = metrics.render(self.engine, self.config.model)
        queue = accept.queue_length(self.listener) if self.listener is not None else None
        text += metrics.render_server(self.accepts, queue, self.gate.queued, self.config.model)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def _tokenize(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request)
            pieces = tokenizer.split(self._tokenize_text(body))
        except ApiError as err:
            return web.json_response(err.body(), status=err.status)
        return web.json_response(
            {
                "count": len(pieces),
                "max_model_len": self.config.engine.max_model_len,
                "tokens": self.ctx.tok.ids_of(pieces),
                "token_strs": pieces if body.get("return_token_strs") else None,
            }
        )

    def _tokenize_text(self, body: dict[str, Any]) -> str:
        """The text /tokenize counts: the prompt, or the chat template applied to messages."""
        if "messages" in body:
            text = render.render_chat(body["messages"], body.get("tools"))
            if body.get("add_generation_prompt", True) is False:
                text = text.removesuffix("<|assistant|>\n")
            return text
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise bad_request("prompt: must be a string (or give messages)", param="prompt")
        return prompt

    async def _detokenize(self, request: web.Request) -> web.Response:
        try:
            body = await _json_body(request)
            tokens = body.get("tokens")
            if not isinstance(tokens, list) or not all(type(t) is int and t >= 0 for t in tokens):
                raise bad_request("tokens: must be a list of non-negative integers", "tokens")
        except ApiError as err:
            return web.json_response(err.body(), status=err.status)
        return web.json_response({"prompt": tokenizer.Tokenizer.decode(tokens)})

    # --- generation ---------------------------------------------------------------------
    def _generation_handler(self, codec: Codec) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._generate(request, codec)

        return handler

    async def _generate(self, request: web.Request, codec: Codec) -> web.StreamResponse:
        arrival_ns, arrival_wall = time.monotonic_ns(), time.time_ns()
        self._counter += 1
        fault: str | None = None
        job: Job | None = None
        req: SimRequest | None = None
        status = 0
        first: tuple[int, int] | None = None
        try:
            fault = faults.requested(request, self.config.allow_faults)
            if fault in faults.REFUSALS:
                err, headers = faults.REFUSALS[fault]
                status = err.status
                return web.json_response(codec.error_body(err), status=status, headers=headers)
            raw = await _read_body(request)
            counter = self._counter
            prepared = await self.gate.run(
                lambda: self._prepare(raw, request, codec, counter), self._abort_prepared
            )
            job, outcome = prepared
            if isinstance(outcome, ApiError):
                raise outcome
            req = outcome
            if job.stream:
                resp, first = await streaming.stream(request, self.engine, codec, job, req, fault)
                status = resp.status
                return resp
            if fault is not None:
                status = 200
                return await faults.non_streaming(fault, request, req)
            await req.wait_done()
            status = 200
            first = (req.first_token_ns, 0)
            usage = Usage(req.prompt_len, req.num_cached, req.generated)
            return web.json_response(codec.body(job, usage))
        except ApiError as err:
            status = err.status
            return web.json_response(codec.error_body(err), status=err.status)
        finally:
            if req is not None and not req.finished:
                self.engine.abort(req)
            if self.log is not None:
                self._log(request, codec, job, req, status, fault, arrival_ns, arrival_wall, first)

    def _prepare(
        self, raw: bytes, request: web.Request, codec: Codec, counter: int
    ) -> tuple[Job, SimRequest | ApiError]:
        """Parse, tokenize and submit: the per-prompt-token work, run through the gate."""
        body = _decode_json(raw)
        if self.config.strict:
            strict.check_request(codec.api, body, request.headers)
        job = codec.parse(body, self.ctx, counter)
        try:
            return job, self.engine.submit(job.prompt_ids, job.plan.ids, job.max_tokens)
        except ApiError as err:  # refused by the engine: the log still shows the prompt
            return job, err

    def _abort_prepared(self, prepared: tuple[Job, SimRequest | ApiError]) -> None:
        if isinstance(prepared[1], SimRequest):
            self.engine.abort(prepared[1])

    def _log(
        self,
        request: web.Request,
        codec: Codec,
        job: Job | None,
        req: SimRequest | None,
        status: int,
        fault: str | None,
        arrival_ns: int,
        arrival_wall: int,
        first: tuple[int, int] | None,
    ) -> None:
        assert self.log is not None
        end_ns, end_wall = time.monotonic_ns(), time.time_ns()
        first_ns = first_wall = None
        if first is not None and first[0]:
            first_ns = first[0]
            # non-streaming: the engine's first-token time, mapped onto the wall clock
            first_wall = first[1] or end_wall - (end_ns - first_ns)
        self.log.add(
            (
                job.rid if job else f"rejected-{self._counter:x}",
                codec.endpoint,
                request.headers.get("X-Session-ID"),
                status,
                arrival_ns,
                first_ns,
                end_ns,
                arrival_wall,
                first_wall,
                end_wall,
                req.prompt_len if req else (len(job.prompt_ids) if job else 0),
                req.num_cached if req else 0,
                req.generated if req else 0,
                job.stream if job else False,
                fault,
                self.accepts.take(request.transport),
            )
        )


async def _json_body(request: web.Request) -> dict[str, Any]:
    return _decode_json(await _read_body(request))


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()  # aiohttp stops reading at client_max_size
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[BODY_LIMIT]
        raise ApiError(
            413,
            f"request body too large: over {limit:,} bytes (16 per token of the "
            "maximum model length, plus 1 MiB)",
            code="request_too_large",
        ) from None


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


async def serve(config: SimConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT; print the listening line once the socket is bound."""
    server = SimServer(config)
    await server.start()
    # The sim allocates many short-lived objects per request; a long-lived heap frozen out of
    # the collector and a higher gen-0 threshold keep GC pauses off the token timeline.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # handler_cancellation: a client that disconnects cancels its handler, which aborts the
    # engine request, so departed clients do not keep occupying the batch and the KV cache
    runner = web.AppRunner(
        server.app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=1.0,
        handler_cancellation=True,
    )
    await runner.setup()
    assert runner.server is not None
    _forget_closed(runner.server, server.accepts)
    _raise_nofile()
    try:
        server.listener = accept.listen_socket(config.host, config.port)
    except OSError as exc:
        await runner.cleanup()
        await server.stop()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    acceptor = accept.Acceptor(server.listener, runner.server, server.accepts)
    acceptor.start()
    port = server.listener.getsockname()[1]
    modes = [m for m, on in (("strict", config.strict), ("key required", config.api_key)) if on]
    suffix = f" ({', '.join(modes)})" if modes else ""
    sys.stdout.write(f"agentload sim listening on http://{config.host}:{port}{suffix}\n")
    sys.stdout.flush()
    # stderr, once started (a bad option stays one line): replay's --model must match it
    print(f"agentload sim: model {config.model!r}, preset {config.preset}", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        acceptor.close()
        await runner.cleanup()
        await server.stop()


def _forget_closed(manager: web.Server, stats: accept.AcceptStats) -> None:
    """A connection closed before its first request: drop its accept delay."""
    lost = manager.connection_lost

    def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
        stats.closed(handler.transport)
        lost(handler, exc)

    manager.connection_lost = connection_lost  # type: ignore[method-assign]


def _raise_nofile() -> None:
    """One file per connection: the soft open-file limit goes up to the hard one."""
    note = oslimits.raise_nofile()
    if "raised" in note or "could not" in note or oslimits.nofile() < 10_000:
        sys.stderr.write(f"agentload sim: {note} (one per connection)\n")


def run(config: SimConfig) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(config))
