"""A small random-weight model of a family that has no real model offline,
written as GGUF with its reference logits from Hugging Face transformers.

    python tests/reference/make_synthetic_fixture.py NAME OUT_DIR     (NAME: a key of VARIANTS)

Weights are drawn at random (seeded), quantized with the gguf package to a mix
of formats and dequantized back, and those exact values are loaded into the
transformers model: the GGUF file brisk reads and the model that produces the
reference logits hold the same numbers. The tensor names follow the GGUF
conventions for the family (the same names llama.cpp's converter writes).
Variants also cover what the real models offline do not: RoPE scaling
(llama3-style frequency factors, linear, YaRN) and Q/K row permutation of the
llama family. Writes OUT_DIR/NAME.gguf and OUT_DIR/NAME.npz (the same fixture
format as record_logits.py). Needs torch, transformers, gguf."""
import pathlib
import sys

import gguf
import numpy as np
import torch
import transformers
from gguf import GGMLQuantizationType as Q

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from record_logits import K  # noqa: E402

SEED = 1234
ROPE_THETA = 1000000.0
N_VOCAB = 512

# The first 256 tokens are GPT-2's byte alphabet (byte-level BPE), then merges' results and specials.
MERGES = ["Ġ t", "h e", "i n", "Ġ a", "e r", "o n"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(256)]


def vocab():
    tokens = byte_alphabet() + [m.replace(" ", "") for m in MERGES] + SPECIALS
    types = [1] * (len(tokens) - len(SPECIALS)) + [3] * len(SPECIALS)
    while len(tokens) < N_VOCAB:
        tokens.append(f"[PAD{len(tokens)}]")
        types.append(4)
    return tokens, types


def qwen3_config():
    return transformers.Qwen3Config(
        vocab_size=N_VOCAB, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=96,  # head_dim != hidden/heads on purpose
        max_position_embeddings=2048, rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        rms_norm_eps=1e-6,
        tie_word_embeddings=False, attention_bias=False, torch_dtype="float32")


# HF parameter name (per layer with {i}) -> (GGUF name, storage type). Types vary on
# purpose so that the forward pass meets several formats.
QWEN3_MAP = {
    "model.embed_tokens.weight": ("token_embd.weight", Q.Q8_0),
    "model.norm.weight": ("output_norm.weight", Q.F32),
    "lm_head.weight": ("output.weight", Q.Q8_0),
    "model.layers.{i}.input_layernorm.weight": ("blk.{i}.attn_norm.weight", Q.F32),
    "model.layers.{i}.self_attn.q_proj.weight": ("blk.{i}.attn_q.weight", Q.Q4_0),
    "model.layers.{i}.self_attn.k_proj.weight": ("blk.{i}.attn_k.weight", Q.Q5_1),
    "model.layers.{i}.self_attn.v_proj.weight": ("blk.{i}.attn_v.weight", Q.Q8_0),
    "model.layers.{i}.self_attn.o_proj.weight": ("blk.{i}.attn_output.weight", Q.F16),
    "model.layers.{i}.self_attn.q_norm.weight": ("blk.{i}.attn_q_norm.weight", Q.F32),
    "model.layers.{i}.self_attn.k_norm.weight": ("blk.{i}.attn_k_norm.weight", Q.F32),
    "model.layers.{i}.post_attention_layernorm.weight": ("blk.{i}.ffn_norm.weight", Q.F32),
    "model.layers.{i}.mlp.gate_proj.weight": ("blk.{i}.ffn_gate.weight", Q.Q4_1),
    "model.layers.{i}.mlp.up_proj.weight": ("blk.{i}.ffn_up.weight", Q.BF16),
    "model.layers.{i}.mlp.down_proj.weight": ("blk.{i}.ffn_down.weight", Q.Q5_0),
}


def gemma3_config():
    # 7 layers: 0-4 and 6 sliding-window (window 8, shorter than the prompts), 5 global.
    return transformers.Gemma3TextConfig(
        vocab_size=N_VOCAB, hidden_size=256, intermediate_size=512, num_hidden_layers=7,
        num_attention_heads=4, num_key_value_heads=1, head_dim=64, query_pre_attn_scalar=64,
        sliding_window=8, max_position_embeddings=2048, rms_norm_eps=1e-6,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                         "full_attention": {"rope_type": "default", "rope_theta": ROPE_THETA}},
        tie_word_embeddings=True, torch_dtype="float32")


