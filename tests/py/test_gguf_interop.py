"""GGUF interoperability between brisk and the `gguf` Python package (0.19.0).

(a) a file written by gguf.GGUFWriter: `brisk inspect --json --full` agrees with
    gguf.GGUFReader (and with what was written) on every key, type and value and
    on every tensor's name, type, shape, offset and byte count;
(b) `gguf_tool copy` (brisk's reader + writer) reproduces that file byte for byte;
(c) `gguf_tool sample` (brisk's writer) is read by gguf.GGUFReader with every
    value and every tensor byte as brisk wrote them;
(d) all of it for GGUF v2 and v3. gguf.GGUFWriter only writes v3
    (gguf.GGUF_VERSION); v2 differs from v3 only in the version field (both have
    64-bit counts and lengths), so v2 files are v3 files with that field patched.

The build comes from $BRISK_BUILD_DIR (default ./build), as in brisk_ffi.py.
"""
import json
import math
import os
import pathlib
import struct
import subprocess

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

# As in brisk_ffi.py, without loading libbrisk.so (only the executables are
# used, so this also runs against a sanitizer build, which has no such library)
ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = pathlib.Path(os.environ.get("BRISK_BUILD_DIR", ROOT / "build"))
BRISK_BIN = BUILD_DIR / "brisk"
GGUF_TOOL = BUILD_DIR / "gguf_tool"
SCALAR_NP = {
    V.UINT8: np.uint8, V.INT8: np.int8, V.UINT16: np.uint16, V.INT16: np.int16,
    V.UINT32: np.uint32, V.INT32: np.int32, V.FLOAT32: np.float32, V.BOOL: np.bool_,
    V.UINT64: np.uint64, V.INT64: np.int64, V.FLOAT64: np.float64,
}


def run(*args, check=True):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=check)


def inspect_json(path):
    return json.loads(run(BRISK_BIN, "inspect", "--json", "--full", path).stdout)


def set_version(path, version):
    """Rewrite the u32 version field at offset 4 in place."""
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", version))


# ---------------------------------------------------------------------------
# Values: typed trees that both sides are turned into
# ---------------------------------------------------------------------------

def f32(x):
    return float(np.float32(x))


def norm(vtype, value):
    """Python value of one scalar of vtype (float32 rounded as the file holds it)."""
    if vtype == V.BOOL:
        return bool(value)
    if vtype == V.FLOAT32:
        return f32(value)
    if vtype == V.FLOAT64:
        return float(value)
    if vtype == V.STRING:
        return value
    return int(value)


def walk_parts(parts, i, vtype):
    """Decode one value of vtype from gguf-py's flat `parts` starting at i.
    GGUFReader flattens nested arrays (ReaderField.contents() cannot return
    them), so walk the raw parts: scalar = [value], string = [len, bytes],
    array = [elem type, count, *elements]. Returns (typed value, next i), where
    a typed value is (type, python value) and an array's value is
    (elem type, [typed elements])."""
    if vtype == V.STRING:
        assert int(parts[i][0]) == len(parts[i + 1])
        return (V.STRING, bytes(parts[i + 1]).decode("utf-8")), i + 2
    if vtype == V.ARRAY:
        etype = V(int(parts[i][0]))
        n = int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(n):
            item, i = walk_parts(parts, i, etype)
            items.append(item)
        return (V.ARRAY, (etype, items)), i
    assert parts[i].dtype == SCALAR_NP[vtype], (parts[i].dtype, vtype)
    return (vtype, norm(vtype, parts[i][0])), i + 1


def reader_fields(reader):
    """key -> typed value, in file order, for every metadata entry."""
    out = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):  # gguf-py's pseudo-fields for the header
            continue
        # parts: key length, key bytes, value type, value parts
        assert int(field.parts[2][0]) == field.types[0]
        value, end = walk_parts(field.parts, 3, field.types[0])
        assert end == len(field.parts), key
        out[key] = value
    return out


