#!/usr/bin/env python3
"""Reference LoRA trainer for rca's judge, in PyTorch, for a GPU machine.

`rca train` fine-tunes the judge in candle, on the CPU or with CUDA. This
script trains the same thing faster on a GPU, from the same data, so that
many epochs fit a short GPU lease:

- the prompts are rca's own token ids, written by
  `cargo run --release --example export_prompts` (one rendering per example
  and epoch, in the slot order `rca train` would give it);
- the model is the same GGUF, dequantized to f32, with rca's forward pass
  (consecutive query heads sharing a KV head, RMS norm; "llama": RoPE on
  interleaved pairs; "qwen2": Q/K/V biases and RoPE on the halves of each
  head, as llama.cpp's NEOX mode; the output tied to the embedding where
  the GGUF has no `output.weight`);
- the loss is rca's: cross-entropy of the culprit's label among the prompt's
  labels, from the logits of the first answer token;
- the adapter it writes is an rca adapter (format rca-lora-1: GGUF weight
  names, f32 factors A (r, in) and B (out, r), correction (alpha/r)·B·A, and
  the base model's identity), which `rca investigate --adapter FILE` loads.

    train-ref.py --model M.gguf --data DIR --out DIR [--minutes 6]
        [--rank 8] [--alpha 16] [--targets q,k,v,o,gate,up,down]
        [--lr 5e-4] [--batch 8] [--full] [--device cuda]

`--full` fine-tunes every weight instead (a learnability check: it writes
no adapter). Needs torch, numpy, gguf and safetensors.

`--pointwise` trains the pointwise judge instead, from
`export_prompts --pointwise` data: one prompt per candidate (facts, change
card, "Did this change cause the incident?"), score = logit(Yes) −
logit(No) at the last position (rca's log-odds), a softmax over each
example's culprit and `--candidates - 1` of its other candidates drawn
afresh each time, cross-entropy on the culprit (with `--residual`, of the
fusion's score plus the judge's, so that it learns what the fusion
misses). Training examples opened from `--valid-from` on are not trained on: their scores fit the judge's
weight in the fusion (as `rca train --judge` does out of fold), which is
then applied to the held-out examples. Writes `scores.json` (every
candidate's score before and after, per example) and `judge-head.json`
(those weights, for `rca investigate --adapter A --judge-head H`) beside
the report and the adapter.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from judge_stack import fit, rank, stack, summary  # beside this script

TARGETS = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
           "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


ARCHITECTURES = ("llama", "qwen2")


def load_gguf(path):
    """The config and every tensor of a "llama" or "qwen2" GGUF, dequantized to f32."""
    import gguf
    reader = gguf.GGUFReader(path)

    def field(key, default=None):
        f = reader.fields.get(key)
        return default if f is None else f.parts[f.data[0]][0].item()

    a = reader.fields["general.architecture"]
    arch = bytes(a.parts[a.data[0]]).decode()
    if arch not in ARCHITECTURES:
        sys.exit(f"{path}: architecture {arch!r}; this script trains {', '.join(ARCHITECTURES)}")
    cfg = dict(
        arch=arch,
        neox=arch == "qwen2",
        n_layer=int(field(f"{arch}.block_count")),
        dim=int(field(f"{arch}.embedding_length")),
        n_head=int(field(f"{arch}.attention.head_count")),
        n_kv=int(field(f"{arch}.attention.head_count_kv")),
        eps=float(field(f"{arch}.attention.layer_norm_rms_epsilon")),
        base=float(field(f"{arch}.rope.freq_base", 10000.0)),
        ctx=int(field(f"{arch}.context_length")),
    )
    weights = {}
    for t in reader.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape.tolist())]
        weights[t.name] = torch.from_numpy(np.array(a, dtype=np.float32).reshape(shape))
    return cfg, weights


def rope_tables(cfg, length):
    """rca's tables: f32 inverse frequencies, angles in f64."""
    hd = cfg["dim"] // cfg["n_head"]
    half = hd // 2
    inv = np.array([1.0 / np.float32(cfg["base"]) ** np.float32(2 * i / hd) for i in range(half)],
                   dtype=np.float32)
    angle = np.arange(length, dtype=np.float64)[:, None] * inv.astype(np.float64)[None, :]
    return (torch.from_numpy(np.cos(angle).astype(np.float32)),
            torch.from_numpy(np.sin(angle).astype(np.float32)))


