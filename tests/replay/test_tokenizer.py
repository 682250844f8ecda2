"""--tokenizer: text prompts sized with a local Hugging Face tokenizer where the target has
no /tokenize (replay.calibrate). Skipped without the optional `tokenizers` package."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentload.base.errors import ConfigError
from agentload.replay.calibrate import calibrate, local_counter
from agentload.replay.config import ApiChoice
from agentload.replay.materialize import Materializer
from agentload.replay.plan import CallPlan

tokenizers = pytest.importorskip("tokenizers")

NO_TOKENIZE = "http://127.0.0.1:1"  # connection refused: no /tokenize to ask


def _tokenizer_file(tmp: Path) -> Path:
    """A tokenizer that cuts words into pieces of up to 3 letters, each space a piece too:
    ~3 tokens per word, so a 1-token-per-word guess is far off and the calibration must
    find the ratio."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[a-z]{1,3}"), behavior="isolated")
    path = tmp / "tokenizer.json"
    tok.save(str(path))
    return path


def test_local_tokenizer_sizes_text_prompts(tmp_path: Path) -> None:
    path = _tokenizer_file(tmp_path)
    count = local_counter(tmp_path)  # a directory holding tokenizer.json
    mat = Materializer(ApiChoice.CHAT, "m", block_size=16)
    tuned, cal = calibrate(mat, NO_TOKENIZE, {}, tokenizer=path)
    assert "the local tokenizer" in cal.note
    assert 2.0 < tuned.tokens_per_word < 4.0
    for size in (700, 3000):
        call = CallPlan(0, 0.0, size, 1, None, final=True)
        text = tuned.text(tuned.blocks("check", call, None), size)
        served = count(text, False)
        assert served is not None and abs(served - size) <= 0.02 * size
    # without it, 1 token per word: about a third of the tokens asked for
    plain, note = calibrate(mat, NO_TOKENIZE, {})
    assert plain.tokens_per_word == 1.0 and "unavailable" in note.note


def test_unreadable_tokenizer_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"--tokenizer: .*tokenizer.json: not a tokenizer"):
        local_counter(bad)
