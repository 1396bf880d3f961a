#!/usr/bin/env python3
"""Try other fusion learners and signals on groups saved by `rca train --save-groups`.

    scripts/fusion-study.py --train pre2024.jsonl --held-out dev-nohint.jsonl \
        [--opened-from 2024-01-01] [--mirrors DIR] [--learners logit,gbdt,hybrid,z,pct]

Every learner is scored out of fold (5 folds, case i in fold i mod 5, as
`rca train` does) on the training groups, and once, fitted on all of them, on
the held-out groups opened from --opened-from on. Held-out rates divide by
--held-out-cases (65: the dev cases, counting the one retrieval drops as a
miss). The `logit` learner is the one rca ships (src/train/fusion.rs: one conditional
logit per title regime, standardised features, L2 1, Adam); it reproduces
train.json's out-of-fold figures. `repo10`, `repo100` and `repo1000` fit,
beside the shared logit, one per repository pulled towards it (penalty 10,
100 or 1000 on the distance between their weights); a repository without
training cases keeps the shared weights.

With --ablate A,B,..., the logit is scored on the signals of the running
version (FEATURES below) without the named ones, then with each of them added
back alone, then with all: how much each new signal helps, out of fold and
held out.

With --recent FROM, the logit is trained on the training groups opened from
FROM on and on all of them, and both are scored out of fold on the recent
ones alone (the same folds) and on the held-out groups: whether older
history teaches the fusion anything (--leave-out names signals to drop).

With --compare TRAIN2 HELD_OUT2, the logit is scored on the groups of two
builds (say before and after a change to retrieval) over the cases both
kept, with the same folds, overall and per title regime, and each case whose
held-out rank moved is listed: whether a change to the signals helps.

With --risk KINDS (and --mirrors), a title-independent prior is added: how
much more often culprits than the other retrieved candidates carry each token
of a change (KINDS: subject words, the subject's component prefix, top
directories, extensions and file count, trailer keys), learned per title regime on the
training folds only, nested so that no case's column comes from a table that
counted it; each candidate gets the mean of its tokens' smoothed log-ratios.

With --later (and --mirrors), three signals borrow evidence from later
changes to the same files (a fix-forward that lands after the culprit on its
files often names the symptom the culprit's message does not): the best
text_bm25 and subject_bm25 among the later candidates that share a file with
a candidate (changes of more than 20 files left out), and how many there are.

With --mirrors, five history signals are added to each candidate from the
mirror's main line in the year before the case opened (file and author fix
history, build files), and each is scored added alone and all together.
Needs numpy. The figures are in docs/benchmarks.md, "Other learners".
"""
import argparse
import bisect
import datetime
import json
import math
import re
import subprocess
import sys
from collections import defaultdict, namedtuple

import numpy as np

FEATURES = ["text_bm25", "subject_bm25", "path_bm25", "component", "log_age_days", "log_rank",
            "age_1d", "age_3d", "age_7d", "age_14d", "log_lines", "log_files", "bot", "revert",
            "reland", "docs_or_tests", "team", "area", "path_hint", "author_window",
            "log_lag_days", "followed_up", "diff_bm25", "string_bm25", "hunk_bm25",
            "exact_match", "association"]

REPOS = {"dpdk": "DPDK+dpdk", "uboot": "u-boot+u-boot", "angle": "google+angle",
         "iree": "iree-org+iree", "executorch": "pytorch+executorch",
         # repositories the shipped fusion never learned from, a second held-out set
         "dawn": "google+dawn", "frr": "FRRouting+frr", "ovs": "openvswitch+ovs",
         "rdmacore": "linux-rdma+rdma-core", "sof": "thesofproject+sof", "spdk": "spdk+spdk",
         "swiftshader": "google+swiftshader", "torchmlir": "llvm+torch-mlir"}


def load(path, opened_from=None):
    groups = []
    for line in open(path):
        r = json.loads(line)
        if opened_from and r["opened_at"] < opened_from:
            continue
        groups.append(dict(case=r["case"], opened_at=r["opened_at"], ids=r["ids"],
                           X=np.array(r["features"], dtype=float), y=r["culprit"],
                           regime=r["regime"]))
    return groups


