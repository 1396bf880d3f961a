#!/usr/bin/env python3
"""Checks that an adapter written by train-ref.py --pointwise scores in rca
as it did in PyTorch.

    adapter-check.py --scores run/scores.json --check CHECK/check.json

CHECK is an `export_prompts --pointwise --check N --adapter run/adapter.safetensors`
folder for the same examples as the run's data: its check.json holds rca's
log-odds of the first N held-out prompts without and with the adapter.
Prints, over those prompts, how far the adapter moved the scores (in
PyTorch) and the largest gaps between rca and PyTorch, before and after
training and in the shift the adapter makes. Exits 1 if the shift's gap
exceeds --tolerance times the largest move.
"""

import argparse
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", required=True, help="train-ref.py's scores.json")
    p.add_argument("--check", required=True, help="export_prompts' check.json, made with --adapter")
    p.add_argument("--tolerance", type=float, default=0.1)
    args = p.parse_args()
    scores = json.load(open(args.scores))
    before = [v for s in scores["before"]["eval"] for v in s]
    after = [v for s in scores["after"]["eval"] for v in s]
    check = [c for c in json.load(open(args.check)) if c.get("adapted") is not None]
    if not check:
        sys.exit("check.json holds no adapted scores: make it with export_prompts --adapter")
    rows = [(before[c["prompt"]], after[c["prompt"]], c["base"], c["adapted"]) for c in check]
    moved = max(abs(a - b) for b, a, _, _ in rows)
    gap_before = max(abs(b - rb) for b, _, rb, _ in rows)
    gap_after = max(abs(a - ra) for _, a, _, ra in rows)
    gap_shift = max(abs((a - b) - (ra - rb)) for b, a, rb, ra in rows)
    print(f"{len(rows)} prompts: the adapter moves PyTorch's log-odds by up to {moved:.3f}")
    print(f"rca against PyTorch: base {gap_before:.4f}, adapted {gap_after:.4f}, shift {gap_shift:.4f}")
    for b, a, rb, ra in rows:
        print(f"  torch {b:+.3f} -> {a:+.3f}   rca {rb:+.3f} -> {ra:+.3f}")
    if gap_shift > args.tolerance * max(moved, 1e-9):
        sys.exit(f"the shift differs by {gap_shift:.4f}, over {args.tolerance} of the move {moved:.4f}")


if __name__ == "__main__":
    main()