def typed(vtype, value, etype=None):
    """The typed value of a Python value written as vtype (arrays: of etype)."""
    if vtype != V.ARRAY:
        return (vtype, norm(vtype, value))
    items = []
    for v in value:
        if isinstance(v, list):  # nested: the element type follows gguf-py's inference
            items.append(typed(V.ARRAY, v, V.get_type(v[0])))
        else:
            items.append(typed(etype, v))
    return (V.ARRAY, (etype, items))


def json_float(x):
    return float(x) if isinstance(x, str) else x  # "nan", "inf", "-inf"


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


def check_json_value(entry_type, jvalue, tv, where):
    """A value in brisk's JSON against a typed value."""
    vtype, value = tv
    assert entry_type is None or entry_type == vtype.name.lower(), where
    if vtype == V.ARRAY:
        etype, items = value
        assert isinstance(jvalue, list) and len(jvalue) == len(items), where
        for k, (jv, item) in enumerate(zip(jvalue, items)):
            assert item[0] == etype, where
            check_json_value(None, jv, item, f"{where}[{k}]")
    elif vtype in (V.FLOAT32, V.FLOAT64):
        assert same_float(json_float(jvalue), value), (where, jvalue, value)
    elif vtype == V.BOOL:
        assert jvalue is value, where
    else:
        assert type(jvalue) is type(value) and jvalue == value, (where, jvalue, value)