class Judge(torch.nn.Module):
    def __init__(self, cfg, weights, args, device):
        super().__init__()
        self.cfg = cfg
        self.hd = cfg["dim"] // cfg["n_head"]
        self.scale = args.alpha / args.rank
        self.targets = [t for t in args.targets.split(",") if t]
        base_dtype = torch.float32 if (args.full or device.type == "cpu") else torch.bfloat16
        self.base = {}
        params = []
        for name, w in weights.items():
            if name == "token_embd.weight":
                continue
            w = w.to(device, base_dtype if w.dim() == 2 else torch.float32)
            if args.full and w.dim() == 2:
                w = torch.nn.Parameter(w)
                params.append(w)
            self.base[name] = w
        self.embedding = weights["token_embd.weight"].to(device)  # frozen, f32
        self.output = weights.get("output.weight", weights["token_embd.weight"]).to(device)
        self.lora = {}
        if not args.full:
            g = torch.Generator().manual_seed(args.seed)
            for i in range(cfg["n_layer"]):
                for t in self.targets:
                    name = f"blk.{i}.{TARGETS[t]}.weight"
                    out, inp = weights[name].shape
                    a = (torch.rand(args.rank, inp, generator=g) * 2 - 1) / math.sqrt(inp)
                    a = torch.nn.Parameter(a.to(device))
                    b = torch.nn.Parameter(torch.zeros(out, args.rank, device=device))
                    self.lora[name] = (a, b)
                    params += [a, b]
        self.params = params
        cos, sin = rope_tables(cfg, cfg["ctx"])
        self.cos, self.sin = cos.to(device), sin.to(device)

    def linear(self, h, name):
        w = self.base[name]
        y = h.to(w.dtype) @ w.t()
        pair = self.lora.get(name)
        if pair is not None:
            a, b = pair
            y = y.float() + self.scale * ((h.float() @ a.t()) @ b.t())
        bias = self.base.get(name[:-len("weight")] + "bias")  # qwen2's Q, K and V
        return y.float() if bias is None else y.float() + bias

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["eps"]) * w

    def rope(self, x):
        # x (B, T, H, hd): rotate the pairs (2i, 2i+1), or (i, i + hd/2) for NEOX.
        B, T, H, hd = x.shape
        cos = self.cos[:T].view(1, T, 1, hd // 2)
        sin = self.sin[:T].view(1, T, 1, hd // 2)
        if self.cfg["neox"]:
            a, b = x[..., :hd // 2], x[..., hd // 2:]
            return torch.cat((a * cos - b * sin, a * sin + b * cos), -1)
        p = x.view(B, T, H, hd // 2, 2)
        a, b = p[..., 0], p[..., 1]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), -1).view(B, T, H, hd)

    def layer(self, i, x):
        cfg, hd = self.cfg, self.hd
        B, T, _ = x.shape
        n = lambda s: f"blk.{i}.{s}.weight"
        h = self.rms(x, self.base[n("attn_norm")])
        q = self.rope(self.linear(h, n("attn_q")).view(B, T, cfg["n_head"], hd))
        k = self.rope(self.linear(h, n("attn_k")).view(B, T, cfg["n_kv"], hd))
        v = self.linear(h, n("attn_v")).view(B, T, cfg["n_kv"], hd)
        rep = cfg["n_head"] // cfg["n_kv"]
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        dt = torch.float32 if x.device.type == "cpu" else torch.bfloat16
        y = F.scaled_dot_product_attention(q.transpose(1, 2).to(dt), k.transpose(1, 2).to(dt),
                                           v.transpose(1, 2).to(dt), is_causal=True)
        y = y.transpose(1, 2).reshape(B, T, cfg["dim"]).float()
        x = x + self.linear(y, n("attn_output"))
        h = self.rms(x, self.base[n("ffn_norm")])
        hidden = F.silu(self.linear(h, n("ffn_gate"))) * self.linear(h, n("ffn_up"))
        return x + self.linear(hidden, n("ffn_down"))

    def last_hidden(self, tokens, lengths, checkpoint=False):
        """Each prompt's last position after the output norm (B, dim)."""
        x = self.embedding[tokens]
        for i in range(self.cfg["n_layer"]):
            if checkpoint:
                x = torch.utils.checkpoint.checkpoint(self.layer, i, x, use_reentrant=False)
            else:
                x = self.layer(i, x)
        last = x[torch.arange(x.shape[0], device=x.device), lengths - 1]
        return self.rms(last, self.base["output_norm.weight"])

    def forward(self, tokens, lengths, labels, widths, checkpoint=False):
        """Label log-probabilities (B, 20), renormalised over each prompt's labels."""
        logits = self.last_hidden(tokens, lengths, checkpoint) @ self.output[labels].t()
        slots = torch.arange(len(labels), device=tokens.device)[None, :]
        logits = logits.masked_fill(slots >= widths[:, None], float("-inf"))
        return torch.log_softmax(logits, -1)

    def yes_no(self, tokens, lengths, answers, checkpoint=False):
        """logit(Yes) - logit(No) at each prompt's last position (B,): rca's log-odds."""
        logits = self.last_hidden(tokens, lengths, checkpoint) @ self.output[answers].t()
        return logits[:, 0] - logits[:, 1]


class Prompts:
    """export_prompts output: `name.tok` and `name.json`, items of four
    numbers per prompt (offset, length, then two the format defines)."""

    def __init__(self, data, name):
        self.meta_file = json.load(open(os.path.join(data, f"{name}.json")))
        self.labels = self.meta_file.get("labels")
        self.examples = self.meta_file["examples"]
        self.items = np.array(self.meta_file["items"], dtype=np.int64).reshape(-1, 4)
        width = self.meta_file.get("token_bytes", 2)
        self.tokens = np.fromfile(os.path.join(data, f"{name}.tok"), dtype=f"<u{width}")

    def padded(self, rows, device):
        """The prompts of `rows`, right-padded, and their lengths."""
        items = self.items[rows]
        out = np.zeros((len(rows), int(items[:, 1].max())), dtype=np.int64)
        for j, (off, n, _, _) in enumerate(items):
            out[j, :n] = self.tokens[off:off + n]
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)
        return t(out), t(items[:, 1])

    def batch(self, rows, device):
        """Election prompts: tokens, lengths, culprit slots, widths."""
        tokens, lengths = self.padded(rows, device)
        items = torch.from_numpy(np.ascontiguousarray(self.items[rows])).to(device)
        return tokens, lengths, items[:, 2], items[:, 3]


@torch.no_grad()
def judge(model, prompts, device, batch):
    """rca's JudgeReport: top-1, loss, picks by slot and the largest slot bias."""
    labels = torch.tensor(prompts.labels, device=device)
    width = int(prompts.items[:, 3].max())
    picks = np.zeros(width, dtype=int)
    fair = np.zeros(width)
    hits, loss, chance = 0, 0.0, 0.0
    logprobs = []
    for s in range(0, len(prompts.items), batch):
        rows = np.arange(s, min(s + batch, len(prompts.items)))
        tokens, lengths, culprit, widths = prompts.batch(rows, device)
        lp = model(tokens, lengths, labels, widths).float().cpu().numpy()
        for j, r in enumerate(rows):
            n, slot = int(prompts.items[r, 3]), int(prompts.items[r, 2])
            pick = int(np.argmax(lp[j, :n]))
            picks[pick] += 1
            fair[:n] += 1.0 / n
            hits += pick == slot
            loss -= float(lp[j, slot])
            chance += 1.0 / n
            logprobs.append(lp[j, :n].tolist())
    m = len(prompts.items)
    bias = max(p / f for p, f in zip(picks, fair) if f > 0)
    return dict(top1=hits / m, chance=chance / m, loss=loss / m, picks_by_slot=picks.tolist(),
                max_slot_bias=bias, prompts=m), logprobs


class PointwisePrompts(Prompts):
    """export_prompts --pointwise: items (offset, length, example,
    is_culprit), grouped by example."""

    def __init__(self, data, name):
        super().__init__(data, name)
        self.answers = self.meta_file["answers"]
        self.meta = self.examples
        self.rows = [[] for _ in self.meta]
        for r, (_, _, e, _) in enumerate(self.items):
            self.rows[e].append(r)
        self.culprit = [next(j for j, r in enumerate(rs) if self.items[r, 3]) for rs in self.rows]


@torch.no_grad()
def score_examples(model, prompts, examples, device, batch):
    """Every candidate's score of `examples`, as lists per example."""
    rows = [r for e in examples for r in prompts.rows[e]]
    rows = sorted(rows, key=lambda r: prompts.items[r, 1])
    answers = torch.tensor(prompts.answers, device=device)
    score = {}
    for s in range(0, len(rows), batch):
        chunk = rows[s:s + batch]
        tokens, lengths = prompts.padded(chunk, device)
        for r, v in zip(chunk, model.yes_no(tokens, lengths, answers).float().cpu().tolist()):
            score[r] = v
    return [[score[r] for r in prompts.rows[e]] for e in examples]


def ranks(scores, culprits):
    return [rank(s, c) for s, c in zip(scores, culprits)]


def pointwise_report(model, train, held, valid, device, batch):
    """Judge alone, fusion alone and stacked (weights fitted on `valid`)."""
    v_scores = score_examples(model, train, valid, device, batch) if valid else []
    h_scores = score_examples(model, held, range(len(held.meta)), device, batch)
    weights = fit(train.meta, valid, v_scores, train.culprit) if valid else {"component": 0.0, "symptom": 0.0}
    held_ex = list(range(len(held.meta)))
    r = dict(
        judge=summary(ranks(h_scores, held.culprit)),
        fusion=summary(ranks([held.meta[e]["fusion"] for e in held_ex], held.culprit)),
        stacked=summary(ranks(stack(held.meta, held_ex, h_scores, weights), held.culprit)),
        fusion_weight=weights,
        valid_judge=summary(ranks(v_scores, [train.culprit[e] for e in valid])),
        valid_fusion=summary(ranks([train.meta[e]["fusion"] for e in valid], [train.culprit[e] for e in valid])),
    )
    return r, dict(valid=v_scores, eval=h_scores)


def record_check(report, diffs, what):
    """The script's scores against rca's own (export_prompts' check.json)."""
    if diffs:
        report["check_max_abs_diff"] = max(diffs)
        log(f"{what} against rca's on {len(diffs)} prompts: max |diff| {max(diffs):.2e}")


def optimizer(model, args):
    return torch.optim.AdamW(model.params, lr=args.lr, weight_decay=0.0 if not args.full else 0.01)


def descend(opt, model, loss):
    """One optimizer step on `loss`, gradients clipped at norm 1."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.params, 1.0)
    opt.step()


def pointwise_main(args, model, device):
    train, held = PointwisePrompts(args.data, "train"), PointwisePrompts(args.data, "eval")
    examples = [e for e, m in enumerate(train.meta) if m["until"] < args.valid_from
                and args.regime in ("", m["regime"])]
    valid = [e for e, m in enumerate(train.meta) if m["until"] >= args.valid_from]
    if args.limit:
        examples, valid = examples[:args.limit], valid[:args.limit]
        held.meta = held.meta[:args.limit]
    log(f"pointwise: {len(examples)} training examples, {len(valid)} for the stacking weight,"
        f" {len(held.meta)} held-out, {sum(x.numel() for x in model.params)} trainable parameters")
    report = dict(args=vars(args), kind="pointwise", evals=[], loss=[])
    before, before_scores = pointwise_report(model, train, held, valid, device, args.batch * args.candidates)
    check = json.load(open(os.path.join(args.data, "check.json")))
    flat = [v for s in before_scores["eval"] for v in s]
    record_check(report, [abs(c["base"] - flat[c["prompt"]]) for c in check if c["prompt"] < len(flat)],
                 "log-odds")
    report["evals"].append(dict(step=0, examples=0, seconds=0.0, **before))
    log(f"held-out before: judge {before['judge']} stacked {before['stacked']} weights {before['fusion_weight']}")

    opt = optimizer(model, args)
    rng = np.random.default_rng(args.seed)
    answers = torch.tensor(train.answers, device=device)
    budget = args.minutes * 60
    start = time.time()
    step, seen, last_eval = 0, 0, start
    window, order = [], []
    while time.time() - start < budget:
        if not order:
            order = list(rng.permutation(examples))
        chosen = [order.pop() for _ in range(min(args.batch, len(order)))]
        rows, culprits, widths, fused = [], [], [], []
        for e in chosen:
            rs = train.rows[e]
            c = train.culprit[e]
            others = [r for j, r in enumerate(rs) if j != c]
            take = rng.permutation(len(others))[:args.candidates - 1]
            group = [rs[c]] + [others[j] for j in sorted(take)]
            rows += group
            culprits.append(0)
            widths.append(len(group))
            positions = [rs.index(r) for r in group]
            fused += [train.meta[e]["fusion"][j] if args.residual else 0.0 for j in positions]
        frac = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * max(0.05, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        tokens, lengths = train.padded(rows, device)
        scores = model.yes_no(tokens, lengths, answers, checkpoint=args.checkpoint)
        # --residual: the judge learns what the fusion's prior misses.
        scores = scores + torch.tensor(fused, device=device, dtype=scores.dtype)
        loss, hits, at = 0.0, 0.0, 0
        for w in widths:
            s = scores[at:at + w]
            loss = loss - torch.log_softmax(s, 0)[0]
            hits += float(s.argmax().item() == 0)
            at += w
        loss = loss / len(widths)
        descend(opt, model, loss)
        step += 1
        seen += len(chosen)
        window.append((loss.item(), hits / len(widths)))
        if step % 20 == 0:
            l, h = np.mean([w[0] for w in window]), np.mean([w[1] for w in window])
            report["loss"].append(dict(step=step, examples=seen, passes=seen / len(examples),
                                       loss=float(l), top1=float(h), lr=lr))
            log(f"step {step} ({seen / len(examples):.2f} passes): loss {l:.3f} train top-1 {h:.3f}"
                f" lr {lr:.2e} {seen / (time.time() - start):.1f} ex/s")
            window = []
        if time.time() - last_eval > args.eval_every:
            r, _ = pointwise_report(model, train, held, valid, device, args.batch * args.candidates)
            report["evals"].append(dict(step=step, examples=seen, passes=seen / len(examples),
                                        seconds=time.time() - start, **r))
            log(f"held-out at step {step}: judge {r['judge']} stacked {r['stacked']} weights {r['fusion_weight']}")
            last_eval = time.time()
            json.dump(report, open(os.path.join(args.out, "report.json"), "w"), indent=1)
    elapsed = time.time() - start
    after, after_scores = pointwise_report(model, train, held, valid, device, args.batch * args.candidates)
    report["evals"].append(dict(step=step, examples=seen, passes=seen / max(len(examples), 1),
                                seconds=elapsed, **after))
    report.update(steps=step, examples=seen, passes=seen / max(len(examples), 1), seconds=elapsed,
                  heldout_before=before, heldout_after=after)
    if device.type == "cuda":
        report["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    json.dump(dict(before=before_scores, after=after_scores, valid=valid,
                   held_culprits=held.culprit), open(os.path.join(args.out, "scores.json"), "w"))
    if not args.full:
        save_adapter(model, args, args.data, os.path.join(args.out, "adapter.safetensors"))
        write_head(os.path.join(args.out, "judge-head.json"), args.data, after["fusion_weight"], args,
                   {k: after[k] for k in ("judge", "fusion", "stacked")})
    json.dump(report, open(os.path.join(args.out, "report.json"), "w"), indent=1)
    log(f"done: {step} steps, {seen} examples in {elapsed:.0f} s; held-out judge {before['judge']} -> {after['judge']};"
        f" stacked {after['stacked']} (fusion {after['fusion']})")


def write_head(path, data, weights, args, after):
    """rca's judge head for the adapted model: its log-odds as they are
    (logodds_weight 1, no hidden-state direction) and the stacked weights
    fitted on the held-back examples; `investigate --judge-head` reads it."""
    base = json.load(open(os.path.join(data, "base.json")))
    head = {"schema": "rca.judge-head/1", "base_model": base["base_model"],
            "base_size": int(base["base_size"]), "base_fingerprint": base["base_fingerprint"],
            "logodds_weight": 1.0, "direction": [], "fusion_weight": weights,
            "trained": {"by": "scripts/train-ref.py --pointwise", "adapter": "adapter.safetensors",
                        "note": "use with --adapter set to the adapter trained with it",
                        "args": {k: v for k, v in vars(args).items() if k not in ("model", "data", "out")},
                        "stacked_weight_fitted_on": "training examples opened from --valid-from on",
                        "held_out": after}}
    json.dump(head, open(path, "w"), indent=1)


def save_adapter(model, args, data, path):
    from safetensors.torch import save_file
    base = json.load(open(os.path.join(data, "base.json")))
    tensors = {}
    for name, (a, b) in model.lora.items():
        tensors[f"{name}.lora_a"] = a.detach().float().cpu().contiguous()
        tensors[f"{name}.lora_b"] = b.detach().float().cpu().contiguous()
    meta = {"rca.format": "rca-lora-1", "rca.base_model": base["base_model"],
            "rca.base_size": str(base["base_size"]), "rca.base_fingerprint": base["base_fingerprint"],
            "rca.rank": str(args.rank), "rca.alpha": repr(float(args.alpha)),
            "rca.targets": ",".join(model.targets)}
    save_file(tensors, path + ".part", metadata=meta)
    os.replace(path + ".part", path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="export_prompts output")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=6.0, help="training time budget")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--targets", default="q,k,v,o,gate,up,down")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=20, help="steps")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--full", action="store_true", help="fine-tune every weight (no adapter)")
    p.add_argument("--checkpoint", action="store_true", help="recompute layers in backward")
    p.add_argument("--eval-every", type=float, default=60.0, help="seconds")
    p.add_argument("--limit", type=int, default=0, help="use only the first N prompts (tests)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--pointwise", action="store_true", help="export_prompts --pointwise data")
    p.add_argument("--candidates", type=int, default=8, help="pointwise: per example and step")
    p.add_argument("--residual", action="store_true",
                   help="pointwise: train fusion + judge, so that the judge learns what the fusion misses")
    p.add_argument("--valid-from", type=int, default=1672531200,
                   help="pointwise: examples opened from this Unix time on fit the stacking weight")
    p.add_argument("--regime", default="", choices=["", "component", "symptom"],
                   help="pointwise: train on the examples of this title regime only")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True

    t0 = time.time()
    cfg, weights = load_gguf(args.model)
    model = Judge(cfg, weights, args, device)
    del weights
    if args.pointwise:
        return pointwise_main(args, model, device)
    train, held = Prompts(args.data, "train"), Prompts(args.data, "eval")
    if args.limit:
        train.items = train.items[:args.limit]
        held.items = held.items[:args.limit]
    n_prompts = len(train.items)
    log(f"loaded in {time.time() - t0:.1f} s: {n_prompts} training prompts, {len(held.items)} held-out,"
        f" {sum(x.numel() for x in model.params)} trainable parameters, device {device}")
    labels = torch.tensor(train.labels, device=device)

    report = dict(args=vars(args), evals=[], loss=[])
    before, before_lp = judge(model, held, device, args.batch)
    # The forward pass against rca's own (export_prompts' check.json).
    check = json.load(open(os.path.join(args.data, "check.json")))
    record_check(report, [max(abs(a - b) for a, b in zip(c["base"], before_lp[c["prompt"]]))
                          for c in check if c["prompt"] < len(before_lp)], "label log-probabilities")
    report["evals"].append(dict(step=0, examples=0, seconds=0.0, **before))
    log(f"held-out before: top-1 {before['top1']:.3f} loss {before['loss']:.3f} picks {before['picks_by_slot']}")

    opt = optimizer(model, args)
    rng = np.random.default_rng(args.seed)
    budget = args.minutes * 60
    start = time.time()
    step, seen, last_eval = 0, 0, start
    window = []
    # Prompts are stored epoch after epoch; each pass takes them in that
    # order of epochs, shuffled within an epoch, batched by similar length.
    order = []
    while time.time() - start < budget:
        if not order:
            perm = rng.permutation(n_prompts)
            chunks = [perm[i:i + args.batch * 16] for i in range(0, len(perm), args.batch * 16)]
            batches = []
            for c in chunks:
                c = c[np.argsort(train.items[c, 1])]
                batches += [c[i:i + args.batch] for i in range(0, len(c), args.batch)]
            rng.shuffle(batches)
            order = batches
        rows = order.pop()
        frac = (time.time() - start) / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * max(0.05, 1.0 - frac)
        for g in opt.param_groups:
            g["lr"] = lr
        tokens, lengths, culprit, widths = train.batch(rows, device)
        lp = model(tokens, lengths, labels, widths, checkpoint=args.checkpoint)
        loss = F.nll_loss(lp, culprit)
        descend(opt, model, loss)
        step += 1
        seen += len(rows)
        hits = (lp.argmax(-1) == culprit).float().mean().item()
        window.append((loss.item(), hits))
        if step % 20 == 0:
            l, h = np.mean([w[0] for w in window]), np.mean([w[1] for w in window])
            report["loss"].append(dict(step=step, examples=seen, loss=float(l), top1=float(h), lr=lr))
            log(f"step {step} ({seen / train.examples:.2f} passes): loss {l:.3f} train top-1 {h:.3f} lr {lr:.2e}"
                f" {seen / (time.time() - start):.1f} ex/s")
            window = []
        if time.time() - last_eval > args.eval_every:
            r, _ = judge(model, held, device, args.batch)
            report["evals"].append(dict(step=step, examples=seen, seconds=time.time() - start, **r))
            log(f"held-out at step {step}: top-1 {r['top1']:.3f} loss {r['loss']:.3f} bias {r['max_slot_bias']:.2f}")
            last_eval = time.time()
            json.dump(report, open(os.path.join(args.out, "report.json"), "w"), indent=1)
    elapsed = time.time() - start
    after, after_lp = judge(model, held, device, args.batch)
    report["evals"].append(dict(step=step, examples=seen, seconds=elapsed, **after))
    report.update(steps=step, examples=seen, passes=seen / train.examples, seconds=elapsed,
                  examples_per_s=seen / elapsed if elapsed else 0.0,
                  heldout_before=before, heldout_after=after,
                  logprobs_before=before_lp[:8], logprobs_after=after_lp[:8])
    if device.type == "cuda":
        report["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    if not args.full:
        save_adapter(model, args, args.data, os.path.join(args.out, "adapter.safetensors"))
    json.dump(report, open(os.path.join(args.out, "report.json"), "w"), indent=1)
    log(f"done: {step} steps, {seen} examples ({seen / train.examples:.2f} passes) in {elapsed:.0f} s;"
        f" held-out top-1 {before['top1']:.3f} -> {after['top1']:.3f}, loss {before['loss']:.3f} -> {after['loss']:.3f},"
        f" picks {after['picks_by_slot']}")


if __name__ == "__main__":
    sys.exit(main())
