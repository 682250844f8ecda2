"""Arrow schemas v1 for the three file kinds: trace, profile, result.

The schema is code: every column name used anywhere in agentload is a constant here.
ARCHITECTURE.md ("Data model") describes the same columns in prose; keep both in step.
"""

from __future__ import annotations

import enum
import re
from typing import Final

import pyarrow as pa

from agentload.providers.api import Api as Api  # the API column's values, re-exported

# --- schema metadata keys ---------------------------------------------------------------
META_KIND: Final = b"agentload.kind"
META_VERSION: Final = b"agentload.version"
# JSON object: run / capture / derivation parameters (target, model, options, host, ...).
META_INFO: Final = b"agentload.info"
# Profiles: block size (tokens) of hash_ids, as a decimal string.
META_BLOCK_SIZE: Final = b"agentload.block_size"
# Results: "true" once the run finished normally; "false" (or absent) marks a partial file.
META_COMPLETE: Final = b"agentload.complete"
# Results: JSON list of scraped engine metric samples and JSON self-diagnosis figures.
META_ENGINE_METRICS: Final = b"agentload.engine_metrics"
META_DIAGNOSTICS: Final = b"agentload.diagnostics"

# major.minor. Readers refuse another major; they read any minor of theirs: columns a newer
# minor added are extra columns (allowed), and columns an older file lacks because they
# were added later (ADDED_IN, nullable only) are read as nulls. 1.2 adds no column: every
# record batch carries checksums in its custom metadata (integrity.py), required from 1.2 on.
VERSION: Final = "1.2"


class Kind(enum.StrEnum):
    TRACE = "trace"
    PROFILE = "profile"
    RESULT = "result"


class UsageSource(enum.StrEnum):
    PROVIDER = "provider"  # token counts reported by the provider
    ESTIMATE = "estimate"  # offline-tokenizer counts scaled by the trace (estimate.py)