# Gemma's RMSNorm multiplies by (1 + w); the GGUF stores 1 + w (as llama.cpp's converter does).
GEMMA3_MAP = {
    "model.embed_tokens.weight": ("token_embd.weight", Q.Q8_0),
    "model.norm.weight": ("output_norm.weight", Q.F32),
    "model.layers.{i}.input_layernorm.weight": ("blk.{i}.attn_norm.weight", Q.F32),
    "model.layers.{i}.self_attn.q_proj.weight": ("blk.{i}.attn_q.weight", Q.Q8_0),
    "model.layers.{i}.self_attn.k_proj.weight": ("blk.{i}.attn_k.weight", Q.Q4_0),
    "model.layers.{i}.self_attn.v_proj.weight": ("blk.{i}.attn_v.weight", Q.F16),
    "model.layers.{i}.self_attn.o_proj.weight": ("blk.{i}.attn_output.weight", Q.Q5_0),
    "model.layers.{i}.self_attn.q_norm.weight": ("blk.{i}.attn_q_norm.weight", Q.F32),
    "model.layers.{i}.self_attn.k_norm.weight": ("blk.{i}.attn_k_norm.weight", Q.F32),
    "model.layers.{i}.post_attention_layernorm.weight": ("blk.{i}.post_attention_norm.weight", Q.F32),
    "model.layers.{i}.pre_feedforward_layernorm.weight": ("blk.{i}.ffn_norm.weight", Q.F32),
    "model.layers.{i}.post_feedforward_layernorm.weight": ("blk.{i}.post_ffw_norm.weight", Q.F32),
    "model.layers.{i}.mlp.gate_proj.weight": ("blk.{i}.ffn_gate.weight", Q.Q8_0),
    "model.layers.{i}.mlp.up_proj.weight": ("blk.{i}.ffn_up.weight", Q.Q4_1),
    "model.layers.{i}.mlp.down_proj.weight": ("blk.{i}.ffn_down.weight", Q.BF16),
}

LLAMA_MAP = {k: v for k, v in QWEN3_MAP.items() if "_norm" not in k.split(".")[-2]}
QWEN2_MAP = dict(LLAMA_MAP, **{
    f"model.layers.{{i}}.self_attn.{x}_proj.bias": (f"blk.{{i}}.attn_{x}.bias", Q.F32) for x in "qkv"})

# Short original contexts, so that scaling changes the frequencies the prompts use.
ROPE_LLAMA3 = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
ROPE_LINEAR = {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}
ROPE_YARN = {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0, "original_max_position_embeddings": 16}


def small_config(cls, rope, max_positions=2048):
    return cls(vocab_size=N_VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
               rope_parameters=rope, rms_norm_eps=1e-5, tie_word_embeddings=False, torch_dtype="float32")


def llama3_freq_factors(rope, head_dim):
    """rope_freqs.weight as the GGUF converter writes it: per rotary pair, the
    divisor of its frequency under llama3-style scaling."""
    inv_freq = 1.0 / rope["rope_theta"] ** (np.arange(0, head_dim, 2) / head_dim)
    orig, factor = rope["original_max_position_embeddings"], rope["factor"]
    low_wavelen, high_wavelen = orig / rope["low_freq_factor"], orig / rope["high_freq_factor"]
    out = []
    for f in inv_freq:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (orig / wavelen - rope["low_freq_factor"]) / (rope["high_freq_factor"] - rope["low_freq_factor"])
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def permute_qk(rows, n_head):
    """Rows of a llama Q/K projection reordered the way the GGUF converter does,
    so that RoPE can rotate adjacent pairs: [n_head, 2, d/2, n_in] -> [n_head, d/2, 2, n_in]."""
    return rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def gguf_rope_llama3(w, cfg):
    w.add_tensor("rope_freqs.weight", llama3_freq_factors(ROPE_LLAMA3, cfg.head_dim))


def gguf_rope_linear(w, cfg):
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(ROPE_LINEAR["factor"])


def gguf_rope_yarn(w, cfg):
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(ROPE_YARN["factor"])
    w.add_rope_scaling_orig_ctx_len(ROPE_YARN["original_max_position_embeddings"])


def gguf_sliding_window(w, cfg):
    w.add_sliding_window(cfg.sliding_window)


