"""The catalogue of credential shapes (capture/secrets.py SHAPES), H1 and H7 of the
adversarial catalogue, and property tests of the scrubber: a canary embedded anywhere in
random text or JSON never comes out, and scrubbing is idempotent."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentload.capture.apis import dumps, parse_request
from agentload.capture.secrets import SHAPES, scrub_text, scrub_value
from agentload.traceformat.schema import Api

C = "CANARYq7Zx93Lm"  # the secret core of every example: found nowhere in scrubbed output

# (shape name, text holding a secret, the secret part): one or more per shape.
EXAMPLES = [
    ("pem-private-key", f"-----BEGIN PRIVATE KEY-----\nMIIEv{C}QIBADAN\n-----END PRIVATE KEY-----"),
    (
        "pem-private-key",
        f"-----BEGIN RSA PRIVATE KEY-----\\nMIIEow{C}IBAAKCAQEA\\n",
    ),  # cut, escaped
    (
        "pem-private-key",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl{C}\n-----END OPENSSH PRIVATE KEY-----",
    ),
    ("url-password", f"postgresql://app:{C}@db.internal:5432/prod"),
    ("url-password", f"mongodb+srv://root:{C}@cluster0.mongodb.net/?retryWrites=true"),
    ("url-password", f"redis://:{C}@cache:6379/0"),
    ("keyword-assignment", f"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfi{C}"),  # H7
    ("keyword-assignment", f"AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/{C}"),
    ("keyword-assignment", f'"SecretAccessKey": "wJalrXUtnFEMI{C}"'),
    ("keyword-assignment", f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={C}+/==;"),
    ("keyword-assignment", f"Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey={C}="),
    ("keyword-assignment", f"Server=db;Database=app;User Id=sa;Password={C};"),
    ("keyword-assignment", f"Authorization: Basic dXNl{C}"),
    ("keyword-assignment", f"AZURE_OPENAI_API_KEY={C}0f3e9a"),
    ("keyword-assignment", f"auth_token={C}"),
    ("keyword-assignment", f"private_key={C}"),
    ("keyword-assignment", f"client_secret: {C}"),
    ("azure-sas-signature", f"https://a.blob.core.windows.net/c?sv=2022&sig={C}%2Bab%3D"),
    ("openai-anthropic-key", f"sk-proj-{C}abcdefghij"),
    ("openai-anthropic-key", f"sk-ant-api03-{C}abcdefghij"),
    ("bearer-token", f"Bearer {C}abcdefghij.k"),
    ("jwt", f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{C}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("aws-access-key-id", "AKIAIOSFODNN7EXAMPLE"),
    ("google-api-key", f"AIzaSyA{C}abcdefghijklmnopqrst"),
    ("google-oauth", f"ya29.a0Af{C}abcdefgh"),
    ("github-token", f"ghp_{C}abcdefghijklmnopqrstuvwxyz"),
    ("github-token", f"github_pat_11AB{C}_abcdefghijklmnopqrstuvwxyz"),
    ("slack-token", f"xoxb-1234567890-{C}"),
    ("slack-token", f"https://hooks.slack.com/services/T000/B000/{C}"),
    ("other-prefixed", f"sk_live_{C}abcdefghij"),
    ("other-prefixed", f"hf_{C}abcdefghijklmnopqrstuvwxyz"),
]


def _secret(text: str) -> str:
    return "AKIAIOSFODNN7EXAMPLE" if C not in text else C


@pytest.mark.parametrize(
    ("shape", "text"), EXAMPLES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(EXAMPLES)]
)
def test_H7_catalogue_every_shape_is_masked_by_its_own_pattern(shape: str, text: str) -> None:
    """H7 (AWS secret access keys) and the rest of the catalogue: each example is found by
    the shape it illustrates (so a shape removed fails here), and scrubbed it is gone, also
    as JSON text (the form stored parts have)."""
    by_name = {s.name: s for s in SHAPES}
    assert by_name[shape].regex.search(text), (shape, text)
    secret = _secret(text)
    assert secret in text  # positive control: the grep would find it
    assert secret not in scrub_text(f"tool output: {text} (end)")
    assert secret not in dumps({"role": "tool", "content": f"output:\n{text}\n"})


def test_ordinary_text_is_kept() -> None:
    text = (
        "The max_tokens: 100 setting, prompt_tokens and a monkey keyboard; see "
        "https://example.com:8080/docs and the author: Jane. Count each token: 5."
    )
    assert scrub_text(text) == text


def test_H1_tool_call_arguments_are_scrubbed_as_json() -> None:
    """H1: credentials inside a tool call's arguments (a JSON string in JSON) are redacted
    by key, as in the body itself; arguments without one stay byte-identical."""
    args = json.dumps({"api_key": "CANARYTOOLARG987", "password": "CANARYTOOLPW", "user": "bob"})
    plain = '{"path":  "a.txt"}'
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "log in"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "login", "arguments": args},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "read", "arguments": plain},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
    }
    raw = json.dumps(body)
    assert "CANARYTOOLARG987" in raw and "CANARYTOOLPW" in raw  # positive control
    parsed = parse_request(Api.OPENAI_CHAT, raw.encode())
    stored = "".join(parsed.messages)
    assert "CANARYTOOLARG987" not in stored and "CANARYTOOLPW" not in stored
    call = json.loads(parsed.messages[1])["tool_calls"]
    assert json.loads(call[0]["function"]["arguments"]) == {
        "api_key": "[redacted]",
        "password": "[redacted]",
        "user": "bob",
    }
    assert call[1]["function"]["arguments"] == plain
    # Anthropic tool_use input is an object, Responses function_call arguments a string
    assert "CANARYX" not in dumps(scrub_value({"input": {"db_password": "CANARYX"}}))
    assert "CANARYX" not in dumps(scrub_value({"arguments": '[{"token": "CANARYX"}]'}))


# -- properties ----------------------------------------------------------------------------

_CANARIES = [t for _, t in EXAMPLES]
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
# what may stand next to a canary without becoming part of it: separators of real text
_sep = st.sampled_from([" ", "\n", "\t", ", ", "; ", " (", ") ", "'", '"', "`", " = "])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_CANARIES), _text, _text, _sep, _sep)
def test_canary_anywhere_in_text_never_comes_out(
    canary: str, before: str, after: str, left: str, right: str
) -> None:
    text = before + left + canary + right + after
    assert _secret(canary) in text
    assert _secret(canary) not in scrub_text(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_CANARIES), _json, st.data())
def test_canary_anywhere_in_json_never_comes_out(
    canary: str, doc: object, data: st.DataObject
) -> None:
    """Embedded as a string value, inside a string, under any key, or as JSON text in a
    string (tool-call arguments): the stored part (scrub_value, then dumps) never holds it."""
    how = data.draw(st.sampled_from(["value", "inside", "args"]))
    key = data.draw(_text)
    if how == "value":
        holder: object = {key: canary}
    elif how == "inside":
        holder = {key: f"see {canary} here"}
    else:
        holder = {"arguments": json.dumps({key: f"{canary} x"})}
    stored = dumps(scrub_value([doc, holder, doc]))
    assert _secret(canary) not in stored
    assert _secret(canary) not in json.dumps(json.loads(stored))  # nor once unescaped


@settings(max_examples=300, deadline=None)
@given(st.one_of(_text, st.sampled_from(_CANARIES)), _text, _sep)
def test_scrubbing_is_idempotent(first: str, second: str, sep: str) -> None:
    once = scrub_text(first + sep + second)
    assert scrub_text(once) == once
