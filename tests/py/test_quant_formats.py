"""brisk's dequantization and reference quantization against gguf-py (gguf.quants).

Dequantization must be bit-exact on random blocks; quantization must produce
the same bytes on random and edge-case data. Needs libbrisk.so from
$BRISK_BUILD_DIR (see brisk_ffi.py)."""
import ctypes

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T
from gguf import quants

import brisk_ffi
from quant_blocks import random_blocks

# numpy warns about the overflows and invalid casts that the reference itself
# performs on degenerate blocks (e.g. 1/d = inf); those are expected here.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

DEQUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                 T.IQ4_NL, T.IQ4_XS, T.MXFP4]
QUANT_TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.MXFP4]
N_BLOCKS = 4096


def ids(types):
    return [t.name for t in types]


def assert_same_floats(got, want, what=""):
    """Equal as float32 bit patterns; NaNs must be at the same places (any payload)."""
    got = np.asarray(got, dtype=np.float32).ravel()
    want = np.asarray(want, dtype=np.float32).ravel()
    assert got.shape == want.shape
    gn, wn = np.isnan(got), np.isnan(want)
    assert np.array_equal(gn, wn), f"{what}: NaN positions differ at {np.flatnonzero(gn != wn)[:10]}"
    gb, wb = got.view(np.uint32)[~gn], want.view(np.uint32)[~wn]
    bad = np.flatnonzero(gb != wb)
    assert bad.size == 0, (f"{what}: {bad.size} of {gb.size} values differ, first at "
                           f"{np.flatnonzero(~gn)[bad[0]]}: {got[~gn][bad[0]]!r} vs {want[~wn][bad[0]]!r}")


def brisk_dequantize(qtype, raw):
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    n = raw.size // block_bytes * block_size
    return brisk_ffi.dequantize(int(qtype), raw, n)


def ref_dequantize(qtype, raw):
    return np.asarray(quants.dequantize(np.ascontiguousarray(raw, dtype=np.uint8), qtype),
                      dtype=np.float32).ravel()


def ref_quantize(qtype, values):
    out = quants.quantize(np.ascontiguousarray(values, dtype=np.float32), qtype)
    return np.ascontiguousarray(out).view(np.uint8).ravel()


def assert_same_bytes(qtype, values, what=""):
    values = np.ascontiguousarray(values, dtype=np.float32).ravel()
    got = brisk_ffi.quantize(int(qtype), values)
    want = ref_quantize(qtype, values)
    assert got.shape == want.shape
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    bad = np.flatnonzero(got != want)
    if bad.size:
        blk = bad[0] // block_bytes
        x = values[blk * block_size:(blk + 1) * block_size]
        pytest.fail(f"{qtype.name} {what}: {bad.size} bytes differ; first in block {blk}\n"
                    f"input {x!r}\nbrisk {got[blk * block_bytes:(blk + 1) * block_bytes]}\n"
                    f"gguf  {want[blk * block_bytes:(blk + 1) * block_bytes]}")


# ---------------------------------------------------------------------------
# traits
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("qtype", DEQUANT_TYPES, ids=ids(DEQUANT_TYPES))
def test_type_sizes_match_gguf(qtype):
    info = brisk_ffi.type_info(int(qtype))
    assert (info.block_size, info.block_bytes) == GGML_QUANT_SIZES[qtype]
    assert info.name.decode() == qtype.name
    assert info.can_dequantize
    assert info.can_quantize == (qtype in QUANT_TYPES)


# ---------------------------------------------------------------------------
# dequantization
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("qtype", DEQUANT_TYPES, ids=ids(DEQUANT_TYPES))
def test_dequantize_random_blocks_bit_exact(qtype):
    rng = np.random.default_rng(1000 + int(qtype))
    block_size = GGML_QUANT_SIZES[qtype][0]
    # a few thousand blocks; the plain types have 1-element blocks, so use more
    n_blocks = N_BLOCKS if block_size > 1 else N_BLOCKS * 32
    raw = random_blocks(qtype, n_blocks, rng)
    assert_same_floats(brisk_dequantize(qtype, raw), ref_dequantize(qtype, raw), qtype.name)


