#!/usr/bin/env python3
"""Query expansion by a code model, stacked into the fusion: does it help symptom titles?

    scripts/expansion-study.py --train base-groups.jsonl --held-out base-heldout-groups.jsonl \
        --titles mined/*.yaml --held-out-titles bench/dev/*.yaml --mirrors <mirrors> \
        [--server http://127.0.0.1:8089] [--out expansions.jsonl]

For each symptom-regime case (a revert's reason), a model served by llama.cpp's
server (OpenAI chat API, greedy) is asked which directories, files, functions
or platforms the faulty change likely touched. The words of its answer that
the title lacks are matched (BM25, idf among the case's candidates) against
each candidate's subject and paths, and log(1 + score) is stacked into the
shipped logit as one more signal (0 for fix titles), out of fold as
fusion-study.py does. Prints how well the expansion alone ranks the culprit
(against chance) and the logit without and with it. Needs numpy and pyyaml;
the titles of training cases come from `rca cases mine` (same case ids).
"""
import importlib.util
import json
import math
import os
import re
import statistics
import urllib.request
from collections import Counter

import numpy as np

spec = importlib.util.spec_from_file_location(
    "fusion_study", os.path.join(os.path.dirname(os.path.abspath(__file__)), "fusion-study.py"))
fs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fs)

PROJECTS = {"dpdk": "DPDK", "uboot": "U-Boot", "angle": "ANGLE", "iree": "IREE",
            "executorch": "ExecuTorch"}
PROMPT = ('In the {project} repository, a commit was reverted or fixed with this reason: "{text}"\n'
          "Guess what the faulty commit changed. Reply with one line of 10 specific technical terms "
          "it likely contains (directory names, file names, function or macro names, APIs, "
          "platforms), separated by spaces. Do not repeat words of the reason.")


def ask(server, prompt):
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 48,
            "temperature": 0, "seed": 0}
    request = urllib.request.Request(f"{server}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=300))["choices"][0]["message"]["content"]


def words(text):
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", text) if len(w) > 1]


def bm25(query, docs, k1=1.2, b=0.75):
    n, avg = len(docs), max(sum(map(len, docs)) / len(docs), 1)
    df = Counter(t for d in docs for t in set(d))
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in set(query)}
    scores = []
    for d in docs:
        tf = Counter(d)
        scores.append(sum(idf[t] * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * len(d) / avg))
                          for t in idf if tf[t]))
    return scores


def expand(groups, mirrors, server, out):
    """Expansion scores of every symptom group's candidates; the culprit's rank by them alone."""
    groups = [g for g in groups if g["regime"] == "symptom"]
    known = fs.read_names(groups, mirrors)
    scores, ranks, chance = {}, [], []
    for g in groups:
        text = g["title"]
        answer = ask(server, PROMPT.format(project=PROJECTS[g["case"].rsplit("-", 1)[0]],
                                           text=text[:300]))
        said = set(words(text))
        query = [w for w in words(answer) if w not in said]
        docs = [words(c.subject + " " + " ".join(c.files[:50]))
                for c in (known.get(i, fs.UNKNOWN) for i in g["ids"])]
        s = np.array(bm25(query, docs))
        scores[g["case"]] = s
        ranks.append(1 + (s > s[g["y"]]).sum() + ((s == s[g["y"]]).sum() - 1) / 2)
        chance.append((len(s) + 1) / 2)
        out.write(json.dumps(dict(case=g["case"], answer=answer, query=query)) + "\n")
        out.flush()
    print(f"{len(ranks)} symptom cases: the expansion alone ranks the culprit at median "
          f"{statistics.median(ranks):.1f} (chance {statistics.median(chance):.1f}), top 5 in "
          f"{np.mean(np.array(ranks) <= 5):.3f}, top 20 in {np.mean(np.array(ranks) <= 20):.3f}")
    return scores


def main():
    ap = fs.title_study_parser(__doc__)
    ap.add_argument("--server", default="http://127.0.0.1:8089")
    ap.add_argument("--out", default="expansions.jsonl")
    a = ap.parse_args()
    train, held_out = fs.load_titled(a)
    with open(a.out, "w") as out:
        scores = expand(train, a.mirrors, a.server, out)
        scores |= expand(held_out, a.mirrors, a.server, out)
    column = lambda g: np.log1p(scores.get(g["case"], np.zeros(len(g["ids"]))))[:, None]
    train, held_out = ([fs.widen(g, column(g)) for g in gs] for gs in (train, held_out))
    fs.evaluate_added(fs.added_last(["expansion_bm25"], train), train, held_out, a.held_out_cases)


if __name__ == "__main__":
    main()
