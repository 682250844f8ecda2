"""A Hugging Face tokenizer directory equivalent to the sim's tokenizer, for peers that
insist on loading one (trie, AIPerf, GuideLLM and inference-perf all call
`AutoTokenizer.from_pretrained`; there is no network to the Hub here).

The sim's tokenizer (simengine/tokenizer.py) splits text with one regex and maps the 37,666
canonical pieces (" " + 1-3 letters or digits) arithmetically. The equivalent here is a
`WordLevel` model over exactly those pieces, the same regex as an isolating `Split`
pre-tokenizer and a `Fuse` decoder, so decode(ids) is the sim's canonical text and both
sides count the same tokens for any text made of canonical pieces (what peers generate by
decoding random ids). Built with the peer environment's own `tokenizers` package.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

from agentload.simengine import tokenizer as simtok
from agentload.traceformat.tokens import SIM_PIECE_RE
from benchmarks.peers.venvs import peers_dir

_BUILD = r"""
import json, sys
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders
vocab_file, pattern_file, out = sys.argv[1:4]
pieces = json.load(open(vocab_file))
tok = Tokenizer(models.WordLevel({p: i for i, p in enumerate(pieces)}, unk_token=pieces[0]))
tok.pre_tokenizer = pre_tokenizers.Split(Regex(open(pattern_file).read()), behavior="isolated")
tok.decoder = decoders.Fuse()
tok.save(out + "/tokenizer.json")
"""


def ensure_tokenizer(peer_python: Path) -> Path:
    """Build (once) and return the tokenizer directory."""
    pieces = [simtok.id_piece(i) for i in range(simtok.VOCAB_SIZE)]
    pattern = SIM_PIECE_RE.pattern  # the sim's splitting rules
    key = hashlib.blake2b(json.dumps([pieces, pattern]).encode(), digest_size=6).hexdigest()
    out = peers_dir() / f"sim-tokenizer-{key}"
    if (out / "tokenizer.json").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, pat = Path(tmp) / "vocab.json", Path(tmp) / "pattern.txt"
        vocab.write_text(json.dumps(pieces))
        pat.write_text(pattern)
        subprocess.run(
            [str(peer_python), "-c", _BUILD, str(vocab), str(pat), str(out)],
            check=True,
            capture_output=True,
        )
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 1 << 20,
        "clean_up_tokenization_spaces": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config))
    return out