# name -> how to build it: HF config and class, GGUF architecture and tensor names,
# value added to norm weights in the GGUF, extra GGUF content, llama Q/K permutation.
VARIANTS = {
    "qwen3-tiny": dict(config=qwen3_config, cls=transformers.Qwen3ForCausalLM, arch="qwen3", map=QWEN3_MAP),
    "gemma3-tiny": dict(config=gemma3_config, cls=transformers.Gemma3ForCausalLM, arch="gemma3",
                        map=GEMMA3_MAP, norm_offset=1.0, extra=gguf_sliding_window),
    "llama-rope-llama3-tiny": dict(config=lambda: small_config(transformers.LlamaConfig, ROPE_LLAMA3),
                                   cls=transformers.LlamaForCausalLM, arch="llama", map=LLAMA_MAP,
                                   extra=gguf_rope_llama3, permute=True),
    "llama-rope-linear-tiny": dict(config=lambda: small_config(transformers.LlamaConfig, ROPE_LINEAR),
                                   cls=transformers.LlamaForCausalLM, arch="llama", map=LLAMA_MAP,
                                   extra=gguf_rope_linear, permute=True),
    "qwen2-yarn-tiny": dict(config=lambda: small_config(transformers.Qwen2Config, ROPE_YARN, max_positions=64),
                            cls=transformers.Qwen2ForCausalLM, arch="qwen2", map=QWEN2_MAP,
                            extra=gguf_rope_yarn),
}


def lookup(mapping, hf_name):
    for pattern, (gname, qtype) in mapping.items():
        parts = hf_name.split(".")
        if "{i}" in pattern:
            i = next((p for p in parts if p.isdigit()), None)
            if i is not None and pattern.format(i=i) == hf_name:
                return gname.format(i=i), qtype
        elif pattern == hf_name:
            return gname, qtype
    raise KeyError(hf_name)


def main() -> int:
    name, out_dir = sys.argv[1], pathlib.Path(sys.argv[2])
    v = VARIANTS[name]
    mapping, norm_offset = v["map"], v.get("norm_offset", 0.0)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    cfg = v["config"]()
    model = v["cls"](cfg).eval()
    gguf_path = out_dir / f"{name}.gguf"
    w = gguf.GGUFWriter(str(gguf_path), arch=v["arch"])
    w.add_name(f"{name} (random weights, brisk test fixture)")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    rope = cfg.rope_parameters
    w.add_rope_freq_base(rope.get("rope_theta", rope.get("full_attention", {}).get("rope_theta")))
    if "extra" in v:
        v["extra"](w, cfg)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    tokens, types = vocab()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(MERGES)
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)

    state = {}
    for pname, param in model.state_dict().items():
        if pname == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        gname, qtype = lookup(mapping, pname)
        shape = tuple(param.shape)
        if pname.endswith("norm.weight"):
            values = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32) - norm_offset
        else:
            values = (0.05 * rng.standard_normal(shape)).astype(np.float32)
        if pname.endswith("norm.weight"):  # f32, stored with the family's offset
            state[pname] = torch.from_numpy(values)
            w.add_tensor(gname, values + np.float32(norm_offset), raw_dtype=qtype)
            continue
        if qtype == Q.F32:  # biases
            state[pname] = torch.from_numpy(values)
            w.add_tensor(gname, values)
            continue
        stored = gguf.quants.quantize(values, qtype)
        exact = gguf.quants.dequantize(stored, qtype).reshape(shape).astype(np.float32)
        state[pname] = torch.from_numpy(exact)
        if v.get("permute") and gname.endswith(("attn_q.weight", "attn_k.weight")):
            heads = cfg.num_attention_heads if "attn_q" in gname else cfg.num_key_value_heads
            stored = permute_qk(stored, heads)  # rows are quantized independently
        w.add_tensor(gname, stored, raw_dtype=qtype)
    result = model.load_state_dict(state, strict=False)
    assert set(result.missing_keys) <= {"lm_head.weight"} and not result.unexpected_keys, result
    if cfg.tie_word_embeddings:
        model.tie_weights()
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    prompts = [rng.integers(0, N_VOCAB - 8, size=n).astype(np.int32) for n in (24, 40, 57)]
    record = {"model": np.array(gguf_path.name), "transformers": np.array(transformers.__version__),
              "n_prompts": np.array(len(prompts))}
    with torch.no_grad():
        for i, ids in enumerate(prompts):
            logits = model(torch.from_numpy(ids.astype(np.int64))[None]).logits[0].float()
            top = torch.topk(logits, K, dim=-1)
            record[f"ids_{i}"] = ids
            record[f"top_ids_{i}"] = top.indices.numpy().astype(np.int32)
            record[f"top_logits_{i}"] = top.values.numpy().astype(np.float32)
            record[f"lse_{i}"] = torch.logsumexp(logits, -1).numpy().astype(np.float32)
            record[f"full_pos_{i}"] = np.arange(len(ids), dtype=np.int32)
            record[f"full_logits_{i}"] = logits.numpy().astype(np.float16)
    np.savez_compressed(out_dir / f"{name}.npz", **record)
    print(f"wrote {gguf_path} ({gguf_path.stat().st_size} bytes) and its logits", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
