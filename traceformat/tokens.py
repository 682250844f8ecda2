"""The offline tokenizers: every regex that cuts text into tokens, in one place.

Two rule sets, kept apart because each fixes recorded outputs: changing either would change
built-in profiles' hash blocks and the sim's token ids and counts.

* `agentload-regex-v1` (`tokenize`) cuts prompts into hash blocks and counts calls without
  usage.
* `agentload-sim-v1` (`sim_pieces`) is the sim's pre-tokenizer; `simengine/tokenizer.py`
  maps each piece to a token id.


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


SIM_TOKENIZER_NAME: Final = "agentload-sim-v1"
SIM_MAX_PIECE_CHARS: Final = 6

# Pieces of at most SIM_MAX_PIECE_CHARS characters (bounded repeats cut long runs): an
# optional leading space followed by ASCII letters, up to 3 digits, or other non-space
# characters; or whitespace (the space before a word stays with the word).
SIM_PIECE_RE: Final = re.compile(
    r" [A-Za-z]{1,5}|[A-Za-z]{1,6}| ?[0-9]{1,3}| [^\sA-Za-z0-9]{1,5}|[^\sA-Za-z0-9]{1,6}"
    r"|\s{1,6}(?!\S)|\s{1,6}"
)


def sim_pieces(text: str) -> list[str]:
    """The sim's pieces of a text, in order; their concatenation is the text."""
    pieces: list[str] = SIM_PIECE_RE.findall(text)
    return pieces