def rank(score, g):
    s = score(g)
    return 1 + int((s > s[g["y"]]).sum())


def metrics(ranks, total):
    r = np.array(ranks)
    return {k: (r <= n).sum() / total for k, n in (("hit@1", 1), ("hit@5", 5), ("hit@10", 10))} | {
        "MRR": (1 / r).sum() / total}


# ---- learners: each maps groups to a scorer g -> scores ----

def logit(groups, l2=1.0, iterations=300, rate=0.05, prior=None, scale=None):
    """The conditional logit; with `prior` (weights, and the `scale` they were fitted on) the
    penalty pulls the weights towards the prior's instead of towards zero."""
    X = np.vstack([g["X"] for g in groups])
    if scale is None:
        mu, sd = X.mean(0), X.std(0)
        sd[sd == 0] = 1
    else:
        mu, sd = scale
    Z = [(g["X"] - mu) / sd for g in groups]
    w0 = np.zeros(X.shape[1]) if prior is None else prior
    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t in range(1, iterations + 1):
        grad = np.zeros_like(w)
        for z, g in zip(Z, groups):
            s = z @ w
            p = np.exp(s - s.max())
            grad += z.T @ (p / p.sum()) - z[g["y"]]
        grad = grad / len(groups) + l2 * (w - w0) / len(groups)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        w -= rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    score = lambda g: ((g["X"] - mu) / sd) @ w
    score.weights, score.scale = w, (mu, sd)
    return score


def per_repo(l2):
    """The logit of all repositories, and one per repository pulled towards it with penalty
    `l2` (a repository the training cases lack gets the shared weights)."""
    def fit(groups):
        shared = logit(groups)
        repo = lambda g: g["case"].rsplit("-", 1)[0]
        own = {r: logit([g for g in groups if repo(g) == r], l2=l2, prior=shared.weights,
                        scale=shared.scale) for r in {repo(g) for g in groups}}
        return lambda g: own.get(repo(g), shared)(g)
    return fit


def per_regime(fit):
    def fitted(groups):
        by = {r: fit([g for g in groups if g["regime"] == r]) for r in ("component", "symptom")}
        return lambda g: by[g["regime"]](g)
    return fitted


def gbdt(groups, rounds=150, depth=3, eta=0.1, lam=1.0, bins=32, min_h=1.0, base=None):
    """Boosted trees on the listwise softmax loss (Newton leaves, histogram splits)."""
    X = np.vstack([g["X"] for g in groups])
    n, d = X.shape
    edges = [np.unique(np.quantile(X[:, j], np.linspace(0, 1, bins + 1)[1:-1])) for j in range(d)]
    binned = lambda X: np.stack([np.searchsorted(edges[j], X[:, j], side="right") for j in range(d)], 1)
    B = binned(X)
    offsets = np.cumsum([0] + [len(g["X"]) for g in groups])
    gid = np.repeat(np.arange(len(groups)), np.diff(offsets))
    y = np.zeros(n)
    y[offsets[:-1] + [g["y"] for g in groups]] = 1
    f = np.concatenate([base(g) for g in groups]) if base else np.zeros(n)
    trees = []

    def descend(B, node, level):
        right = np.zeros(len(B), dtype=int)
        for k, (j, b) in enumerate(level):
            if j is not None:
                here = node == k
                right[here] = B[here, j] > b
        return 2 * node + right

    def route(B, tree):
        node = np.zeros(len(B), dtype=int)
        for level in tree:
            node = descend(B, node, level)
        return node

    for _ in range(rounds):
        e = np.exp(f - np.maximum.reduceat(f, offsets[:-1])[gid])
        p = e / np.add.reduceat(e, offsets[:-1])[gid]
        G, H = p - y, np.maximum(p * (1 - p), 1e-6)
        node, tree = np.zeros(n, dtype=int), []
        for _level in range(depth):
            level = []
            for k in range(2 ** len(tree)):
                idx = np.nonzero(node == k)[0]
                best = (0.0, None, None)
                if len(idx) > 1:
                    gt, ht = G[idx].sum(), H[idx].sum()
                    for j in range(d):
                        gl = np.cumsum(np.bincount(B[idx, j], G[idx], bins + 1))[:-1]
                        hl = np.cumsum(np.bincount(B[idx, j], H[idx], bins + 1))[:-1]
                        gain = np.where((hl >= min_h) & (ht - hl >= min_h),
                                        gl ** 2 / (hl + lam) + (gt - gl) ** 2 / (ht - hl + lam)
                                        - gt ** 2 / (ht + lam), -1)
                        b = int(gain.argmax())
                        if gain[b] > best[0]:
                            best = (gain[b], j, b)
                level.append(best[1:])
            tree.append(level)
            node = descend(B, node, level)
        leaf = -eta * np.bincount(node, G, 2 ** depth) / (np.bincount(node, H, 2 ** depth) + lam)
        f += leaf[node]
        trees.append((tree, leaf))
    return lambda g: (base(g) if base else 0) + sum(leaf[route(binned(g["X"]), t)] for t, leaf in trees)


