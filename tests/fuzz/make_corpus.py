"""Writes the fuzz seed corpus (tests/fuzz/corpus/) with the gguf package.

Small valid GGUF files that between them use every metadata value type,
nested and string arrays, several tensor types, alignments and versions.
Run once; the outputs are committed."""
import pathlib
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

OUT = pathlib.Path(__file__).resolve().parent / "corpus"


def write(name, fill, alignment=None):
    path = OUT / name
    w = gguf.GGUFWriter(str(path), arch="llama")
    if alignment:
        w.data_alignment = alignment
        w.add_uint32("general.alignment", alignment)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def every_value_type(w):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -5)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 1.5)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo ✓")
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", -2.25)
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_str", ["a", "bc", ""])
    w.add_array("t.arr_nested", [[1, 2], [3]])


def tensors(w):
    rng = np.random.default_rng(0)
    w.add_tensor("f32", rng.standard_normal((2, 32)).astype(np.float32))
    w.add_tensor("f16", rng.standard_normal((32,)).astype(np.float16))
    q8 = gguf.quants.quantize(rng.standard_normal((2, 32)).astype(np.float32), T.Q8_0)
    w.add_tensor("q8_0", q8, raw_dtype=T.Q8_0)
    q4k = rng.integers(0, 256, size=(1, 144), dtype=np.uint8)
    q4k[0, 0:4] = np.array([0.01, 0.002], dtype=np.float16).view(np.uint8)
    w.add_tensor("q4_k", q4k, raw_dtype=T.Q4_K)


def vocab(w):
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["a", "b", "ab", "<s>"])
    w.add_token_types([1, 1, 1, 3])
    w.add_token_merges(["a b"])
    w.add_bos_token_id(3)


def main():
    OUT.mkdir(exist_ok=True)
    write("empty.gguf", lambda w: None)
    write("values.gguf", every_value_type)
    write("tensors.gguf", tensors)
    write("tensors_align64.gguf", tensors, alignment=64)
    write("vocab.gguf", vocab)
    v2 = bytearray(write("values_v2.gguf", every_value_type).read_bytes())
    v2[4:8] = (2).to_bytes(4, "little")  # v2 differs from v3 only in this field
    (OUT / "values_v2.gguf").write_bytes(bytes(v2))
    for p in sorted(OUT.iterdir()):
        print(p.name, p.stat().st_size, file=sys.stderr)


if __name__ == "__main__":
    main()
