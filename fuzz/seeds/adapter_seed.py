#!/usr/bin/env python3
"""Writes the `adapter` target's seeds: small safetensors files in rca's LoRA
adapter format (src/model/adapter.rs), one valid (rank 2 on q and v of two
layers), one with an f16 half and a training checkpoint's extra tensor, one
with a pair missing its B half.

    adapter_seed.py OUT_DIR
"""
import json
import struct
import sys


def safetensors(path, tensors, metadata):
    header, data = {"__metadata__": metadata}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def f32(n):
    return struct.pack(f"<{n}f", *[0.25 * i for i in range(n)])


out = sys.argv[1]
meta = {"rca.format": "rca-lora-1", "rca.base_model": "m.gguf", "rca.base_size": "1000",
        "rca.base_fingerprint": "0123456789abcdef", "rca.rank": "2", "rca.alpha": "4",
        "rca.targets": "q,v"}
safetensors(f"{out}/rank2-q-v.seed", {
    "blk.0.attn_q.weight.lora_a": ("F32", [2, 4], f32(8)),
    "blk.0.attn_q.weight.lora_b": ("F32", [4, 2], f32(8)),
    "blk.1.attn_v.weight.lora_a": ("F32", [2, 3], f32(6)),
    "blk.1.attn_v.weight.lora_b": ("F32", [5, 2], f32(10))}, meta)
safetensors(f"{out}/f16-half-and-extra.seed", {
    "blk.0.attn_q.weight.lora_a": ("F16", [2, 4], b"\0" * 16),
    "blk.0.attn_q.weight.lora_b": ("F32", [4, 2], f32(8)),
    "step": ("I64", [1], struct.pack("<q", 7))}, meta)
safetensors(f"{out}/missing-half.seed", {
    "blk.0.ffn_down.weight.lora_a": ("F32", [2, 4], f32(8))}, dict(meta, **{"rca.targets": "down"}))
