#!/usr/bin/env python3
"""Stacks a pointwise judge run (train-ref.py --pointwise) onto a fusion that
never saw the examples that fit the stacking weight.

    judge_stack.py --scores run/scores.json --data DATA --valid-fusion-data DATA2

DATA is the export_prompts --pointwise folder the run trained on (its
held-out fusion scores are the shipped fusion's); DATA2 is the same export
with --fusion set to a fusion trained before --valid-from (rca train
--until 2023-01-01), so that the held-back examples' fusion scores are out
of sample. Per title regime, the weight w in [0, 4] maximising the
culprits' likelihood under fusion + w * centred(judge) on the held-back
examples (rca's train::judge::stack_weights) is applied to the held-out
examples. Prints top-1 / top-5 / MRR among the candidates, and the
pipeline's hit@1 / hit@5 over --cases held-out cases (those whose culprit
retrieval dropped count as misses).
"""

import argparse
import json
import math


def culprits(data):
    """Each example's culprit, as an index among its candidates."""
    rows = [[] for _ in data["examples"]]
    for _, _, example, is_culprit in data["items"]:
        rows[example].append(is_culprit)
    return [flags.index(1) for flags in rows]


def rank(scores, c):
    """The culprit's rank (1 = first; ties count against it)."""
    return 1 + sum(1 for j, v in enumerate(scores) if j != c and v >= scores[c])


def centred(v):
    m = sum(v) / len(v)
    return [x - m for x in v]


def fit(meta, examples, scores, culprit):
    """rca's train::judge::stack_weights: per title regime, the w in [0, 4]
    (step 0.01) that maximises the culprits' likelihood under
    fusion + w * centred(judge). `meta[e]` holds example e's "fusion" scores
    and "regime"; `scores` are the judge's, in the order of `examples`."""
    out = {}
    for regime in ("component", "symptom"):
        rows = [(meta[e]["fusion"], centred(s), culprit[e])
                for e, s in zip(examples, scores) if meta[e]["regime"] == regime]

        def likelihood(w):
            total = 0.0
            for f, j, c in rows:
                z = [a + w * b for a, b in zip(f, j)]
                m = max(z)
                total += z[c] - (m + math.log(sum(math.exp(x - m) for x in z)))
            return total
        out[regime] = max(((i * 0.01, likelihood(i * 0.01)) for i in range(401)), key=lambda p: p[1])[0]
    return out


def stack(meta, examples, scores, weights):
    """fusion + w * centred(judge) of each example."""
    return [[a + weights[meta[e]["regime"]] * b for a, b in zip(meta[e]["fusion"], centred(s))]
            for e, s in zip(examples, scores)]


def summary(ranks):
    """Top-1, top-5 and MRR of culprit ranks."""
    n = max(len(ranks), 1)
    return dict(top1=sum(r == 1 for r in ranks) / n, top5=sum(r <= 5 for r in ranks) / n,
                mrr=sum(1.0 / r for r in ranks) / n, examples=len(ranks))


def line(ranks):
    return "top-1 %(top1).3f  top-5 %(top5).3f  MRR %(mrr).3f" % summary(ranks)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--valid-fusion-data", required=True)
    p.add_argument("--cases", type=int, default=65, help="held-out cases in all")
    args = p.parse_args()
    run = json.load(open(args.scores))
    load = lambda d, n: json.load(open(f"{d}/{n}.json"))
    held, valid_meta = load(args.data, "eval"), load(args.valid_fusion_data, "train")
    valid, held_c, train_c = run["valid"], culprits(held), culprits(valid_meta)
    examples = list(range(len(held["examples"])))
    for when in ("before", "after"):
        v, h = run[when]["valid"], run[when]["eval"]
        w = fit(valid_meta["examples"], valid, v, train_c)
        ranks = [rank(s, c) for s, c in zip(stack(held["examples"], examples, h, w), held_c)]
        print(f"{when}: weights {w}")
        print(f"  held-back, fusion alone: {line([rank(valid_meta['examples'][e]['fusion'], train_c[e]) for e in valid])}")
        print(f"  held-back, stacked:      {line([rank(s, train_c[e]) for s, e in zip(stack(valid_meta['examples'], valid, v, w), valid)])}")
        print(f"  held-out, judge alone:   {line([rank(s, c) for s, c in zip(h, held_c)])}")
        print(f"  held-out, fusion alone:  {line([rank(held['examples'][e]['fusion'], held_c[e]) for e in examples])}")
        print(f"  held-out, stacked:       {line(ranks)}")
        print(f"  pipeline over {args.cases} cases: hit@1 %.3f  hit@5 %.3f" % (
            sum(r == 1 for r in ranks) / args.cases, sum(r <= 5 for r in ranks) / args.cases))


if __name__ == "__main__":
    main()
