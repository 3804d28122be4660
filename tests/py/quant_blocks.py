"""Random blocks of every tensor format, for bit-exact comparisons with gguf.quants.

Quantized fields get random bytes; scale fields get finite random values, so
that dequantization never meets NaN/Inf from the scales themselves."""
import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T

# Byte offsets of fp16 scale fields inside one block, per type.
FP16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}
# Byte offsets of f32 scale fields.
F32_FIELDS = {T.Q8_K: [0]}


def random_finite_f16(rng, n, scale=1.0):
    return (rng.standard_normal(n) * scale).astype(np.float16)


def random_blocks(qtype, n_blocks, rng):
    """uint8 array of n_blocks blocks of qtype with random content."""
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        return rng.standard_normal(n_blocks).astype(np.float32).view(np.uint8)
    if qtype == T.F16:
        return random_finite_f16(rng, n_blocks).view(np.uint8)
    if qtype == T.BF16:
        bits = (rng.standard_normal(n_blocks).astype(np.float32).view(np.uint32) >> 16)
        return bits.astype(np.uint16).view(np.uint8)
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in FP16_FIELDS.get(qtype, []):
        raw[:, off:off + 2] = random_finite_f16(rng, n_blocks, 0.05).view(np.uint8).reshape(-1, 2)
    for off in F32_FIELDS.get(qtype, []):
        vals = (rng.standard_normal(n_blocks) * 0.01).astype(np.float32)
        raw[:, off:off + 4] = vals.view(np.uint8).reshape(-1, 4)
    return raw.reshape(-1)
