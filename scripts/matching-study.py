#!/usr/bin/env python3
"""A learned matching of incident words and change tokens, stacked into the fusion.

    scripts/matching-study.py --train groups.jsonl --held-out heldout-groups.jsonl \
        --titles mined/*.yaml --held-out-titles bench/dev/*.yaml --mirrors DIR \
        [--dim 32] [--epochs 5] [--tokens subject,paths]

The associations (`rca train`) count how often a title word and a change token
go together in past cases, pair by pair. This tries the factorised form: each
title word and each change token (the subject's words, the pieces of its
paths split at / . _ - and camelCase) gets a vector of --dim numbers; a
change's score is the mean word vector dotted with the mean token vector, and
the vectors are trained with the fusion's listwise loss (softmax of the
culprit among the case's retrieved candidates), Adam, in numpy. Words and
tokens that go with the same things share what they learn, so a pair that
was never seen together can still score.

Its score enters the shipped logit (scripts/fusion-study.py) as one more
signal: out of fold, each training case scored by a matching trained on the
other four folds (the logit's folds); held out, by one trained on all of them.
--titles are the training cases' files as `rca cases mine` writes them (the
ids `rca train --save-groups` uses); --held-out-titles the development cases.
With --split DATE the matching learns from the training cases before DATE
only, and the logit is fitted and scored out of fold on those from DATE on:
no case's matching score comes from a model that saw it or its fold.
Figures: docs/benchmarks.md, "A learned matching of words and tokens".
"""
import importlib.util
import re
from collections import Counter
from pathlib import Path

import numpy as np

spec = importlib.util.spec_from_file_location("fs", Path(__file__).with_name("fusion-study.py"))
fs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fs)

CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
STOP = set("""a an the of to in on for with and or is are was were be been this that it its
as at by from not no but if when after before into via than then there their these those
we i you he she they our my your can could would should will may might has have had do does
did so such some any all also only just more most very about which what who while""".split())


def words(text):
    return {w for w in fs.WORD.findall(text.lower()) if w not in STOP}


def matching_tokens(subject, files, kinds):
    out = {"s:" + w for w in words(subject)} if "subject" in kinds else set()
    if "paths" in kinds:
        for f in files[:50]:
            for part in re.split(r"[/._\-]", f):
                out |= {"p:" + piece.lower() for piece in CAMEL.findall(part) if len(piece) > 1}
    return out


def index(sets, min_count):
    counts = Counter(t for s in sets for t in s)
    return {t: i for i, t in enumerate(sorted(t for t, n in counts.items() if n >= min_count))}


class Matching:
    """Low-rank bilinear scores of one case's candidates, trained listwise."""

    def __init__(self, groups, dim, seed=0):
        self.words = index([g["words"] for g in groups], 3)
        self.tokens = index([t for g in groups for t in g["tokens"]], 5)
        rng = np.random.default_rng(seed)
        self.U = rng.normal(0, 0.1, (len(self.words), dim))
        self.V = rng.normal(0, 0.1, (len(self.tokens), dim))

    def encode(self, g):
        return ([self.words[w] for w in g["words"] if w in self.words],
                [[self.tokens[t] for t in ts if t in self.tokens] for ts in g["tokens"]])

    def forward(self, encoded):
        w, rows = encoded
        if not w:
            return np.zeros(len(rows)), None, None
        u = self.U[w].mean(0)
        v = np.array([self.V[r].mean(0) if r else np.zeros(self.U.shape[1]) for r in rows])
        return v @ u, u, v

    def scores(self, g):
        return self.forward(self.encode(g))[0]

    def fit(self, groups, epochs, rate=0.02, l2=1e-4, seed=0):
        rng = np.random.default_rng(seed)
        encoded = [self.encode(g) for g in groups]
        moments = [(np.zeros_like(P), np.zeros_like(P)) for P in (self.U, self.V)]
        step = 0
        for epoch in range(epochs):
            loss = 0.0
            for k in rng.permutation(len(groups)):
                (w, rows), y = encoded[k], groups[k]["y"]
                if not w:
                    continue
                s, u, v = self.forward(encoded[k])
                p = np.exp(s - s.max())
                p /= p.sum()
                loss -= np.log(p[y] + 1e-12)
                p[y] -= 1  # d loss / d score
                gU, gV = l2 * self.U, l2 * self.V
                np.add.at(gU, w, (p @ v) / len(w))
                for c, r in enumerate(rows):
                    if r and abs(p[c]) > 1e-6:
                        np.add.at(gV, r, p[c] * u / len(r))
                step += 1
                for P, G, (m, q) in zip((self.U, self.V), (gU, gV), moments):
                    m[:] = 0.9 * m + 0.1 * G
                    q[:] = 0.999 * q + 0.001 * G * G
                    P -= rate * (m / (1 - 0.9 ** step)) / (np.sqrt(q / (1 - 0.999 ** step)) + 1e-8)
            print(f"    epoch {epoch + 1}: loss {loss / len(groups):.3f}", flush=True)
        return self


def alone(scores, groups):
    ranks = [fs.rank(lambda _, s=s: s, g) for g, s in zip(groups, scores)]
    return " ".join(f"{k} {v:.3f}" for k, v in fs.metrics(ranks, len(ranks)).items())


def main():
    ap = fs.title_study_parser(__doc__)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--tokens", default="subject,paths")
    ap.add_argument("--split", help="train the matching before this date only, and fit and score "
                    "the logit on the training cases from it on (no stacking optimism)")
    a = ap.parse_args()
    train, held = fs.load_titled(a)
    for g in train + held:
        g["words"] = words(g["title"])
    known = fs.read_names(train + held, a.mirrors)
    kinds = a.tokens.split(",")
    for g in train + held:
        changes = (known.get(i, fs.UNKNOWN) for i in g["ids"])
        g["tokens"] = [matching_tokens(c.subject, c.files, kinds) for c in changes]
    print(f"{len(train)} training groups, {len(held)} held-out groups; dim {a.dim}, "
          f"{a.epochs} epochs, tokens {a.tokens}")
    if a.split:
        # a clean check: the matching learns from the cases before --split
        # alone; the logit is fitted and scored out of fold on the later ones
        early = [g for g in train if g["opened_at"] < a.split]
        scored = [g for g in train if g["opened_at"] >= a.split]
        print(f"  the {len(early)} cases before {a.split}", flush=True)
        matching = Matching(early, a.dim).fit(early, a.epochs)
        scores = [matching.scores(g) for g in scored]
        label = f"the {len(scored)} later cases"
    else:
        scored, scores, label = train, [None] * len(train), "out of fold"
        for fold in range(5):
            print(f"  fold {fold + 1} of 5", flush=True)
            part = [g for i, g in enumerate(train) if i % 5 != fold]
            matching = Matching(part, a.dim).fit(part, a.epochs)
            for i in range(fold, len(train), 5):
                scores[i] = matching.scores(train[i])
        print("  all training cases", flush=True)
        matching = Matching(train, a.dim).fit(train, a.epochs)
    held_scores = [matching.scores(g) for g in held]
    print(f"the matching alone, {label}: {alone(scores, scored)}")
    print(f"the matching alone, held out ({len(held)} kept): {alone(held_scores, held)}")
    fs.evaluate("logit", fs.LEARNERS["logit"], scored, held, a.held_out_cases)
    fs.evaluate("logit + matching", fs.LEARNERS["logit"],
                [fs.widen(g, s[:, None]) for g, s in zip(scored, scores)],
                [fs.widen(g, s[:, None]) for g, s in zip(held, held_scores)], a.held_out_cases)

if __name__ == "__main__":
    main()