def same_typed(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == V.ARRAY:
        return a[1][0] == b[1][0] and len(a[1][1]) == len(b[1][1]) and all(
            same_typed(x, y) for x, y in zip(a[1][1], b[1][1]))
    if a[0] in (V.FLOAT32, V.FLOAT64):
        return same_float(a[1], b[1])
    return a[1] == b[1]


def check_report_against_reader(report, reader, path):
    """Everything brisk inspect says about a file against gguf.GGUFReader."""
    assert report["version"] == int(reader.fields["GGUF.version"].parts[0][0])
    assert report["file_size"] == path.stat().st_size
    assert report["alignment"] == reader.alignment
    assert report["data_offset"] == reader.data_offset
    fields = reader_fields(reader)
    assert [m["key"] for m in report["metadata"]] == list(fields)  # same keys, same order
    for m in report["metadata"]:
        tv = fields[m["key"]]
        assert m["type"] == tv[0].name.lower(), m["key"]
        assert m["truncated"] is False
        if tv[0] == V.ARRAY:
            assert m["elem_type"] == tv[1][0].name.lower(), m["key"]
            assert m["count"] == len(tv[1][1]), m["key"]
        check_json_value(m["type"], m["value"], tv, m["key"])
    assert len(report["tensors"]) == len(reader.tensors)
    for got, t in zip(report["tensors"], reader.tensors):
        assert got["name"] == t.name
        assert got["type"] == t.tensor_type.name, t.name
        assert got["shape"] == [int(x) for x in t.shape], t.name
        assert got["n_elements"] == t.n_elements, t.name
        assert got["bytes"] == t.n_bytes, t.name
        assert got["offset"] == t.data_offset, t.name
    return fields


# ---------------------------------------------------------------------------
# (a) a file written by gguf.GGUFWriter
# ---------------------------------------------------------------------------

# key -> (type, value, element type for arrays), in the order written
PY_METADATA = {
    "general.alignment": (V.UINT32, 64, None),
    "py.uint8": (V.UINT8, 250, None),
    "py.int8": (V.INT8, -120, None),
    "py.uint16": (V.UINT16, 65000, None),
    "py.int16": (V.INT16, -32000, None),
    "py.uint32": (V.UINT32, 4000000000, None),
    "py.int32": (V.INT32, -2000000000, None),
    "py.float32": (V.FLOAT32, 0.1, None),
    "py.bool": (V.BOOL, True, None),
    "py.bool.false": (V.BOOL, False, None),
    "py.string": (V.STRING, "h\u00e9llo, w\u00f6rld \u2603", None),
    "py.string.empty": (V.STRING, "", None),
    # (uint64 above INT64_MAX is left out: brisk inspect's JSON gives it as a real)
    "py.uint64": (V.UINT64, 2**63 - 1, None),
    "py.uint64.odd": (V.UINT64, 2**53 + 1, None),  # not exact as a double
    "py.int64": (V.INT64, -2**63, None),
    "py.float64": (V.FLOAT64, -1.0 / 3.0, None),
    "py.array.uint8": (V.ARRAY, [0, 7, 255], V.UINT8),
    "py.array.int8": (V.ARRAY, [-128, -1, 127], V.INT8),
    "py.array.uint16": (V.ARRAY, [0, 258, 65535], V.UINT16),
    "py.array.int16": (V.ARRAY, [-32768, 5, 32767], V.INT16),
    "py.array.uint32": (V.ARRAY, [0, 0x01020304, 0xFFFFFFFF], V.UINT32),
    "py.array.int32": (V.ARRAY, [-2**31, 0, 2**31 - 1], V.INT32),
    "py.array.float32": (V.ARRAY, [1.5, -0.0, 0.1, float("inf"), float("nan")], V.FLOAT32),
    "py.array.bool": (V.ARRAY, [True, False, True], V.BOOL),
    "py.array.uint64": (V.ARRAY, [0, 2**40, 2**63 - 1], V.UINT64),
    "py.array.int64": (V.ARRAY, [-2**63, -2, 2**63 - 1], V.INT64),
    "py.array.float64": (V.ARRAY, [0.1, float("-inf"), 1e300], V.FLOAT64),
    "tokenizer.ggml.tokens": (V.ARRAY, ["<s>", "", "h\u00e9llo", "a b", "\u2581the"], V.STRING),
    "py.nested.int": (V.ARRAY, [[1, 2, 3], [4], [5, 6]], V.ARRAY),
    "py.nested.mixed": (V.ARRAY, [[1, 2], ["a", "bc"], [True]], V.ARRAY),
    "py.nested.deep": (V.ARRAY, [[[1.5]], [[2.5, 3.5], [4.5]]], V.ARRAY),
}

# name -> (numpy data, raw dtype or None); numpy shapes are reversed GGUF shapes
RNG = np.random.default_rng(1234)


def _raw(qtype, rows, blocks_per_row):
    block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    return RNG.integers(0, 256, size=(rows, blocks_per_row * block_bytes), dtype=np.uint8)


PY_TENSORS = {
    "t.f32": (np.arange(12, dtype=np.float32).reshape(3, 4) / 4, None),
    "t.f16": (np.linspace(-1, 1, 8).astype(np.float16), None),
    "t.f64": (np.array([[1.0, -2.0], [3.5, 1e-300]]), None),
    "t.empty": (np.zeros((0, 4), dtype=np.float32), None),  # no bytes: shares its offset
    "t.i8": (np.array([-128, -1, 0, 1, 127], dtype=np.int8), None),
    "t.i16": (np.arange(6, dtype=np.int16).reshape(2, 3) - 3, None),
    "t.i32": (np.arange(7, dtype=np.int32) * -1000, None),
    "t.i64": (np.arange(6, dtype=np.int64).reshape(1, 2, 3) << 40, None),
    "t.4d": (np.arange(12, dtype=np.float32).reshape(2, 1, 3, 2), None),
    "t.bf16": (RNG.integers(0, 256, size=(2, 32), dtype=np.uint8), Q.BF16),
    "t.q8_0": (_raw(Q.Q8_0, 2, 2), Q.Q8_0),
    "t.q4_0": (_raw(Q.Q4_0, 3, 1), Q.Q4_0),
    "t.q4_k": (_raw(Q.Q4_K, 2, 1), Q.Q4_K),
    "t.q6_k": (_raw(Q.Q6_K, 1, 2), Q.Q6_K),
    "t.iq4_nl": (_raw(Q.IQ4_NL, 1, 4), Q.IQ4_NL),
    "t.mxfp4": (_raw(Q.MXFP4, 2, 1), Q.MXFP4),
}


def write_py_file(path, version):
    w = gguf.GGUFWriter(str(path), arch="interop")  # adds general.architecture first
    for key, (vtype, value, etype) in PY_METADATA.items():
        if key == "general.alignment":
            w.add_custom_alignment(value)
        elif vtype == V.ARRAY:
            # sub_type sets the outer element type; inner arrays' types are inferred
            w.add_key_value(key, value, V.ARRAY, sub_type=etype if etype != V.ARRAY else None)
        else:
            # add_key_value, not add_string: add_string("") silently writes nothing
            w.add_key_value(key, value, vtype)
    for name, (data, raw) in PY_TENSORS.items():
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if version != gguf.GGUF_VERSION:
        set_version(path, version)


def expected_py_fields():
    out = {"general.architecture": (V.STRING, "interop")}
    for key, (vtype, value, etype) in PY_METADATA.items():
        if vtype == V.ARRAY and etype == V.ARRAY:
            out[key] = typed(V.ARRAY, value, V.ARRAY)
        else:
            out[key] = typed(vtype, value, etype)
    return out


@pytest.fixture(scope="module", params=[3, 2], ids=["v3", "v2"])
def py_file(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"py_v{request.param}") / "py.gguf"
    write_py_file(path, request.param)
    return request.param, path


def test_gguf_py_writes_v3_only():
    assert gguf.GGUF_VERSION == 3
    assert 2 in gguf.gguf_reader.READER_SUPPORTED_VERSIONS


def test_brisk_inspect_agrees_with_gguf_reader(py_file):
    version, path = py_file
    reader = gguf.GGUFReader(str(path))
    report = inspect_json(path)
    assert report["version"] == version
    assert report["alignment"] == 64
    fields = check_report_against_reader(report, reader, path)
    # ... and both agree with what was written
    want = expected_py_fields()
    assert list(fields) == list(want)
    for key in want:
        assert same_typed(fields[key], want[key]), (key, fields[key], want[key])
    names = [t["name"] for t in report["tensors"]]
    assert names == list(PY_TENSORS)
    for t, (name, (data, raw)) in zip(report["tensors"], PY_TENSORS.items()):
        qtype = raw if raw is not None else {
            np.float32: Q.F32, np.float16: Q.F16, np.float64: Q.F64, np.int8: Q.I8,
            np.int16: Q.I16, np.int32: Q.I32, np.int64: Q.I64}[data.dtype.type]
        assert t["type"] == qtype.name
        assert t["bytes"] == data.nbytes
        assert t["offset"] % 64 == 0
        shape = list(reversed(data.shape))
        if raw is not None:
            block_size, block_bytes = gguf.GGML_QUANT_SIZES[raw]
            shape[0] = shape[0] // block_bytes * block_size
        assert t["shape"] == shape, name


def test_brisk_reads_tensor_bytes_where_gguf_py_wrote_them(py_file):
    _, path = py_file
    raw = path.read_bytes()
    report = inspect_json(path)
    for t, (name, (data, _)) in zip(report["tensors"], PY_TENSORS.items()):
        assert raw[t["offset"]:t["offset"] + t["bytes"]] == data.tobytes(), name


# ---------------------------------------------------------------------------
# (b) gguf_tool copy reproduces gguf-py's layout exactly
# ---------------------------------------------------------------------------

def test_copy_is_byte_identical(py_file, tmp_path):
    version, path = py_file
    out = tmp_path / "copy.gguf"
    run(GGUF_TOOL, "copy", path, out)
    # Same layout rules on both sides: header, metadata in order, tensor infos,
    # zero padding to the alignment, each tensor's data padded to the alignment
    # (the last one too), offsets relative to the data section.
    assert out.read_bytes() == path.read_bytes()
    assert gguf.GGUFReader(str(out)).fields["GGUF.version"].parts[0][0] == version


def test_copy_of_brisk_sample_is_byte_identical(tmp_path):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    run(GGUF_TOOL, "sample", a)
    run(GGUF_TOOL, "copy", a, b)
    assert a.read_bytes() == b.read_bytes()


def test_copy_reports_errors(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<IQQ", 1, 0, 0))
    res = run(GGUF_TOOL, "copy", bad, tmp_path / "out.gguf", check=False)
    assert res.returncode == 1
    assert "version 1" in res.stderr and str(bad) in res.stderr
    assert not (tmp_path / "out.gguf").exists()
    res = run(GGUF_TOOL, "copy", tmp_path / "missing.gguf", tmp_path / "out.gguf", check=False)
    assert res.returncode == 1 and "missing.gguf" in res.stderr
    good = tmp_path / "good.gguf"
    run(GGUF_TOOL, "sample", good)
    res = run(GGUF_TOOL, "copy", good, tmp_path / "no" / "dir" / "out.gguf", check=False)
    assert res.returncode == 1 and "out.gguf" in res.stderr
    assert run(GGUF_TOOL, "bogus", check=False).returncode == 2


def test_brisk_rejects_types_it_does_not_know(tmp_path):
    # gguf-py knows NVFP4 (40), which brisk does not: a clear error, naming the tensor
    path = tmp_path / "nvfp4.gguf"
    w = gguf.GGUFWriter(str(path), arch="x")
    w.add_tensor("t.nvfp4", _raw(Q.NVFP4, 1, 1), raw_dtype=Q.NVFP4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    res = run(BRISK_BIN, "inspect", path, check=False)
    assert res.returncode == 1
    assert "'t.nvfp4'" in res.stderr and "unknown type id 40" in res.stderr


# ---------------------------------------------------------------------------
# (c) the sample written by brisk, read by gguf-py
# ---------------------------------------------------------------------------

SAMPLE_ARRAYS = [
    (V.UINT8, [0, 7, 255]), (V.INT8, [-128, -1, 127]), (V.UINT16, [0, 258, 65535]),
    (V.INT16, [-32768, 5, 32767]), (V.UINT32, [0, 0x01020304, 0xFFFFFFFF]),
    (V.INT32, [-2**31, 0, 2**31 - 1]), (V.FLOAT32, [1.5, -0.25, 0.1]), (V.BOOL, [True, False, True]),
    (V.UINT64, [0, 2**40, 2**64 - 1]), (V.INT64, [-2**63, -2, 2**63 - 1]), (V.FLOAT64, [0.1, -2.5, 1e300]),
]


def expected_sample_fields():
    """What gguf_tool sample writes (keep in step with tests/tools/gguf_tool.c)."""
    out = {
        "general.architecture": (V.STRING, "sample"),
        "general.alignment": (V.UINT32, 64),
        "sample.uint8": (V.UINT8, 250),
        "sample.int8": (V.INT8, -120),
        "sample.uint16": (V.UINT16, 65000),
        "sample.int16": (V.INT16, -32000),
        "sample.uint32": (V.UINT32, 4000000000),
        "sample.int32": (V.INT32, -2000000000),
        "sample.float32": (V.FLOAT32, f32(0.1)),
        "sample.bool": (V.BOOL, True),
        "sample.bool_false": (V.BOOL, False),
        "sample.string": (V.STRING, "h\u00e9llo w\u00f6rld"),
        "sample.uint64": (V.UINT64, 2**64 - 1),
        "sample.int64": (V.INT64, -2**63),
        "sample.float64": (V.FLOAT64, -1.0 / 3.0),
    }
    for vtype, values in SAMPLE_ARRAYS:
        out[f"sample.array.{vtype.name.lower()}"] = typed(V.ARRAY, values, vtype)
    out["sample.array.empty"] = (V.ARRAY, (V.UINT32, []))
    out["sample.tokens"] = typed(V.ARRAY, ["<unk>", "", "h\u00e9llo", "a b"], V.STRING)
    out["sample.nested"] = (V.ARRAY, (V.ARRAY, [
        typed(V.ARRAY, [1, 2, 3], V.INT32),
        typed(V.ARRAY, ["x", "yz"], V.STRING),
        (V.ARRAY, (V.ARRAY, [typed(V.ARRAY, [7, 8], V.UINT8)])),
    ]))
    return out


def expected_sample_tensors():
    """name -> (type, GGUF shape, bytes)."""
    f32s = ((np.arange(24, dtype=np.float32) - 10) * np.float32(0.25)).astype("<f4")
    f16s = (0x3C00 + 37 * np.arange(16)).astype("<u2")
    q8 = bytearray()
    for b in range(4):
        q8 += bytes([0x00, 0x2C]) + bytes((7 * j + 3 * b) & 0xFF for j in range(32))
    q4k = bytearray()
    for b in range(2):
        q4k += bytes([0x00, 0x30, 0x00, 0x24])
        q4k += bytes((5 * k + b) & 0x3F for k in range(12))
        q4k += bytes((13 * j + 7 * b) & 0xFF for j in range(128))
    return {
        "sample.f32": (Q.F32, [8, 3], f32s.tobytes()),
        "sample.f16": (Q.F16, [16], f16s.tobytes()),
        "sample.q8_0": (Q.Q8_0, [64, 2], bytes(q8)),
        "sample.q4_k": (Q.Q4_K, [256, 2], bytes(q4k)),
    }


@pytest.mark.parametrize("version", [3, 2])
def test_gguf_reader_reads_brisk_sample(tmp_path, version):
    path = tmp_path / "sample.gguf"
    run(GGUF_TOOL, "sample", path, str(version))
    reader = gguf.GGUFReader(str(path))
    assert int(reader.fields["GGUF.version"].parts[0][0]) == version
    assert reader.alignment == 64 and reader.data_offset % 64 == 0
    fields = reader_fields(reader)
    want = expected_sample_fields()
    assert list(fields) == list(want)
    for key in want:
        assert same_typed(fields[key], want[key]), (key, fields[key], want[key])
    # gguf-py's own accessors on the simple cases
    assert reader.fields["sample.string"].contents() == "h\u00e9llo w\u00f6rld"
    assert reader.fields["sample.tokens"].contents() == ["<unk>", "", "h\u00e9llo", "a b"]
    assert reader.fields["sample.array.int16"].contents() == [-32768, 5, 32767]

    tensors = expected_sample_tensors()
    assert [t.name for t in reader.tensors] == list(tensors)
    offset = reader.data_offset
    for t in reader.tensors:
        qtype, shape, data = tensors[t.name]
        assert t.tensor_type == qtype, t.name
        assert [int(x) for x in t.shape] == shape, t.name
        assert t.n_bytes == len(data), t.name
        assert t.data_offset == offset, t.name  # packed in order, each padded to 64
        assert t.data.tobytes() == data, t.name
        offset += -(-len(data) // 64) * 64
    assert offset == path.stat().st_size

    # and brisk inspect agrees with gguf-py on it too, but for one known limit:
    # its JSON integers are int64, so a uint64 above INT64_MAX comes out as a real
    report = inspect_json(path)
    for m in report["metadata"]:
        if m["key"] == "sample.uint64":
            assert isinstance(m["value"], float) and m["value"] == float(2**64 - 1)
            m["value"] = 2**64 - 1
        elif m["key"] == "sample.array.uint64":
            assert isinstance(m["value"][2], float) and m["value"][2] == float(2**64 - 1)
            m["value"][2] = 2**64 - 1
    check_report_against_reader(report, reader, path)