def hybrid(groups):
    """The shipped logit, with small trees boosted on its residual."""
    return gbdt(groups, rounds=50, depth=2, eta=0.05, base=per_regime(logit)(groups))


def within_case(kind):
    """The logit on the features plus their within-case z-scores or percentiles."""
    def extra(X):
        if kind == "z":
            return (X - X.mean(0)) / (X.std(0) + 1e-9)
        return X.argsort(0).argsort(0) / max(len(X) - 1, 1)
    def fit(groups):
        widen = lambda g: dict(g, X=np.hstack([g["X"], extra(g["X"])]))
        score = per_regime(logit)([widen(g) for g in groups])
        return lambda g: score(widen(g))
    return fit


LEARNERS = {"logit": per_regime(logit), "gbdt": lambda gs: gbdt(gs), "hybrid": hybrid,
            "z": within_case("z"), "pct": within_case("pct")} | {
            f"repo{l2}": per_regime(per_repo(l2)) for l2 in (10, 100, 1000)}

# ---- history signals, from the mirrors ----

FIX = re.compile(r"^Fixes:\s*([0-9a-f]{7,40})", re.M | re.I)
REVERT = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
BUILD = re.compile(r"(^|/)(BUCK|TARGETS|BUILD|BUILD\.gn|BUILD\.bazel|CMakeLists\.txt|Makefile|"
                   r"meson\.build|Kconfig|DEPS|setup\.py|pyproject\.toml)$|\.(bzl|cmake|gni|gn|bazel|mk)$")
HISTORY = ["file_fixes", "file_buggy", "author_fixed", "author_fix_rate", "build_files"]
YEAR = 365 * 86400


