"""K-quants (Q2_K .. Q6_K, Q8_K) against the gguf Python package.

- dequantization: brisk must give bit-identical f32 (compared as uint32
  patterns) to gguf.quants.dequantize on thousands of random blocks; gguf has
  no Q8_K, so Q8_K is compared with a small numpy reference;
- quantization: the bytes brisk writes must dequantize through gguf to exactly
  what brisk's own dequantizer gives, i.e. brisk writes the layout gguf reads.
"""
import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
import gguf.quants

import brisk_ffi
from quant_blocks import random_blocks

GGUF_KQUANTS = [T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
ALL_KQUANTS = GGUF_KQUANTS + [T.Q8_K]
QK_K = 256
N_BLOCKS = 4096

# Offsets of the fp16 super-block scales, for the extreme-scale test.
FP16_SCALE_FIELDS = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2],
                     T.Q6_K: [208]}


def q8_k_reference(raw: np.ndarray) -> np.ndarray:
    """Q8_K block: f32 d, int8 qs[256], int16 bsums[16]; value = d * q."""
    blocks = raw.reshape(-1, GGML_QUANT_SIZES[T.Q8_K][1])
    d = blocks[:, :4].copy().view(np.float32)  # (n, 1)
    qs = blocks[:, 4:4 + QK_K].copy().view(np.int8).astype(np.float32)
    return (d * qs).reshape(-1)


def reference_dequantize(qtype, raw: np.ndarray) -> np.ndarray:
    if qtype == T.Q8_K:
        return q8_k_reference(raw)
    return gguf.quants.dequantize(raw, qtype).reshape(-1).astype(np.float32)


def assert_bits_equal(ours: np.ndarray, ref: np.ndarray, what: str):
    ours_bits = ours.view(np.uint32)
    ref_bits = np.ascontiguousarray(ref, dtype=np.float32).view(np.uint32)
    bad = np.flatnonzero(ours_bits != ref_bits)
    assert bad.size == 0, (
        f"{what}: {bad.size} of {ours.size} values differ; first at element {bad[0]} "
        f"(block {bad[0] // QK_K}): brisk {ours[bad[0]]!r} vs reference {ref[bad[0]]!r}")


def test_block_sizes_match_gguf():
    for qtype in ALL_KQUANTS:
        info = brisk_ffi.type_info(int(qtype))
        assert (info.block_size, info.block_bytes) == GGML_QUANT_SIZES[qtype], qtype.name
        assert info.can_dequantize and info.can_quantize, qtype.name


@pytest.mark.parametrize("qtype", ALL_KQUANTS, ids=lambda t: t.name)
def test_dequantize_bit_exact_random_blocks(qtype):
    rng = np.random.default_rng(1000 + int(qtype))
    raw = random_blocks(qtype, N_BLOCKS, rng)
    ours = brisk_ffi.dequantize(int(qtype), raw, N_BLOCKS * QK_K)
    assert_bits_equal(ours, reference_dequantize(qtype, raw), f"{qtype.name} dequantize")


@pytest.mark.parametrize("qtype", GGUF_KQUANTS, ids=lambda t: t.name)
def test_dequantize_bit_exact_extreme_scales(qtype):
    """Any finite fp16 super-block scale, subnormals and values up to 65504
    included: still the same bits as gguf."""
    rng = np.random.default_rng(2000 + int(qtype))
    n = 2048
    raw = random_blocks(qtype, n, rng).reshape(n, -1)
    for off in FP16_SCALE_FIELDS[qtype]:
        bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint16)
        bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0x83FF, bits)  # no inf/nan
        bits[: n // 8] &= 0x83FF  # plenty of subnormals
        raw[:, off:off + 2] = bits.view(np.uint8).reshape(-1, 2)
    raw = raw.reshape(-1)
    ours = brisk_ffi.dequantize(int(qtype), raw, n * QK_K)
    assert_bits_equal(ours, reference_dequantize(qtype, raw), f"{qtype.name} extreme scales")


def test_dequantize_q8_k_handmade_block():
    """Guards the numpy Q8_K reference itself (no gguf class to lean on)."""
    raw = np.zeros(292, dtype=np.uint8)
    raw[:4] = np.array([0.5], dtype=np.float32).view(np.uint8)
    qs = (np.arange(QK_K) - 128).astype(np.int8)
    raw[4:4 + QK_K] = qs.view(np.uint8)
    expected = 0.5 * (np.arange(QK_K) - 128).astype(np.float32)
    np.testing.assert_array_equal(brisk_ffi.dequantize(int(T.Q8_K), raw, QK_K), expected)
    np.testing.assert_array_equal(q8_k_reference(raw), expected)


def quantize_inputs(rng):
    """Rows of inputs for the layout round trip: normal data at several
    scales, an all-positive row, an all-negative row, a row with outliers,
    a zero super-block and a constant one."""
    n = 64 * QK_K
    rows = [
        rng.standard_normal(n),
        rng.standard_normal(n) * 0.02,
        rng.standard_normal(n) * 300.0,
        np.abs(rng.standard_normal(n)) + 0.5,
        -np.abs(rng.standard_normal(n)) - 0.5,
        rng.standard_normal(n) * np.where(rng.random(n) < 0.01, 50.0, 1.0),
        np.concatenate([np.zeros(QK_K), np.full(QK_K, 0.37), rng.standard_normal(n - 2 * QK_K)]),
        rng.laplace(size=n),
    ]
    return [np.asarray(r, dtype=np.float32) for r in rows]


@pytest.mark.parametrize("qtype", ALL_KQUANTS, ids=lambda t: t.name)
def test_quantized_bytes_read_back_identically(qtype):
    rng = np.random.default_rng(3000 + int(qtype))
    for i, x in enumerate(quantize_inputs(rng)):
        raw = brisk_ffi.quantize(int(qtype), x)
        assert raw.size == x.size // QK_K * GGML_QUANT_SIZES[qtype][1]
        ours = brisk_ffi.dequantize(int(qtype), raw, x.size)
        assert np.all(np.isfinite(ours)), f"{qtype.name} row {i}: non-finite output"
        assert_bits_equal(ours, reference_dequantize(qtype, raw), f"{qtype.name} row {i}")
        # A sanity bound, so that a quantizer writing garbage that both
        # readers agree on cannot pass (the C tests check the quality bands).
        rel = np.linalg.norm(x - ours) / np.linalg.norm(x)
        assert rel < 0.35, f"{qtype.name} row {i}: relative RMSE {rel:.3f}"


def test_q8_k_bsums():
    rng = np.random.default_rng(4000)
    x = rng.standard_normal(32 * QK_K).astype(np.float32)
    raw = brisk_ffi.quantize(int(T.Q8_K), x).reshape(32, -1)
    qs = raw[:, 4:4 + QK_K].copy().view(np.int8).astype(np.int32)
    bsums = raw[:, 4 + QK_K:].copy().view(np.int16).astype(np.int32)
    np.testing.assert_array_equal(bsums, qs.reshape(32, 16, 16).sum(axis=-1))
    # the value of largest magnitude uses the full int8 range
    assert np.all(np.abs(qs).max(axis=1) == 128)
