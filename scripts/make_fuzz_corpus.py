#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/), small files committed with
the project. Run: /usr/bin/python3 scripts/make_fuzz_corpus.py

load_weights: the first byte is the fuzz target's mode (bit 0: fix the checksum up); the rest is a
weights file (format TGW1, nn/training/serialize.h) for the target's model, SimpleRNN(2, seq) + SimpleRNN(2)
+ Dense(1) on 1 feature, and variants of it. op_inputs: random byte strings, one per op. csv: the
first byte is the target's options (fuzz/csv_fuzz.cpp), the rest a CSV file: quoted fields, CRLF,
a byte order mark, missing and invalid cells, ragged and unterminated records."""
import json
import os
import random
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")
MODEL = [("0.cell.kernel", [1, 2]), ("0.cell.recurrent_kernel", [2, 2]), ("0.cell.bias", [2]),
         ("1.cell.kernel", [2, 2]), ("1.cell.recurrent_kernel", [2, 2]), ("1.cell.bias", [2]),
         ("2.kernel", [2, 1]), ("2.bias", [1])]


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def weights_file(params, dtype=0, rng=None):
    out = bytearray(b"TGW1") + struct.pack("<II", 1, len(params))
    for name, shape in params:
        raw = name.encode()
        out += struct.pack("<I", len(raw)) + raw + struct.pack("<BB", dtype, len(shape))
        for d in shape:
            out += struct.pack("<q", d)
        n = 1
        for d in shape:
            n *= d
        fmt = "<f" if dtype == 0 else "<d"
        for _ in range(n):
            out += struct.pack(fmt, rng.uniform(-1, 1))
    out += struct.pack("<Q", fnv1a64(out))
    return bytes(out)


SAFETENSORS_NATIVE = [("simple_rnn.cell.kernel", [1, 2]), ("simple_rnn.cell.recurrent_kernel", [2, 2]),
                      ("simple_rnn.cell.bias", [2]), ("lstm.cell.kernel", [2, 8]),
                      ("lstm.cell.recurrent_kernel", [2, 8]), ("lstm.cell.bias", [8]), ("dense.kernel", [2, 1]),
                      ("dense.bias", [1])]
SAFETENSORS_TORCH = [("0.weight_ih_l0", [2, 1]), ("0.weight_hh_l0", [2, 2]), ("0.bias_ih_l0", [2]),
                     ("0.bias_hh_l0", [2]), ("1.weight_ih_l0", [8, 2]), ("1.weight_hh_l0", [8, 2]),
                     ("1.bias_ih_l0", [8]), ("1.bias_hh_l0", [8]), ("2.weight", [1, 2]), ("2.bias", [1])]


def safetensors_file(params, dtype="F32", rng=None):
    """A safetensors file (nn/training/safetensors.h) of random values, tensors in the given order."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape in params:
        n = 1
        for d in shape:
            n *= d
        raw = b"".join(struct.pack({"F16": "<e", "F32": "<f", "F64": "<d"}[dtype], rng.uniform(-1, 1))
                       for _ in range(n))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    rng = random.Random(42)
    good = weights_file(MODEL, rng=rng)
    write("load_weights", "valid", b"\x00" + good)
    write("load_weights", "valid_fix_checksum", b"\x01" + good)
    write("load_weights", "float64", b"\x00" + weights_file(MODEL, dtype=1, rng=rng))
    write("load_weights", "other_shapes", b"\x00" + weights_file([(n, [3] * len(s)) for n, s in MODEL], rng=rng))
    write("load_weights", "fewer_parameters", b"\x01" + weights_file(MODEL[:3], rng=rng))
    write("load_weights", "truncated", b"\x00" + good[: len(good) // 2])
    write("load_weights", "magic_only", b"\x00TGW1")
    for op in range(22):
        data = bytes([op]) + bytes(rng.randrange(256) for _ in range(48))
        write("op_inputs", "op_%02d" % op, data)
    csv_seeds = {
        "header_date": (0x21, b"date,a,b\n2020-01,1.5,2\n2020-02,-3e2,+4\n2020-03,5,6\n"),
        "no_header": (0x00, b"1,2,3\n4,5,6\n"),
        "quoted_crlf_bom": (0x61, b"\xef\xbb\xbf\"d\",\"a\",\"b\"\r\n\"x\ny\",\" 1 \",\"2\"\r\n\"z\",3,4\r\n\r\n"),
        "missing_interpolate": (0x05, b"a,b\n1,2\n,NA\n3,\n5,6\n"),
        "invalid_drop": (0x0b, b"a,b\n1,x\n2,3\n1e999,4\n5,6\n"),
        "ragged": (0x01, b"a,b\n1,2\n3\n"),
        "unterminated": (0x01, b"a\n\"1\n2\n"),
        "semicolon": (0x81, b"a;b\n1;2\n3;4\n"),
        "utf16": (0x01, b"\xff\xfea\x00\n\x00"),
    }
    for name, (mode, text) in csv_seeds.items():
        write("csv", name, bytes([mode]) + text)
    # safetensors: the first byte's bit 0 loads by tapegrad's names, otherwise by torch.nn names.
    native = safetensors_file(SAFETENSORS_NATIVE, rng=rng)
    torch_names = safetensors_file(SAFETENSORS_TORCH, rng=rng)
    write("safetensors", "native", b"\x01" + native)
    write("safetensors", "torch", b"\x00" + torch_names)
    write("safetensors", "torch_float64", b"\x00" + safetensors_file(SAFETENSORS_TORCH, "F64", rng=rng))
    write("safetensors", "native_reversed", b"\x01" + safetensors_file(SAFETENSORS_NATIVE[::-1], rng=rng))
    write("safetensors", "torch_other_shapes",
          b"\x00" + safetensors_file([(n, [3] * len(s)) for n, s in SAFETENSORS_TORCH], rng=rng))
    write("safetensors", "float16", b"\x00" + safetensors_file(SAFETENSORS_TORCH[:1], "F16", rng=rng))
    write("safetensors", "truncated", b"\x00" + torch_names[: len(torch_names) // 2])
    write("safetensors", "empty_header", b"\x01" + struct.pack("<Q", 8) + b"{}      ")


if __name__ == "__main__":
    main()
