"""What the proxy loop records per LLM call: cheap to build, parsed later off-loop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agentload.traceformat.schema import Api

__all__ = ["ChunkRecorder", "RawCall"]


class ChunkRecorder:
    """The `flow.response.stream` callable: passes every chunk through unchanged and keeps it
    with its arrival time (up to `limit` bytes; beyond that, times only)."""

    __slots__ = ("chunks", "limit", "size", "times", "truncated")

    def __init__(self, limit: int) -> None:
        self.times: list[int] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.truncated = False

    def __call__(self, data: bytes) -> bytes:
        if data:
            self.times.append(time.time_ns())
            self.size += len(data)
            if self.size <= self.limit:
                self.chunks.append(data)
            else:
                self.truncated = True
        return data


@dataclass
class RawCall:
    api: Api
    path: str
    t_request_start_ns: int
    headers: dict[str, str]  # only the session/workload/encoding headers we need
    request_body: bytes = b""
    request_encoding: str | None = None
    t_response_headers_ns: int | None = None
    t_response_end_ns: int | None = None
    status: int | None = None
    response_type: str = ""
    response_encoding: str | None = None
    recorder: ChunkRecorder | None = None
    request_recorder: ChunkRecorder | None = None  # a streamed request body (stream_large_bodies)
    buffered_body: bytes | None = None  # when the response was not streamed
    partial: bool = False
    proxy_error: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
