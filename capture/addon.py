"""The mitmproxy addon: records LLM calls passing through, changes nothing.

On the proxy loop it only classifies the path, stamps times, passes response chunks through
a recording callable and enqueues the finished call; parsing and writing happen on the
sink's thread. Every hook is fail-open: an exception is logged and the flow goes on.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from mitmproxy import connection, ctx, exceptions, http, tls
from mitmproxy.proxy import mode_specs

from agentload.capture.flowdata import ChunkRecorder, RawCall
from agentload.capture.hosts import HostRule, parse_host_rule
from agentload.capture.process import RowBuilder
from agentload.capture.secrets import scrub_text
from agentload.capture.session_keys import DEFAULT_SESSION_HEADERS, WORKLOAD_HEADER
from agentload.capture.sink import Sink, SinkStats, trace_path
from agentload.capture.stitch import Stitcher
from agentload.capture.workload import parse_rule
from agentload.providers.api import classify
from agentload.traceformat.content import ContentStore

__all__ = ["CaptureAddon"]

log = logging.getLogger("agentload.capture")

_KEY = "agentload"
F = TypeVar("F", bound=Callable[..., None])


def fail_open[F: Callable[..., None]](hook: F) -> F:
    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            hook(*args, **kwargs)
        except Exception:
            log.exception("capture: %s hook failed; flow continues unrecorded", hook.__name__)

    return wrapper  # type: ignore[return-value]


def _options_error(message: str) -> Exception:
    return exceptions.OptionsError(message)  # type: ignore[no-untyped-call]


class CaptureAddon:
    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.last_stats: SinkStats | None = None
        self._headers: tuple[str, ...] = DEFAULT_SESSION_HEADERS
        self._wanted: frozenset[str] = frozenset()
        self._limit = 64 << 20
        self._prefix = ""  # reverse mode: the upstream URL's path, put before each request path
        self._record_hosts: tuple[HostRule, ...] = ()  # empty: every host is recorded
        self._tls_failed: set[str] = set()  # client connections whose upstream TLS failed
        # Calls between their request headers and their response/error hook, by flow: a stop
        # records the ones still open as partial rows instead of losing them.
        self._inflight: dict[int, tuple[http.HTTPFlow, RawCall]] = {}

    # -- options ---------------------------------------------------------------------
    def load(self, loader: Any) -> None:
        loader.add_option(
            "agentload_out", str, "", "Directory for trace files; empty disables recording."
        )
        loader.add_option(
            "agentload_workload", str, "default", "Workload label when no header or rule names one."
        )
        loader.add_option(
            "agentload_workload_rules",
            Sequence[str],
            [],
            "Workload rules path:GLOB=LABEL or model:GLOB=LABEL, first match wins.",
        )
        loader.add_option(
            "agentload_session_headers",
            Sequence[str],
            [],
            "Extra request headers naming a session, tried before the built-in ones.",
        )
        loader.add_option(
            "agentload_redact_content", bool, False, "Store only hashes and sizes of content."
        )
        loader.add_option(
            "agentload_rotate_mb",
            int,
            256,
            "Start a new trace file once the rows written to it reach this many MB (uncompressed).",
        )
        loader.add_option(
            "agentload_rotate_minutes", int, 60, "Start a new trace file after this many minutes."
        )
        loader.add_option(
            "agentload_max_record_mb", int, 64, "Record at most this much of one response body."
        )
        loader.add_option(
            "agentload_path_prefix",
            str,
            "",
            "Reverse mode: put this path (e.g. /api) before every request path, as an upstream "
            "base URL with a path needs; the trace keeps the path the client sent.",
        )
        loader.add_option(
            "agentload_record_hosts",
            Sequence[str],
            [],
            "Record only calls to these hosts (HOST, HOST:PORT, *.DOMAIN); empty: every host.",
        )
        loader.add_option(
            "agentload_worker",
            int,
            -1,
            "Index of this proxy among `agentload capture --workers`' processes (-1: alone); "
            "its trace files are named trace-STAMP-wINDEX-PID-SEQ.arrow.",
        )

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if opts.agentload_rotate_mb < 1 or opts.agentload_rotate_minutes < 1:
            raise _options_error("agentload_rotate_mb/_minutes must be at least 1")
        if opts.agentload_max_record_mb < 1:
            raise _options_error("agentload_max_record_mb must be at least 1")
        try:
            rules = [parse_rule(r) for r in opts.agentload_workload_rules]
        except ValueError as exc:
            raise _options_error(str(exc)) from exc
        if not opts.agentload_workload:
            raise _options_error("agentload_workload must not be empty")
        self._prefix = _checked_prefix(opts.agentload_path_prefix, opts.mode)
        try:
            self._record_hosts = tuple(parse_host_rule(h) for h in opts.agentload_record_hosts)
        except ValueError as exc:
            raise _options_error(f"agentload_record_hosts: {exc}") from exc
        headers = tuple(h.lower() for h in opts.agentload_session_headers)
        self._headers = headers + tuple(h for h in DEFAULT_SESSION_HEADERS if h not in headers)
        self._wanted = frozenset((*self._headers, WORKLOAD_HEADER, "content-encoding"))
        self._limit = opts.agentload_max_record_mb << 20
        if self.sink is not None and not (updated & vars_of(opts)):
            return
        self._restart_sink(opts, rules)

    def _restart_sink(self, opts: Any, rules: list[Any]) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        if not opts.agentload_out:
            return
        builder = RowBuilder(
            ContentStore(),
            Stitcher(secrets.token_hex(4)),
            session_headers=self._headers,
            rules=rules,
            default_workload=opts.agentload_workload,
            redact=opts.agentload_redact_content,
        )
        info: dict[str, object] = {
            "source": "agentload capture",
            "mode": [scrub_text(m) for m in opts.mode],  # an upstream URL may hold user:pw@
            "upstream": [scrub_text(url + self._prefix) for url in _reverse_urls(opts.mode)],
            "workload": opts.agentload_workload,
            "redact_content": opts.agentload_redact_content,
        }
        if opts.agentload_worker >= 0:
            info["worker"] = opts.agentload_worker
        self.sink = Sink(
            builder,
            Path(opts.agentload_out),
            info,
            rotate_bytes=opts.agentload_rotate_mb << 20,
            rotate_seconds=opts.agentload_rotate_minutes * 60.0,
            path_for=functools.partial(trace_path, worker=opts.agentload_worker),
        )
        self.sink.start()

    def running(self) -> None:
        if self.sink is None:
            log.warning("capture: agentload_out not set; LLM calls are not recorded")

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def record_unfinished(self, reason: str) -> int:
        """Submit every call still in flight as a partial row (the proxy is stopping and
        their responses will not end here); returns how many."""
        flows, self._inflight = list(self._inflight.values()), {}
        if self.sink is None:
            return 0
        now = time.time_ns()
        for flow, raw in flows:
            flow.metadata.pop(_KEY, None)  # a late hook must not submit it twice
            raw.t_response_end_ns = now
            raw.partial = True
            raw.proxy_error = reason
            self.sink.submit(raw)
        return len(flows)

    def done(self) -> None:
        if self.sink is not None:
            self.record_unfinished("capture stopped before the call ended")
            self.sink.close()
            self.last_stats = self.sink.stats
            self.sink = None

    def tls_failed_server(self, data: tls.TlsData) -> None:
        # The flow's error hook comes next, with another Server object than this one: the
        # failure is known to it by the client connection.
        self._tls_failed.add(data.context.client.id)

    def client_disconnected(self, client: connection.Client) -> None:
        self._tls_failed.discard(client.id)

    # -- flow hooks ------------------------------------------------------------------
    @fail_open
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        seen = flow.request.path  # as the client sent it: the trace's endpoint
        if self._prefix and seen.startswith("/"):
            # first, so that a failure in recording below cannot send it to the wrong path;
            # here, before mitmproxy sends the request headers on (also for streamed bodies)
            flow.request.path = self._prefix + seen
        self._start_call(flow, seen)

    def _start_call(self, flow: http.HTTPFlow, path: str) -> None:
        if self.sink is None:
            return
        req = flow.request
        api = classify(req.method, path)
        if api is None:
            return
        if self._record_hosts and not any(
            rule.matches(req.host, req.port) for rule in self._record_hosts
        ):
            return  # a forward proxy's other traffic: passed on, not recorded
        wanted: dict[str, str] = {}
        names = self._wanted
        for raw_name, raw_value in req.headers.fields:  # one pass over the raw header list
            name = raw_name.decode("latin-1").lower()
            if name in names and name not in wanted:
                wanted[name] = raw_value.decode("latin-1")
        raw = RawCall(
            api=api,
            path=path.split("?", 1)[0],
            t_request_start_ns=int(req.timestamp_start * 1e9),
            headers=wanted,
            request_encoding=wanted.pop("content-encoding", None),
        )
        if req.stream is True:
            # stream_large_bodies streams this body past the flow (raw_content stays None):
            # pass it through a recorder instead, unchanged, to keep a copy.
            req.stream = raw.request_recorder = ChunkRecorder(self._limit)
        flow.metadata[_KEY] = raw
        self._inflight[id(flow)] = (flow, raw)

    @fail_open
    def request(self, flow: http.HTTPFlow) -> None:
        raw = flow.metadata.get(_KEY)
        if isinstance(raw, RawCall):
            body = flow.request.raw_content
            if body is None and raw.request_recorder is not None:
                body = b"".join(raw.request_recorder.chunks)
            raw.request_body = body or b""

    @fail_open
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        raw = flow.metadata.get(_KEY)
        if not isinstance(raw, RawCall) or flow.response is None:
            return
        resp = flow.response
        raw.t_response_headers_ns = time.time_ns()
        raw.status = resp.status_code
        raw.response_type = resp.headers.get("content-type", "").lower()
        raw.response_encoding = resp.headers.get("content-encoding")
        raw.recorder = ChunkRecorder(self._limit)
        resp.stream = raw.recorder

    @fail_open
    def response(self, flow: http.HTTPFlow) -> None:
        self._inflight.pop(id(flow), None)
        raw = flow.metadata.pop(_KEY, None)
        if not isinstance(raw, RawCall) or self.sink is None:
            return
        raw.t_response_end_ns = time.time_ns()
        if (raw.recorder is None or not raw.recorder.times) and flow.response is not None:
            raw.buffered_body = flow.response.raw_content or b""
        self.sink.submit(raw)

    @fail_open
    def error(self, flow: http.HTTPFlow) -> None:
        self._inflight.pop(id(flow), None)
        tls_failed = flow.client_conn.id in self._tls_failed
        self._tls_failed.discard(flow.client_conn.id)  # also for a call not recorded
        raw = flow.metadata.pop(_KEY, None)
        if not isinstance(raw, RawCall) or self.sink is None:
            return
        raw.t_response_end_ns = time.time_ns()
        raw.partial = True
        raw.proxy_error = flow.error.msg if flow.error else "aborted"
        if tls_failed:
            raw.proxy_error = f"upstream TLS handshake failed: {raw.proxy_error}"
        self.sink.submit(raw)
        if flow.response is None and flow.killable and not tls_failed:
            # Nothing reached the client yet (upstream reset, failed connect): killed, the
            # client's connection is closed without a response, as a direct client's is,
            # instead of mitmproxy's synthesized 502 (docs/capture.md, "Upstream failures").
            # A failed TLS handshake keeps the 502: its text says why (a certificate the
            # proxy does not trust), which a bare disconnect would hide.
            flow.kill()  # type: ignore[no-untyped-call]


def _checked_prefix(prefix: str, modes: Sequence[str]) -> str:
    if not prefix:
        return ""
    if not prefix.startswith("/") or any(c in prefix for c in "?#") or prefix.endswith("/"):
        raise _options_error(
            f"agentload_path_prefix: expected /PATH without a trailing /, ?query or #fragment, "
            f"got {prefix!r}"
        )
    if not modes or len(_reverse_urls(modes)) != len(modes):
        raise _options_error("agentload_path_prefix: only for reverse mode (mode=reverse:URL)")
    return prefix


def _reverse_urls(modes: Sequence[str]) -> list[str]:
    """The upstream URLs of the reverse modes among `modes`, as configured."""
    urls = []
    for text in modes:
        try:
            spec = mode_specs.ProxyMode.parse(text)
        except ValueError:
            continue  # mitmproxy's own option check reports it
        if isinstance(spec, mode_specs.ReverseMode):
            urls.append(spec.data.rstrip("/"))
    return urls


def vars_of(opts: Any) -> set[str]:
    """Names of this addon's options (a change to any of them restarts the sink)."""
    return {name for name in opts if name.startswith("agentload_")}