@pytest.mark.parametrize("qtype", [T.F16, T.BF16], ids=["F16", "BF16"])
def test_dequantize_every_half_pattern(qtype):
    raw = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.uint8)
    got, want = brisk_dequantize(qtype, raw), ref_dequantize(qtype, raw)
    # NaNs: all-ones exponent, non-zero mantissa (10 bits in F16, 7 in BF16), both signs
    assert np.isnan(want).sum() == (2 * 1023 if qtype == T.F16 else 2 * 127)
    assert_same_floats(got, want, qtype.name)
    if qtype == T.BF16:  # a pure bit shift: NaN payloads survive too
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_dequantize_mxfp4_every_scale_and_code():
    # 256 blocks: block e has scale byte e and codes 0..15, 15..0
    raw = np.zeros((256, 17), dtype=np.uint8)
    raw[:, 0] = np.arange(256)
    codes = np.concatenate([np.arange(16), np.arange(16)[::-1]]).astype(np.uint8)
    raw[:, 1:] = codes[:16] | (codes[16:] << 4)
    got, want = brisk_dequantize(T.MXFP4, raw.ravel()), ref_dequantize(T.MXFP4, raw.ravel())
    assert np.isinf(want).any() and (want[np.isfinite(want)] != 0).any()  # e = 255 overflows
    assert_same_floats(got, want, "MXFP4")


@pytest.mark.parametrize("qtype", [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.IQ4_XS],
                         ids=["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "IQ4_XS"])
def test_dequantize_extreme_scales(qtype):
    # random payloads with f16 scales at the ends of the range: subnormal, max, zero, -0
    rng = np.random.default_rng(7 + int(qtype))
    block_bytes = GGML_QUANT_SIZES[qtype][1]
    raw = random_blocks(qtype, 1024, rng).reshape(-1, block_bytes)
    scales = np.array([1, 2, 0x3ff, 0x7bff, 0xfbff, 0x0000, 0x8000, 0x0400, 0x8001],
                      dtype=np.uint16)
    fields = [0, 2] if qtype in (T.Q4_1, T.Q5_1) else [0]
    for off in fields:
        raw[:, off:off + 2] = scales[rng.integers(0, scales.size, raw.shape[0])].view(np.uint8).reshape(-1, 2)
    raw = raw.ravel()
    assert_same_floats(brisk_dequantize(qtype, raw), ref_dequantize(qtype, raw), qtype.name)


# ---------------------------------------------------------------------------
# quantization
# ---------------------------------------------------------------------------

SCALES = [1e-6, 1e-3, 0.02, 1.0, 30.0, 1e3, 6e4]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("qtype", QUANT_TYPES, ids=ids(QUANT_TYPES))
def test_quantize_random_normal_bytes_equal(qtype, scale):
    rng = np.random.default_rng(int(qtype) * 100 + SCALES.index(scale))
    x = (rng.standard_normal(2048 * 32) * scale).astype(np.float32)
    assert_same_bytes(qtype, x, f"normal*{scale}")


def _edge_blocks():
    """Named lists of 32-element blocks that stress the reference arithmetic."""
    rng = np.random.default_rng(42)
    f = np.float32
    blocks = {}
    blocks["zeros"] = [np.zeros(32, f)]
    blocks["all_equal"] = [np.full(32, v, f) for v in (1.0, -1.0, 0.7, -3.25, 1e-3, 1e5, 6e4, -7e4)]
    outl = []
    for v in (100.0, -100.0, 1e4, -1e30, 1e30):
        b = (rng.standard_normal(32) * 0.01).astype(f)
        b[rng.integers(32)] = v
        outl.append(b)
    blocks["single_outlier"] = outl
    neg = []
    for _ in range(16):
        b = rng.standard_normal(32).astype(f)
        b[rng.integers(32)] = -4 * np.abs(b).max()
        neg.append(b)
    blocks["negative_max"] = neg
    # magnitudes tying for the max, in both orders: the first one sets the sign
    tie = np.zeros(32, f)
    tie[3], tie[9] = 5.0, -5.0
    blocks["abs_tie"] = [tie, -tie, np.where(np.arange(32) % 2 == 0, f(2.5), f(-2.5)).astype(f)]
    # exact halves and integers hit the rounding and truncation boundaries
    blocks["halves"] = [(np.arange(32, dtype=f) - 16) * f(0.5), (np.arange(32, dtype=f) - 16),
                        np.arange(32, dtype=f) * f(0.25), (np.arange(32, dtype=f) - 15.5) * f(1 / 3)]
    # f16 subnormal range, f32 subnormals (1/d overflows to inf in the reference)
    tiny = []
    for s in (1e-5, 1e-7, 1e-8, 1e-30, 1e-37, 1e-38, 1e-39, 1e-41, 1e-44):
        tiny.append((rng.standard_normal(32) * s).astype(f))
        tiny.append(np.abs(rng.standard_normal(32) * s).astype(f))
    tiny.append(np.full(32, f(1.4e-45)))
    tiny.append(np.array([1.4e-45, -1.4e-45] * 16, f))
    blocks["tiny"] = tiny
    # large: the scale overflows f16, and max - min overflows f32
    blocks["huge"] = [(rng.standard_normal(32) * s).astype(f) for s in (7e4, 1e10, 1e37, 5e37)] + [
        np.array([3e38, -3e38] * 16, f), np.full(32, f(3.4e38))]
    # maxima at and just below powers of two (MXFP4's floor(log2(max)))
    p2 = []
    for k in range(-140, 128, 3):
        top = f(2.0) ** k if k >= -126 else f(2.0 ** k)
        for delta in (0, 1, 2, 3, 5, 9):
            b = (rng.uniform(-1, 1, 32) * top * f(0.5)).astype(f)
            b[rng.integers(32)] = np.frombuffer(
                (np.array([top], f).view(np.uint32) - np.uint32(delta)).tobytes(), f)[0]
            p2.append(b)
    blocks["near_pow2"] = p2
    # values exactly between two MXFP4 levels and on them
    lv = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], f)
    mids = np.concatenate([lv, (lv[1:] + lv[:-1]) / 2, -lv, -(lv[1:] + lv[:-1]) / 2, [6.5, -6.25]])
    assert mids.size == 32
    blocks["levels"] = [mids.astype(f), (mids * f(2 ** -10)).astype(f), (mids * f(3.0)).astype(f)]
    blocks["decision_boundaries"] = _boundary_blocks(rng)
    return {k: np.stack(v).astype(f) for k, v in blocks.items()}


