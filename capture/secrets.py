"""Keep credentials out of trace files.

Headers are never stored at all (only the body is). Inside bodies, values of credential-like
keys are replaced, JSON held in strings (tool-call arguments) is parsed and scrubbed the same
way, and credential-shaped strings anywhere in stored text are masked (SHAPES, the catalogue),
so a key pasted into a prompt or a tool output does not reach the disk either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["REDACTED", "SHAPES", "Shape", "scrub_text", "scrub_value"]

REDACTED: Final = "[redacted]"


@dataclass(frozen=True)
class Shape:
    """One credential shape. Every match starts with one of `triggers` (found in
    `text.lower()` when `lower`), and the regex is only tried where one occurs: substring
    search is far cheaper on 100 KB prompts than a regex scan, most of all for patterns
    without a literal prefix. A named group `s` marks the secret part (a password inside a
    URL, say); otherwise the whole match is masked."""

    name: str
    triggers: tuple[str, ...]
    regex: re.Pattern[str]
    lower: bool = False


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    # ASCII: case-insensitive parts fold only ASCII letters, as the triggers are found.
    return re.compile(pattern, flags | re.ASCII)


# A quote, possibly JSON-escaped, once or more (the text scanned is often canonical JSON of a
# part, and tool-call arguments are JSON inside it).
_Q = r"""(?:\\*["'])?"""
_KEYWORD_STARTS = (
    "password", "passwd", "passphrase", "pwd", "secret", "token", "credential",
    "authorization", "api", "access", "private", "account", "shared", "client",
)  # fmt: skip
_KEYWORDS = (
    r"password|passwd|passphrase|pwd|secret|token|credentials?|authorization"
    r"|api[_\-]?key|access[_\-]?key|secret[_\-]?(?:access[_\-]?)?key|private[_\-]?key"
    r"|account[_\-]?key|shared[_\-]?access[_\-]?(?:key|signature)|client[_\-]?secret"
)
_SCHEME = r"(?:(?:basic|bearer|token|digest|negotiate|ntlm)\s+)?+"  # never given back

SHAPES: Final[tuple[Shape, ...]] = (
    # PEM private keys (GCP service-account JSON holds one); to END, or to the end of the
    # base64 body when the block is cut. Escaped newlines (\n in JSON text) included.
    Shape(
        "pem-private-key",
        ("-----BEGIN",),
        _rx(
            r"-----BEGIN [A-Z0-9 ]*(?:PRIVATE|SECRET|ENCRYPTED)[A-Z0-9 ]*-----"
            # a backslash only as part of an escaped line break: one escaping a quote
            # belongs to the JSON around the key, which must stay valid
            r"(?:.*?-----END [A-Z0-9 ]*-----|(?:[A-Za-z0-9+/=\s:,\-]|\\+[nr])*)",
            re.DOTALL,
        ),
    ),
    # user:password@ in any URL (postgres://, mysql://, mongodb+srv://, redis://, amqp://)
    Shape("url-password", ("://",), _rx(r"://[^\s:/?#@\"'\\]*:(?P<s>[^\s@/\"'\\]+)@")),
    # key = value, key: value, "key": "value" (AWS secret access keys, Azure AccountKey=,
    # DB Password=, Authorization: Basic ...); the value only.
    Shape(
        "keyword-assignment",
        _KEYWORD_STARTS,
        _rx(
            rf"(?i:{_KEYWORDS}){_Q}\s*(?:=>|[:=])\s*{_Q}(?i:{_SCHEME})"
            r"(?P<s>[^\s\"'\\,;&<>{}()\[\]]{4,})"
        ),
        lower=True,
    ),
    Shape("azure-sas-signature", ("sig=",), _rx(r"sig=(?P<s>[A-Za-z0-9%+/=]{16,})")),
    Shape("openai-anthropic-key", ("sk-",), _rx(r"sk-[A-Za-z0-9_\-]{16,}")),
    Shape("bearer-token", ("bearer",), _rx(r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*"), True),
    Shape("jwt", ("eyJ",), _rx(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")),
    Shape(
        "aws-access-key-id",
        ("AKIA", "ASIA", "ABIA", "ACCA", "AROA", "AIDA"),
        _rx(r"(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA)[0-9A-Z]{16}"),
    ),
    Shape("google-api-key", ("AIza",), _rx(r"AIza[0-9A-Za-z_\-]{30,}")),
    Shape("google-oauth", ("ya29.", "GOCSPX-"), _rx(r"(?:ya29\.|GOCSPX-)[0-9A-Za-z_\-]{16,}")),
    Shape(
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        _rx(r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    ),
    Shape(
        "slack-token",
        ("xox", "xapp-", "hooks.slack.com"),
        _rx(
            r"(?:xox[abposre]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,}"
            r"|hooks\.slack\.com/services/[A-Za-z0-9/_]+)"
        ),
    ),
    Shape(
        "other-prefixed",  # Stripe, Hugging Face, npm
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "hf_", "npm_"),
        _rx(r"(?:[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36})"),
    ),
)

# Keys whose values are credentials, compared with `_` and `-` removed, lowercased: exact
# names, then suffixes (`*_api_key`, `*_password`, `aws_secret_access_key`, ...).
_SECRET_KEYS: Final = frozenset(
    {"apikey", "cookie", "setcookie", "bearer", "auth", "connectionstring", "sig"}
)
_SECRET_SUFFIXES: Final = (
    "apikey", "accesskey", "secretkey", "privatekey", "accountkey", "sharedaccesskey",
    "sharedaccesssignature", "password", "passwd", "passphrase", "pwd", "secret", "token",
    "credential", "credentials", "authorization",
)  # fmt: skip
# Tokens that are vocabulary, not credentials (chat-template settings).
_NOT_SECRET: Final = frozenset({"eostoken", "bostoken", "padtoken", "unktoken", "septoken"})


def _is_secret_key(key: str) -> bool:
    k = key.lower().replace("_", "").replace("-", "")
    if k in _NOT_SECRET:
        return False
    return k in _SECRET_KEYS or k.endswith(_SECRET_SUFFIXES)


def _scrub_json_string(text: str) -> str:
    """A string that holds JSON (OpenAI/Anthropic tool-call arguments) scrubbed as JSON: the
    key-based rules apply inside it. Unchanged text is returned as is (byte-identical)."""
    stripped = text.strip()
    if len(stripped) < 2 or (stripped[0], stripped[-1]) not in (("{", "}"), ("[", "]")):
        return text
    try:
        inner = json.loads(stripped)
    except ValueError:
        return text
    scrubbed = scrub_value(inner)
    if scrubbed == inner:
        return text
    return json.dumps(scrubbed, ensure_ascii=False)


def scrub_value(value: object) -> object:
    """A copy of a decoded JSON value with credential-like keys' values replaced, also inside
    strings that hold JSON."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _is_secret_key(str(k)) and v not in (None, "") else scrub_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, str):
        return _scrub_json_string(value)
    return value


def _regions(text: str) -> list[tuple[int, int]]:
    """Spans to mask, from every shape's matches at every occurrence of its triggers."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters lower to two characters
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    spans: list[tuple[int, int]] = []
    for shape in SHAPES:
        haystack = lowered if shape.lower else text
        match_at = shape.regex.match
        masks_group = "s" in shape.regex.groupindex
        for trigger in shape.triggers:
            i = haystack.find(trigger)
            while i != -1:
                m = match_at(text, i)
                if m is not None:
                    spans.append(m.span("s") if masks_group else m.span())
                i = haystack.find(trigger, i + 1)
    return spans


def _scrub_once(text: str) -> str:
    spans = _regions(text)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):  # overlapping spans are masked as their union
        if end <= pos:
            continue
        if start >= pos:
            out.append(text[pos:start])
            out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def scrub_text(text: str) -> str:
    """Mask credential-shaped substrings (cheap when there are none). Masking one shape can
    expose another (a password next to a masked URL), so it repeats to a fixed point:
    scrubbing twice changes nothing."""
    for _ in range(4):
        scrubbed = _scrub_once(text)
        if scrubbed == text:
            return text
        text = scrubbed
    return text