class History:
    def __init__(self, git_dir):
        main = subprocess.run(["git", "--git-dir", git_dir, "symbolic-ref", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        log = ["git", "--git-dir", git_dir, "log", main, "--no-merges", "--since=2019-01-01",
               "--name-only", "--format=%x00%H%x01%ct%x01%ae%x01%B%x02"]
        run = subprocess.run(log, capture_output=True, text=True, errors="replace")
        if run.returncode:
            # a mirror without some large blobs: rename detection cannot read them
            print(f"{git_dir}: {run.stderr.strip()}; read again without renames", file=sys.stderr)
            run = subprocess.run(log + ["--no-renames"], capture_output=True, text=True,
                                 errors="replace", check=True)
        out = run.stdout
        self.commits = []
        for chunk in out.split("\0")[1:]:
            head, _, files = chunk.partition("\2")
            h, ct, author, body = head.split("\1", 3)
            self.commits.append(dict(id=h, t=int(ct), author=author, body=body,
                                     files=[f for f in files.split("\n") if f]))
        self.commits.sort(key=lambda c: c["t"])
        self.times = [c["t"] for c in self.commits]
        self.by_id = {c["id"]: c for c in self.commits}
        short = {c["id"][:7]: c["id"] for c in self.commits}
        for c in self.commits:
            c["targets"] = [short[m[:7]] for m in FIX.findall(c["body"]) + REVERT.findall(c["body"])
                            if m[:7] in short]
            c["fix"] = bool(c["targets"]) or c["body"].startswith("Revert")

    def signals(self, ids, opened):
        """The five signals of each candidate, from commits of the year before `opened`."""
        past = self.commits[bisect.bisect_left(self.times, opened - YEAR):
                            bisect.bisect_left(self.times, opened - 60)]
        fixed = {t for c in past for t in c["targets"]}
        file_fixes, file_buggy = defaultdict(int), defaultdict(int)
        author_fixed, author_all = defaultdict(int), defaultdict(int)
        for c in past:
            for f in c["files"]:
                file_fixes[f] += c["fix"]
                file_buggy[f] += c["id"] in fixed
            author_fixed[c["author"]] += c["id"] in fixed
            author_all[c["author"]] += 1
        rows = []
        for i in ids:
            c = self.by_id.get(i)
            if c is None:
                rows.append([0.0] * len(HISTORY))
                continue
            files = c["files"] or [""]
            ff = max(max(file_fixes[f] - c["fix"], 0) for f in files)
            fb = max(max(file_buggy[f] - (c["id"] in fixed), 0) for f in files)
            af, an = author_fixed[c["author"]], author_all[c["author"]]
            rows.append([math.log1p(ff), math.log1p(fb), math.log1p(af), (af + 0.1) / (an + 2),
                         float(any(BUILD.search(f) for f in files))])
        return np.array(rows)


# ---- a title-independent prior over change tokens (--risk) ----

WORD = re.compile(r"[a-z][a-z0-9]+")
PREFIX = re.compile(r"^([^:]{1,40}):\s*")
# a "Key: value" or "Key Word:" line of a body: trailers, and the headings of review tools'
# templates ("Differential Revision:", "Test Plan:")
TRAILER = re.compile(r"^([A-Z][A-Za-z0-9-]{1,24}(?: [A-Za-z][A-Za-z0-9-]{1,24})?):(?:\s|$)", re.M)


# What the studies read of a change: its subject, changed files and trailer keys.
Change = namedtuple("Change", "subject files trailers")
UNKNOWN = Change("", [], [])


def change_tokens(kinds, change):
    subject, files = change.subject, change.files
    out = set()
    if "trailers" in kinds:
        # how the change landed: the keys of its trailers ("differential-revision",
        # "reviewed-on", "tested-by", ...), or none at all
        out |= {"t:" + k for k in change.trailers} or {"t:-"}
    prefix = PREFIX.match(subject.lower())
    if "subject" in kinds:
        out |= {"w:" + w for w in WORD.findall(subject.lower()[prefix.end() if prefix else 0:])}
    if "prefix" in kinds:
        out.add("p:" + (prefix.group(1) if prefix else "-"))
    if "dirs" in kinds:
        for f in files[:50]:
            parts = f.split("/")
            if len(parts) > 1:
                out.add("d:" + parts[0])
            out.add("e:" + (parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else "-"))
        out.add("n:" + str(min(len(files), 20) // 5))
    return out


def names(git_dir, ids):
    """Each commit's Change, in halves where a snapshot lacks an object."""
    out = subprocess.run(["git", "--git-dir", git_dir, "log", "--no-walk", "--stdin", "--name-only",
                          "--format=%x00%H%x01%s%x01%b%x01"],
                         input="\n".join(ids), capture_output=True,
                         text=True, errors="replace")
    if out.returncode != 0:
        if len(ids) == 1:
            return {}
        return names(git_dir, ids[:len(ids) // 2]) | names(git_dir, ids[len(ids) // 2:])
    found = {}
    for chunk in out.stdout.split("\0")[1:]:
        h, subject, body, files = chunk.split("\1", 3)
        keys = sorted({m.group(1).lower().replace(" ", "-") for m in TRAILER.finditer(body)})
        found[h] = Change(subject, [f for f in files.split("\n") if f], keys)
    return found


def titles_of(files):
    """Case id -> title and impact, from the cases files of one set. Training
    and development ids can be equal (`angle-12` names two different cases),
    so each set is read on its own."""
    import yaml
    return {c["id"]: (c["title"] + " " + (c.get("impact") or "")).strip()
            for f in files for c in yaml.safe_load(open(f))["cases"]}


def title_study_parser(doc):
    """The arguments the studies of titles share: the saved groups, the cases
    files their titles come from (each set apart), the mirrors."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--held-out", required=True)
    ap.add_argument("--titles", nargs="+", required=True)
    ap.add_argument("--held-out-titles", nargs="+", required=True)
    ap.add_argument("--mirrors", required=True)
    ap.add_argument("--opened-from", default="2024-01-01")
    ap.add_argument("--held-out-cases", type=int, default=65)
    return ap


def load_titled(a):
    """The training and held-out groups of a title study's arguments, each
    with its case's title and impact as `title`."""
    train, held_out = load(a.train), load(a.held_out, a.opened_from)
    for groups, files in ((train, a.titles), (held_out, a.held_out_titles)):
        text = titles_of(files)
        for g in groups:
            g["title"] = text[g["case"]]
    return train, held_out


def read_names(groups, mirrors):
    """The Change of every candidate of the groups, from the mirrors."""
    by_repo = defaultdict(set)
    for g in groups:
        by_repo[g["case"].split("-")[0]].update(g["ids"])
    known = {}
    for name, ids in by_repo.items():
        ids = sorted(ids)
        for k in range(0, len(ids), 5000):
            known |= names(f"{mirrors}/{REPOS[name]}/repo", ids[k:k + 5000])
    return known


def add_tokens(groups, mirrors, kinds):
    known = read_names(groups, mirrors)
    for g in groups:
        g["tokens"] = [change_tokens(kinds, known.get(i, UNKNOWN)) for i in g["ids"]]


def risk_table(groups, alpha=2.0, min_n=30):
    """Token → smoothed log-ratio of its rate among culprits to its rate among candidates."""
    culprits, seen = defaultdict(int), defaultdict(int)
    for g in groups:
        for j, tokens in enumerate(g["tokens"]):
            for t in tokens:
                seen[t] += 1
                culprits[t] += j == g["y"]
    base = len(groups) / max(sum(len(g["tokens"]) for g in groups), 1)
    return {t: math.log((culprits[t] + alpha * base) / (n * base + alpha * base))
            for t, n in seen.items() if n >= min_n}


def with_risk(g, tables):
    table = tables[g["regime"]]
    col = [np.mean([table[t] for t in ts if t in table] or [0.0]) for ts in g["tokens"]]
    return widen(g, np.array(col)[:, None])


def risk_learner(groups):
    """The logit with the prior as one more signal."""
    tables = lambda gs: {r: risk_table([g for g in gs if g["regime"] == r])
                         for r in ("component", "symptom")}
    widened = [None] * len(groups)
    for fold in range(5):
        inner = tables([g for i, g in enumerate(groups) if i % 5 != fold])
        for i in range(fold, len(groups), 5):
            widened[i] = with_risk(groups[i], inner)
    score, outer = LEARNERS["logit"](widened), tables(groups)
    return lambda g: score(with_risk(g, outer))


# ---- evidence from later changes to the same files (--later) ----

LATER = ["later_text", "later_subject", "later_count"]


def later_signals(g, known, max_files=20):
    files = [set(known.get(i, UNKNOWN).files) for i in g["ids"]]
    files = [f if len(f) <= max_files else set() for f in files]
    column = {f: k for k, f in enumerate(sorted(set().union(*files)))}
    touches = np.zeros((len(files), max(len(column), 1)))
    for c, names_of in enumerate(files):
        touches[c, [column[f] for f in names_of]] = 1
    age = g["X"][:, FEATURES.index("log_age_days")]
    later = ((touches @ touches.T) > 0) & (age[None, :] < age[:, None])
    np.fill_diagonal(later, False)
    best = lambda name: np.where(later, g["X"][None, :, FEATURES.index(name)], 0).max(1)
    return np.stack([best("text_bm25"), best("subject_bm25"), np.log1p(later.sum(1))], 1)


def add_history(groups, mirrors, cache):
    for g in groups:
        name = g["case"].split("-")[0]
        if name not in cache:
            cache[name] = History(f"{mirrors}/{REPOS[name]}/repo")
        opened = int(datetime.datetime.fromisoformat(g["opened_at"].replace("Z", "+00:00")).timestamp())
        g["X"] = np.hstack([g["X"], cache[name].signals(g["ids"], opened)])


def evaluate(label, fit, train, held_out, total, fit_on=None, score_on=None):
    """Out of fold (case i in fold i mod 5) and held out. `fit_on` limits the
    training cases the folds fit on, `score_on` those scored out of fold."""
    fit_on = set(range(len(train)) if fit_on is None else fit_on)
    score_on = range(len(train)) if score_on is None else score_on
    ranks = []
    for fold in range(5):
        score = fit([g for i, g in enumerate(train) if i in fit_on and i % 5 != fold])
        ranks += [rank(score, train[i]) for i in score_on if i % 5 == fold]
    oof = metrics(ranks, len(ranks))
    score = fit([train[i] for i in sorted(fit_on)])
    held = metrics([rank(score, g) for g in held_out], total)
    print(f"{label:<22} out of fold " + " ".join(f"{k} {v:.3f}" for k, v in oof.items())
          + " | held-out " + " ".join(f"{k} {v:.3f}" for k, v in held.items()), flush=True)


def widen(g, columns):
    """The group with more signals after its own."""
    return dict(g, X=np.hstack([g["X"], columns]))


def pick(groups, columns):
    return [dict(g, X=g["X"][:, columns]) for g in groups]


def evaluate_added(added, train, held_out, total):
    """The logit without the signals `added` (name → column), with each added
    back alone, then with all of them."""
    base = [k for k in range(train[0]["X"].shape[1]) if k not in added.values()]
    evaluate("without them", LEARNERS["logit"], pick(train, base), pick(held_out, base), total)
    for name, column in added.items():
        cols = sorted(base + [column])
        evaluate(f"+ {name}", LEARNERS["logit"], pick(train, cols), pick(held_out, cols), total)
    evaluate("with all", LEARNERS["logit"], train, held_out, total)


def added_last(names, groups):
    """Name → column of signals appended after the groups' own."""
    first = groups[0]["X"].shape[1] - len(names)
    return {name: first + k for k, name in enumerate(names)}


def compare_builds(train, held_out, other_train, other_held_out, total):
    """The logit on two builds' groups, out of fold on the cases both kept
    (case i in fold i mod 5 of that common list), per regime, then held out."""
    fit = LEARNERS["logit"]
    by_case = {g["case"]: g for g in other_train}
    pairs = [(g, by_case[g["case"]]) for g in train if g["case"] in by_case]
    ranks = {0: [], 1: []}
    for side in (0, 1):
        groups = [p[side] for p in pairs]
        for fold in range(5):
            score = fit([g for i, g in enumerate(groups) if i % 5 != fold])
            ranks[side] += [(i, rank(score, groups[i])) for i in range(len(groups)) if i % 5 == fold]
        ranks[side] = [r for _, r in sorted(ranks[side])]
    print(f"out of fold on the {len(pairs)} cases both kept (first build → second):")
    for regime in (None, "component", "symptom"):
        keep = [i for i, (g, _) in enumerate(pairs) if regime in (None, g["regime"])]
        a, b = (metrics([ranks[side][i] for i in keep], len(keep)) for side in (0, 1))
        gained = sum(ranks[1][i] <= 5 < ranks[0][i] for i in keep)
        lost = sum(ranks[0][i] <= 5 < ranks[1][i] for i in keep)
        print(f"  {regime or 'all':<10} {len(keep):>5} " + " ".join(
            f"{k} {a[k]:.3f} → {b[k]:.3f}" for k in a) + f"  top 5: +{gained} −{lost}")
    held = []
    for groups, scored in ((train, held_out), (other_train, other_held_out)):
        score = fit(groups)
        held.append({g["case"]: rank(score, g) for g in scored})
    a, b = (metrics(list(h.values()), total) for h in held)
    print("held out: " + " ".join(f"{k} {a[k]:.3f} → {b[k]:.3f}" for k in a))
    for case in sorted(set(held[0]) | set(held[1])):
        if held[0].get(case) != held[1].get(case):
            print(f"  {case}: {held[0].get(case)} → {held[1].get(case)}")


def compare_recent(since, train, held_out, total):
    """The logit fitted on the cases from `since` on, then on all of them, both
    scored out of fold on the recent cases alone."""
    recent = [i for i, g in enumerate(train) if g["opened_at"] >= since]
    print(f"out of fold on the {len(recent)} cases from {since}:")
    for label, fit_on in ((f"trained from {since}", recent), ("trained on all", None)):
        evaluate(label, LEARNERS["logit"], train, held_out, total, fit_on, recent)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--held-out", required=True)
    ap.add_argument("--opened-from", default="2024-01-01")
    ap.add_argument("--held-out-cases", type=int, default=65)
    ap.add_argument("--learners", default="logit,gbdt,hybrid,z,pct")
    ap.add_argument("--mirrors")
    ap.add_argument("--ablate", help="comma-separated signal names to leave out and add back")
    ap.add_argument("--recent", help="compare training from this date on against all groups")
    ap.add_argument("--leave-out", default="", help="comma-separated signals --recent drops")
    ap.add_argument("--later", action="store_true",
                    help="add evidence from later changes to the same files")
    ap.add_argument("--risk", help="comma-separated token kinds of the prior: subject,prefix,dirs,trailers")
    ap.add_argument("--compare", nargs=2, metavar=("TRAIN2", "HELD_OUT2"),
                    help="groups of a second build to compare with, case by case")
    a = ap.parse_args()
    train, held_out = load(a.train), load(a.held_out, a.opened_from)
    print(f"{len(train)} training groups, {len(held_out)} held-out groups")
    if a.compare:
        compare_builds(train, held_out, load(a.compare[0]), load(a.compare[1], a.opened_from),
                       a.held_out_cases)
        return
    if a.recent:
        cols = [k for k, f in enumerate(FEATURES) if f not in a.leave_out.split(",")]
        compare_recent(a.recent, pick(train, cols), pick(held_out, cols), a.held_out_cases)
        return
    if a.ablate:
        evaluate_added({name: FEATURES.index(name) for name in a.ablate.split(",")}, train,
                       held_out, a.held_out_cases)
        return
    if (a.later or a.risk) and not a.mirrors:
        ap.error("--later and --risk read the changes' subjects and files: give --mirrors")
    if a.later:
        known = read_names(train + held_out, a.mirrors)
        train, held_out = ([widen(g, later_signals(g, known)) for g in gs] for gs in (train, held_out))
        evaluate_added(added_last(LATER, train), train, held_out, a.held_out_cases)
        return
    if a.risk:
        add_tokens(train + held_out, a.mirrors, a.risk.split(","))
        evaluate("logit", LEARNERS["logit"], train, held_out, a.held_out_cases)
        evaluate(f"logit + risk ({a.risk})", risk_learner, train, held_out, a.held_out_cases)
        return
    if a.mirrors:
        # the history signals; "without them" is the logit of the saved signals
        cache = {}
        add_history(train, a.mirrors, cache)
        add_history(held_out, a.mirrors, cache)
        evaluate_added(added_last(HISTORY, train), train, held_out, a.held_out_cases)
        return
    for name in a.learners.split(","):
        evaluate(name, LEARNERS[name], train, held_out, a.held_out_cases)


if __name__ == "__main__":
    main()
