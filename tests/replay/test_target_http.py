"""The preflight's probe request as a strict server sees it (httpx.MockTransport records it)."""

from __future__ import annotations

import httpx

from agentload.providers.api import Api
from agentload.replay import target_http as th

SSE = (
    b'data: {"choices":[{"index":0,"text":"Yes"}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)


def test_probe_posts_json_with_its_content_type() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # vLLM's check: a POST whose Content-Type is not application/json is refused
        if request.headers.get("content-type") != "application/json":
            return httpx.Response(400, json={"error": {"message": "Unsupported Media Type"}})
        return httpx.Response(200, content=SSE, headers={"content-type": "text/event-stream"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        reply = th.probe(
            http, "http://engine/v1/completions", Api.OPENAI_COMPLETIONS, b"{}",
            {"X-Extra": "1"}, lambda s: s, th.Deadline(300.0),
        )  # fmt: skip
    assert reply.status == 200 and reply.error is None, reply
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["x-extra"] == "1"  # the caller's headers still go along