def _boundary_blocks(rng):
    """Blocks whose elements sit on the rounding boundaries of the legacy formats,
    computed from the scale the reference itself derives (x = (k + 1/2) * d, or
    min + (k + 1/2) * d). Which side each lands on depends on every rounding in
    the arithmetic (division vs reciprocal, fused multiply-add, ...), so these
    catch deviations that random data almost never shows."""
    f = np.float32
    out = []
    for levels, lo_code, hi_code in ((8, -8, 7), (16, -16, 15), (127, -127, 126)):
        for _ in range(200):
            m = f(rng.choice([-1, 1]) * np.exp(rng.uniform(-12, 12)))
            d = m / f(-levels) if levels != 127 else abs(m) / f(127)
            k = rng.integers(lo_code, hi_code + 1, 32).astype(f)
            b = ((k + f(0.5)) * d).astype(f)
            b = np.where(np.abs(b) <= abs(m), b, m).astype(f)
            b[rng.integers(32)] = m
            out.append(b)
    for levels in (15, 31):
        for _ in range(200):
            lo = f(rng.normal() * np.exp(rng.uniform(-8, 8)))
            hi = f(lo + abs(f(rng.normal() * np.exp(rng.uniform(-8, 8)))) + f(1e-30))
            d = (hi - lo) / f(levels)
            b = (lo + (rng.integers(0, levels, 32).astype(f) + f(0.5)) * d).astype(f)
            b = np.clip(b, lo, hi).astype(f)
            i, j = rng.choice(32, 2, replace=False)
            b[i], b[j] = lo, hi
            out.append(b)
    return out


EDGE = _edge_blocks()


@pytest.mark.parametrize("case", sorted(EDGE))
@pytest.mark.parametrize("qtype", QUANT_TYPES, ids=ids(QUANT_TYPES))
def test_quantize_edge_cases_bytes_equal(qtype, case):
    assert_same_bytes(qtype, EDGE[case], case)


@pytest.mark.parametrize("qtype", QUANT_TYPES, ids=ids(QUANT_TYPES))
def test_quantize_non_finite_bytes_equal(qtype):
    f = np.float32
    rng = np.random.default_rng(5)
    blocks = []
    for v in (np.inf, -np.inf, np.nan):
        for pos in (0, 17, 31):
            b = rng.standard_normal(32).astype(f)
            b[pos] = v
            blocks.append(b)
    b = rng.standard_normal(32).astype(f)
    b[[4, 20]] = [np.inf, -np.inf]
    blocks.append(b)
    assert_same_bytes(qtype, np.stack(blocks), "non-finite")


