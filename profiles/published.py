"""The built-in agentic-coding profile: Applied Compute's published traces, converted whole.

`python -m agentload.profiles.generate --published agentic_coding_8k.jsonl` checks the file's
sha256 and writes it as a profile the way `profile import trie` does (one session per trace,
in file order; the record key order kept in the info), so `profile export trie
agentic-coding` writes the published file back byte for byte. Nothing is added: no
cross-session shared prefix and no hash_ids (replay gives each session its own prompt
blocks, as trie does); `profile transform --shared-prefix-tokens N` adds a shared system
prompt when one is wanted.

Attribution: the data is Applied Compute's (github.com/Applied-Compute/trie, workloads/),
Apache License 2.0; NOTICE and README say so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from agentload.base.errors import ConfigError
from agentload.profiles.fetch import TRIE_COMMIT, file_sha256
from agentload.traceformat import schema as s
from agentload.traceformat.foreign.convert import KEY_ORDER, first_record_keys
from agentload.traceformat.foreign.trie import read_trie
from agentload.traceformat.io import write_file

NAME: Final = "agentic-coding"
SOURCE_FILE: Final = "agentic_coding_8k.jsonl"
SHA256: Final = "d2d55501e49b59f4f507b932929eea47043eed51619a632b919416e205523788"
ATTRIBUTION: Final = (
    "Applied Compute, agentic_coding_8k.jsonl (github.com/Applied-Compute/trie, workloads/, "
    f"commit {TRIE_COMMIT[:12]}), Apache License 2.0"
)


def info_for(source: Path) -> dict[str, object]:
    return {
        "source": "builtin",
        "generator": "python -m agentload.profiles.generate --published FILE",
        "published_file": SOURCE_FILE,
        "published_sha256": SHA256,
        "attribution": ATTRIBUTION,
        KEY_ORDER: first_record_keys(source),
        "shared_prefix_tokens": 0,
        "arrivals": {"process": "all at 0 (the trie format has no arrival times)"},
    }


def write(source: Path, out_dir: Path) -> Path:
    """The built-in agentic-coding profile from the published file (sha256 checked)."""
    want = SHA256
    got = file_sha256(source)
    if got != want:
        raise ConfigError(f"{source}: sha256 {got}, expected the published {want}")
    return write_file(
        out_dir / f"{NAME}.arrow",
        s.Kind.PROFILE,
        read_trie(source, workload=NAME),
        info=info_for(source),
    )