class ErrorKind(enum.StrEnum):
    """Why a result row failed. The column is a plain string, so files written before a
    kind existed read unchanged (a 429 there is http_4xx)."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    HTTP_4XX = "http_4xx"  # any 4xx but 429
    HTTP_5XX = "http_5xx"
    RATE_LIMITED = "rate_limited"  # 429; the message holds the Retry-After seconds (1.2)
    STREAM_ERROR = "stream_error"
    CANCELLED = "cancelled"  # stopped by the client (--no-drain deadline, a signal)


# --- columns shared by several kinds ----------------------------------------------------
SESSION_ID: Final = "session_id"
CALL_INDEX: Final = "call_index"
PARENT_SESSION_ID: Final = "parent_session_id"  # null for root sessions
PARENT_CALL_INDEX: Final = "parent_call_index"  # the parent's call that spawned this session
WORKLOAD: Final = "workload"
# A UsageSource value: where the row's token counts came from; null when unknown (built-in
# and foreign profiles, and files written before version 1.1).
USAGE_SOURCE: Final = "usage_source"

# --- trace (private, full fidelity; one row per LLM call) -------------------------------
API: Final = "api"  # an Api value
ENDPOINT: Final = "endpoint"  # request path, e.g. /v1/chat/completions
MODEL: Final = "model"
STREAM: Final = "stream"
T_REQUEST_START_NS: Final = "t_request_start_ns"  # wall clock, ns since the epoch
T_RESPONSE_HEADERS_NS: Final = "t_response_headers_ns"
T_FIRST_TOKEN_NS: Final = "t_first_token_ns"  # first content (or tool-call) token
T_RESPONSE_END_NS: Final = "t_response_end_ns"
CHUNK_OFFSETS_NS: Final = "chunk_offsets_ns"  # per chunk, ns after request start
PROMPT_TOKENS: Final = "prompt_tokens"  # provider usage; null when not reported
COMPLETION_TOKENS: Final = "completion_tokens"
CACHED_TOKENS: Final = "cached_tokens"
REASONING_TOKENS: Final = "reasoning_tokens"
HTTP_STATUS: Final = "http_status"
ERROR: Final = "error"  # free text; null when the call succeeded
FINISH_REASON: Final = "finish_reason"
PARTIAL: Final = "partial"  # true when the client or upstream aborted mid-response
STITCH: Final = "stitch"  # how the session was found: header | tool-call-id |
# previous-response | prefix | tool-args | new
# Content is stored once per distinct part. A call lists the ids of its request parts in
# order (part 0: the request envelope — body without messages/input, e.g. tools and
# parameters; then one part per message) and of its response; NEW_CONTENT carries the
# parts this file has not stored before, so every part is written exactly once per file.
REQUEST_CONTENT_IDS: Final = "request_content_ids"
RESPONSE_CONTENT_ID: Final = "response_content_id"
NEW_CONTENT: Final = "new_content"
CONTENT_ID: Final = "id"  # field of a NEW_CONTENT struct: hex digest of the data
CONTENT_SIZE: Final = "size"  # bytes of the original part (kept when content is redacted)
CONTENT_DATA: Final = "data"  # UTF-8 JSON text of the part; null when redacted

CONTENT_STRUCT: Final = pa.struct(
    [
        pa.field(CONTENT_ID, pa.string(), nullable=False),
        pa.field(CONTENT_SIZE, pa.int64(), nullable=False),
        pa.field(CONTENT_DATA, pa.large_string()),
    ]
)

TRACE_SCHEMA: Final = pa.schema(
    [
        pa.field(SESSION_ID, pa.string(), nullable=False),
        pa.field(CALL_INDEX, pa.int32(), nullable=False),
        pa.field(PARENT_SESSION_ID, pa.string()),
        pa.field(PARENT_CALL_INDEX, pa.int32()),
        pa.field(WORKLOAD, pa.string(), nullable=False),
        pa.field(API, pa.string(), nullable=False),
        pa.field(ENDPOINT, pa.string(), nullable=False),
        pa.field(MODEL, pa.string()),
        pa.field(STREAM, pa.bool_(), nullable=False),
        pa.field(T_REQUEST_START_NS, pa.int64(), nullable=False),
        pa.field(T_RESPONSE_HEADERS_NS, pa.int64()),
        pa.field(T_FIRST_TOKEN_NS, pa.int64()),
        pa.field(T_RESPONSE_END_NS, pa.int64()),
        pa.field(CHUNK_OFFSETS_NS, pa.list_(pa.int64())),
        pa.field(PROMPT_TOKENS, pa.int64()),
        pa.field(COMPLETION_TOKENS, pa.int64()),
        pa.field(CACHED_TOKENS, pa.int64()),
        pa.field(REASONING_TOKENS, pa.int64()),
        pa.field(HTTP_STATUS, pa.int32()),
        pa.field(ERROR, pa.string()),
        pa.field(FINISH_REASON, pa.string()),
        pa.field(PARTIAL, pa.bool_(), nullable=False),
        pa.field(STITCH, pa.string()),
        pa.field(REQUEST_CONTENT_IDS, pa.list_(pa.string())),
        pa.field(RESPONSE_CONTENT_ID, pa.string()),
        pa.field(NEW_CONTENT, pa.list_(CONTENT_STRUCT)),
    ]
)

# --- profile (shareable, content-free; one row per LLM call) ---------------------------
# Root sessions: ARRIVAL_S is the session's offset from the profile start and call 0 has
# THINK_S = 0. Child sessions (PARENT_* set): call 0's THINK_S is the gap from the end of
# the parent call that spawned it, so fan-out replays relative to the parent.
ARRIVAL_S: Final = "arrival_s"
THINK_S: Final = "think_s"  # previous response end -> this request start, seconds
INPUT_TOKENS: Final = "input_tokens"
NEW_INPUT_TOKENS: Final = "new_input_tokens"  # appended since the session's previous call
OUTPUT_TOKENS: Final = "output_tokens"
HASH_IDS: Final = "hash_ids"  # keyed chained hashes of BLOCK_SIZE-token prompt blocks
# JSON object of fields a foreign format had that the profile has no column for, kept so
# that import -> export round-trips every field; null when there were none.
EXTRA: Final = "extra"

PROFILE_SCHEMA: Final = pa.schema(
    [
        pa.field(SESSION_ID, pa.string(), nullable=False),
        pa.field(CALL_INDEX, pa.int32(), nullable=False),
        pa.field(PARENT_SESSION_ID, pa.string()),
        pa.field(PARENT_CALL_INDEX, pa.int32()),
        pa.field(WORKLOAD, pa.string(), nullable=False),
        pa.field(ARRIVAL_S, pa.float64(), nullable=False),
        pa.field(THINK_S, pa.float64(), nullable=False),
        pa.field(INPUT_TOKENS, pa.int64(), nullable=False),
        pa.field(NEW_INPUT_TOKENS, pa.int64(), nullable=False),
        pa.field(OUTPUT_TOKENS, pa.int64(), nullable=False),
        pa.field(HASH_IDS, pa.list_(pa.int64())),
        pa.field(EXTRA, pa.string()),
        pa.field(USAGE_SOURCE, pa.string()),
    ]
)

# --- result (replay output; one row per request issued, failures included) -------------
# Times are monotonic ns on one clock per run (time.monotonic_ns of the run's host, or
# the common epoch-corrected clock on Ray); offsets are relative to T_SENT_NS.
WORKER: Final = "worker"
NODE: Final = "node"
FINAL_CALL: Final = "final_call"  # the session's last call in the source (its answer)
WARMUP: Final = "warmup"  # sent inside the --warmup window; excluded from metrics
T_SCHEDULED_NS: Final = "t_scheduled_ns"
T_SENT_NS: Final = "t_sent_ns"
# T_FIRST_TOKEN_NS is shared with the trace (here it is monotonic, like every result time).
T_END_NS: Final = "t_end_ns"
CHUNK_TOKENS: Final = "chunk_tokens"  # tokens per chunk when known; null means 1 each
EXPECTED_INPUT_TOKENS: Final = "expected_input_tokens"
EXPECTED_OUTPUT_TOKENS: Final = "expected_output_tokens"
# Ideal prefix-cache hit for this call from the source's hash_ids (blocks seen earlier in
# the run, unbounded cache), in tokens; null when the source has no hash_ids.
EXPECTED_CACHED_TOKENS: Final = "expected_cached_tokens"
STATUS: Final = "status"  # "ok" | "error"
ERROR_KIND: Final = "error_kind"  # an ErrorKind value, null when ok

RESULT_SCHEMA: Final = pa.schema(
    [
        pa.field(SESSION_ID, pa.string(), nullable=False),
        pa.field(CALL_INDEX, pa.int32(), nullable=False),
        pa.field(PARENT_SESSION_ID, pa.string()),
        pa.field(WORKER, pa.int32(), nullable=False),
        pa.field(NODE, pa.string()),
        pa.field(FINAL_CALL, pa.bool_(), nullable=False),
        pa.field(WARMUP, pa.bool_(), nullable=False),
        pa.field(T_SCHEDULED_NS, pa.int64(), nullable=False),
        pa.field(T_SENT_NS, pa.int64()),
        pa.field(T_FIRST_TOKEN_NS, pa.int64()),
        pa.field(T_END_NS, pa.int64()),
        pa.field(CHUNK_OFFSETS_NS, pa.list_(pa.int64())),
        pa.field(CHUNK_TOKENS, pa.list_(pa.int32())),
        pa.field(PROMPT_TOKENS, pa.int64()),
        pa.field(COMPLETION_TOKENS, pa.int64()),
        pa.field(CACHED_TOKENS, pa.int64()),
        pa.field(EXPECTED_INPUT_TOKENS, pa.int64()),
        pa.field(EXPECTED_OUTPUT_TOKENS, pa.int64()),
        pa.field(EXPECTED_CACHED_TOKENS, pa.int64()),
        pa.field(STATUS, pa.string(), nullable=False),
        pa.field(HTTP_STATUS, pa.int32()),
        pa.field(ERROR_KIND, pa.string()),
        pa.field(ERROR, pa.string()),
        pa.field(USAGE_SOURCE, pa.string()),  # the expected tokens' source
    ]
)

SCHEMAS: Final[dict[Kind, pa.Schema]] = {
    Kind.TRACE: TRACE_SCHEMA,
    Kind.PROFILE: PROFILE_SCHEMA,
    Kind.RESULT: RESULT_SCHEMA,
}

# The minor version that added each column (within the current major), per kind. Only
# nullable columns, appended at the end of the schema, may be added in a minor version.
ADDED_IN: Final[dict[Kind, dict[str, str]]] = {
    Kind.PROFILE: {USAGE_SOURCE: "1.1"},
    Kind.RESULT: {USAGE_SOURCE: "1.1"},
}


def parse_version(raw: str) -> tuple[int, int]:
    """(major, minor) of a "major.minor" version string (a bare major means minor 0);
    ValueError when it does not start with a number."""
    found = re.match(r"([0-9]+)(?:\.([0-9]+))?", raw.strip())
    if found is None:
        raise ValueError(f"not a major.minor version: {raw!r}")
    return int(found[1]), int(found[2] or 0)


def schema_for(kind: Kind, info: dict[bytes, bytes] | None = None) -> pa.Schema:
    """The v1 schema of `kind`, with kind/version (and any extra) metadata attached."""
    meta = {META_KIND: kind.value.encode(), META_VERSION: VERSION.encode()}
    if info:
        meta.update(info)
    return SCHEMAS[kind].with_metadata(meta)