@pytest.mark.parametrize("qtype", [T.F16, T.BF16], ids=["F16", "BF16"])
def test_quantize_float_bit_patterns(qtype):
    # many f32 bit patterns: all exponents, rounding ties, NaNs with payloads
    rng = np.random.default_rng(9)
    bits = rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 2**32, 4096, dtype=np.uint64).astype(np.uint32) & ~np.uint32(0x1fff)) | np.uint32(0x1000)
    bties = (rng.integers(0, 2**32, 4096, dtype=np.uint64).astype(np.uint32) & ~np.uint32(0xffff)) | np.uint32(0x8000)
    x = np.concatenate([bits, ties, bties]).view(np.float32)
    got = brisk_ffi.quantize(int(qtype), x).view(np.uint16)
    want = ref_quantize(qtype, x).view(np.uint16)
    if qtype == T.F16:
        # NaN payloads may differ: both must be NaN there, everything else equal
        gn = (got & 0x7c00 == 0x7c00) & (got & 0x3ff != 0)
        wn = (want & 0x7c00 == 0x7c00) & (want & 0x3ff != 0)
        assert np.array_equal(gn, wn)
        assert np.array_equal(got[~gn], want[~wn])
    else:
        assert np.array_equal(got, want)


def test_quantize_roundtrip_through_reference_dequantize():
    # gguf's own dequantization of brisk's bytes equals brisk's dequantization
    rng = np.random.default_rng(11)
    x = rng.standard_normal(256 * 32).astype(np.float32)
    for qtype in QUANT_TYPES:
        q = brisk_ffi.quantize(int(qtype), x)
        assert_same_floats(brisk_dequantize(qtype, q), ref_dequantize(qtype, q), qtype.name)


# ---------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------

BRISK_ERR_UNSUPPORTED, BRISK_ERR_ARG = 3, 5


def _call(fn, type_id, n):
    src = np.zeros(4096, dtype=np.float32)
    dst = np.zeros(4096, dtype=np.float32)
    err = brisk_ffi.BriskError()
    st = fn(type_id, src.ctypes.data, dst.ctypes.data, n, ctypes.byref(err))
    return st, err.msg.decode()


@pytest.mark.parametrize("qtype,n", [(T.Q4_0, 33), (T.Q8_0, 31), (T.MXFP4, 48), (T.Q5_1, -32),
                                     (T.IQ4_XS, 32), (T.IQ4_NL, 16)])
def test_length_not_multiple_of_block_is_rejected(qtype, n):
    for fn in (brisk_ffi.lib.brisk_dequantize, brisk_ffi.lib.brisk_quantize):
        if fn is brisk_ffi.lib.brisk_quantize and qtype in (T.IQ4_XS, T.IQ4_NL):
            continue  # these are rejected as unsupported before the length is looked at
        st, msg = _call(fn, int(qtype), n)
        assert st == BRISK_ERR_ARG, msg
        assert "multiple" in msg


def test_length_multiple_of_block_is_accepted():
    for qtype in (T.Q4_0, T.MXFP4, T.Q8_0):
        for fn in (brisk_ffi.lib.brisk_dequantize, brisk_ffi.lib.brisk_quantize):
            assert _call(fn, int(qtype), 64)[0] == 0
    assert _call(brisk_ffi.lib.brisk_dequantize, int(T.IQ4_XS), 256)[0] == 0


@pytest.mark.parametrize("qtype", [T.IQ4_NL, T.IQ4_XS, T.Q8_1, T.IQ2_XXS, T.I8],
                         ids=["IQ4_NL", "IQ4_XS", "Q8_1", "IQ2_XXS", "I8"])
def test_quantize_to_unsupported_type_is_rejected(qtype):
    assert not brisk_ffi.type_info(int(qtype)).can_quantize
    st, msg = _call(brisk_ffi.lib.brisk_quantize, int(qtype), 256)
    assert st == BRISK_ERR_UNSUPPORTED, msg


@pytest.mark.parametrize("qtype", [T.Q8_1, T.IQ2_XXS], ids=["Q8_1", "IQ2_XXS"])
def test_dequantize_unsupported_type_is_rejected(qtype):
    st, msg = _call(brisk_ffi.lib.brisk_dequantize, int(qtype), 256)
    assert st == BRISK_ERR_UNSUPPORTED, msg


def test_unknown_type_id_is_rejected():
    for type_id in (4, 5, 31, 40, 1000):
        for fn in (brisk_ffi.lib.brisk_dequantize, brisk_ffi.lib.brisk_quantize):
            st, msg = _call(fn, type_id, 32)
            assert st == BRISK_ERR_ARG, (type_id, msg)
