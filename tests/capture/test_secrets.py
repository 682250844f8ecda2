"""Secrets never reach stored content."""

from __future__ import annotations

import json

from capture.apis import parse_request
from traceformat.schema import Api

KEY = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"


def test_body_credentials_and_key_shaped_strings_are_masked() -> None:
    body = {
        "model": "m",
        "api_key": "plain-looking-value",
        "extra_body": {"provider": {"x-api-key": "another-value"}},
        "messages": [
            {"role": "user", "content": f"my key is {KEY}, use Bearer abcdefghijklmnopqrstu"}
        ],
    }
    parsed = parse_request(Api.OPENAI_CHAT, json.dumps(body).encode())
    stored = parsed.envelope + "".join(parsed.messages)
    for secret in (KEY, "plain-looking-value", "another-value", "abcdefghijklmnopqrstu"):
        assert secret not in stored
    assert "my key is [redacted]" in parsed.messages[0]
