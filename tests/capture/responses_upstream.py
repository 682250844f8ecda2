"""A small real HTTP server speaking the OpenAI Responses API (the sim has none), for the
Responses acceptance test: turn 1 calls a function, turn 2 answers; SSE or JSON, optionally
gzip-compressed. Its chat completions endpoint only fails (the error-scrubbing test).
Run: python -m tests.capture.responses_upstream PORT"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from aiohttp import web

USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 64},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 5},
    "total_tokens": 129,
}


def _response(rid: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "fake-responses",
        "output": output,
        "usage": USAGE,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }


def _turn(body: dict[str, Any]) -> dict[str, Any]:
    given = body.get("input")
    items = given if isinstance(given, list) else []
    answered = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
    if answered or body.get("previous_response_id"):
        text = {"type": "output_text", "text": "It is sunny.", "annotations": []}
        message = {
            "type": "message",
            "id": "msg_2",
            "role": "assistant",
            "status": "completed",
            "content": [text],
        }
        return _response("resp_2", [message])
    call = {
        "type": "function_call",
        "id": "fc_item_1",
        "call_id": "call_weather_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    }
    return _response("resp_1", [call])


def _events(final: dict[str, Any]) -> list[dict[str, Any]]:
    created = final | {"status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": created}]
    for n, item in enumerate(final["output"]):
        events.append({"type": "response.output_item.added", "output_index": n, "item": item})
        if item["type"] == "message":
            for piece in ("It is ", "sunny."):
                events.append(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item["id"],
                        "output_index": n,
                        "content_index": 0,
                        "delta": piece,
                        "logprobs": [],
                    }
                )
        events.append({"type": "response.output_item.done", "output_index": n, "item": item})
    events.append({"type": "response.completed", "response": final})
    return [e | {"sequence_number": i} for i, e in enumerate(events)]


async def responses(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    final = _turn(body)
    gzip = request.headers.get("x-test-gzip") == "1"
    if not body.get("stream"):
        resp = web.json_response(final)
        if gzip:
            resp.enable_compression(web.ContentCoding.gzip)
        return resp
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    if gzip:
        stream.enable_compression(web.ContentCoding.gzip)
    await stream.prepare(request)
    for event in _events(final):
        await stream.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
    await stream.write_eof()
    return stream


async def failing_chat(request: web.Request) -> web.StreamResponse:
    """Errors whose text echoes the `x-test-echo` header (a key, say): a JSON error (401),
    a non-JSON body (502) or an error event inside a 200 stream, per `x-test-error`."""
    await request.read()
    echo = request.headers.get("x-test-echo", "")
    kind = request.headers.get("x-test-error", "json")
    error = {"type": "invalid_request_error", "message": f"Incorrect API key provided: {echo}"}
    if kind == "json":
        return web.json_response({"error": error}, status=401)
    if kind == "text":
        return web.Response(text=f"<html>bad gateway: {echo}</html>", status=502)
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await stream.prepare(request)
    delta = {"choices": [{"index": 0, "delta": {"content": "partial"}}]}
    await stream.write(f"data: {json.dumps(delta)}\n\n".encode())
    await stream.write(f"data: {json.dumps({'error': error})}\n\n".encode())
    await stream.write_eof()
    return stream


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/chat/completions", failing_chat)
    print("responses upstream ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """Run this server in a child process on a free port; yield its base URL."""
    from tests.capture.proxyhelper import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "tests.capture.responses_upstream", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and "ready" in proc.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
