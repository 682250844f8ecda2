"""Secrets never reach stored content."""

from __future__ import annotations

import json
import re
import sys

from agentload.capture.apis import parse_request
from agentload.capture.secrets import SHAPES, scrub_text
from agentload.traceformat.schema import Api

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


def test_prefilter_never_skips_a_match() -> None:
    """A shape's regex is tried only where a trigger occurs: every key shape, in any case
    the pattern allows, is still masked, and text without one is returned as is."""
    keys = [
        KEY,
        "sk-ant-api03-" + "x" * 30,
        "BeArEr abcdefghijklmnopqrstuvwxyz012",
        "bearer\tabcdefghijklmnopqrstuvwxyz012==",
        "AKIA" + "A" * 16,
        "AIza" + "b" * 35,
    ]
    for key in keys:
        assert any(s.regex.search(key) for s in SHAPES), key
        assert scrub_text(f"pre {key} post") == "pre [redacted] post"
    assert scrub_text("nothing to see " * 1000) == "nothing to see " * 1000


def test_no_non_ascii_character_matches_bearer_case_insensitively() -> None:
    # the prefilter lowercases to find "bearer": exact only if re's case folding of these
    # letters agrees with str.lower over all of Unicode
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for letter in "bear":
        found = set(re.findall(f"(?i:{letter})", every))
        assert {c.lower() for c in found} == {letter}, found
