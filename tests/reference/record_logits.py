"""Records reference logits with Hugging Face transformers for brisk's logit tests.

    python tests/reference/record_logits.py MODEL.gguf OUT.npz

transformers loads the GGUF file itself (weights dequantized to float32) and
builds its tokenizer from the same file; each prompt is tokenized with it and
run teacher-forced in float32 on the CPU. Full logits of every position are
too large to commit (vocab x positions), so the fixture keeps:
  - per position: the K largest logits (float32) with their token ids and the
    log-sum-exp of the whole row — for top-1 agreement and the relative error
    of the logits that matter;
  - whole rows (float16) at evenly spaced positions, as many as fit in
    FULL_ROW_BUDGET bytes per model — for the exact KL divergence.

Needs torch, transformers, gguf, sentencepiece, protobuf (not part of CI:
run once, commit the .npz)."""
import pathlib
import sys

import numpy as np
import torch
import transformers

K = 256
FULL_ROW_BUDGET = 4 << 20  # bytes of float16 full rows per model

PROMPTS = [
    "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n    return",
    "Once upon a time, in a small village at the edge of a great forest, there lived an old clockmaker who",
    "Q: What is 17 times 23?\nA: 17 times 23 is 391.\nQ: What is the boiling point of water at sea level in Celsius?\nA:",
]


def main() -> int:
    gguf_path = pathlib.Path(sys.argv[1]).resolve()
    out_path = pathlib.Path(sys.argv[2])
    torch.set_grad_enabled(False)
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, torch_dtype=torch.float32)
    model.eval()
    record = {"model": np.array(gguf_path.name), "transformers": np.array(transformers.__version__),
              "n_prompts": np.array(len(PROMPTS))}
    encoded = [tok(p, return_tensors="pt").input_ids for p in PROMPTS]
    n_positions = sum(ids.shape[1] for ids in encoded)
    vocab = model.config.get_text_config().vocab_size
    stride = max(1, -(-n_positions * vocab * 2 // FULL_ROW_BUDGET))  # ceil
    for i, ids in enumerate(encoded):
        logits = model(ids).logits[0].float()  # [T, V]
        full_pos = np.arange(stride - 1, ids.shape[1], stride, dtype=np.int32)
        record[f"full_pos_{i}"] = full_pos
        record[f"full_logits_{i}"] = logits[full_pos].numpy().astype(np.float16)
        top = torch.topk(logits, K, dim=-1)
        record[f"ids_{i}"] = ids[0].numpy().astype(np.int32)
        record[f"top_ids_{i}"] = top.indices.numpy().astype(np.int32)
        record[f"top_logits_{i}"] = top.values.numpy().astype(np.float32)
        record[f"lse_{i}"] = torch.logsumexp(logits, dim=-1).numpy().astype(np.float32)
        mass = torch.softmax(logits, -1).gather(-1, top.indices).sum(-1)
        print(f"prompt {i}: {ids.shape[1]} tokens, top-{K} mass min {mass.min():.4f}", file=sys.stderr)
    np.savez_compressed(out_path, **record)
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
