#!/usr/bin/env python3
"""Writes a small, complete GGUF seed from a real one: every metadata key of
the original, arrays cut to their first entries (tokenizer merges kept only
where both halves and the result are in the kept vocabulary), and a single
1x1 f32 `token_embd.weight` tensor, so that the whole header parses and the
metadata reader (tokenizer, hyper-parameters) runs to the end.

usage: gguf_seed.py IN.gguf OUT.gguf [TOKENS [ALIGNMENT]]

ALIGNMENT, when given, adds (or replaces) `general.alignment` as a u32, as
llama.cpp's writer does for non-default alignments.
"""
import struct
import sys

SIZES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class Reader:
    def __init__(self, f):
        self.f = f

    def read(self, fmt):
        fmt = "<" + fmt
        return struct.unpack(fmt, self.f.read(struct.calcsize(fmt)))[0]

    def string(self):
        return self.f.read(self.read("Q"))

    def value(self, t):
        if t in SIZES:
            return self.read(SIZES[t])
        if t == 8:
            return self.string()
        if t == 9:
            et = self.read("I")
            n = self.read("Q")
            return (et, [self.value(et) for _ in range(n)])
        raise ValueError(f"type {t}")


def string(b):
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    if t in SIZES:
        return struct.pack("<" + SIZES[t], v)
    if t == 8:
        return string(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(value(et, i) for i in items)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    keep = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    alignment = int(sys.argv[4]) if len(sys.argv) > 4 else None
    with open(src, "rb") as f:
        r = Reader(f)
        assert f.read(4) == b"GGUF"
        version = r.read("I")
        _n_tensors = r.read("Q")
        n_kv = r.read("Q")
        kvs = []
        for _ in range(n_kv):
            key = r.string()
            t = r.read("I")
            kvs.append((key, t, r.value(t)))
    if alignment is not None:
        kvs = [kv for kv in kvs if kv[0] != b"general.alignment"]
        kvs.insert(1, (b"general.alignment", 4, alignment))
    meta = dict((k, v) for k, _, v in kvs)
    tokens = set(meta.get(b"tokenizer.ggml.tokens", (8, []))[1][:keep])
    out = []
    for key, t, v in kvs:
        if t == 9:
            et, items = v
            if key == b"tokenizer.ggml.merges":
                items = [m for m in items
                         if len(m.split(b" ")) == 2
                         and all(p in tokens for p in m.split(b" "))
                         and m.replace(b" ", b"") in tokens]
            else:
                items = items[:keep]
            v = (et, items)
        out.append(string(key) + struct.pack("<I", t) + value(t, v))
    header = b"GGUF" + struct.pack("<IQQ", version, 1, len(out)) + b"".join(out)
    # token_embd.weight: 1 x 1 f32 (type 0) at offset 0 of the data.
    header += string(b"token_embd.weight") + struct.pack("<IQQIQ", 2, 1, 1, 0, 0)
    align = meta.get(b"general.alignment", 32)
    header += b"\0" * (-len(header) % align)
    with open(dst, "wb") as f:
        f.write(header + struct.pack("<f", 1.0))


main()
