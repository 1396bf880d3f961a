#!/usr/bin/env python3
"""Learning curves of pointwise judge runs (train-ref.py --pointwise reports) as one SVG.

    judge-curves.py --out curves.svg NAME=run/report.json [NAME=...]

Left: the training loss (per 20 steps) against passes over the training
examples. Right: the judge's held-out top-1 (solid) and MRR (dashed) among
the fusion's top 20 at each evaluation, with chance (top-1 0.05) in grey.
Plain SVG, no plotting library.
"""

import argparse
import json

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
W, H, PAD = 380, 260, 48


def panel(x0, title, xmax, ymax, lines, yticks):
    """An SVG group: axes at x0 and polylines [(points, colour, dashed)]."""
    sx = lambda x: x0 + PAD + x / xmax * (W - PAD - 16)
    sy = lambda y: H - 36 - y / ymax * (H - 36 - 28)
    out = [f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(xmax)}" y2="{sy(0)}" stroke="black"/>',
           f'<line x1="{sx(0)}" y1="{sy(0)}" x2="{sx(0)}" y2="{sy(ymax)}" stroke="black"/>',
           f'<text x="{x0 + W / 2}" y="{H - 6}" text-anchor="middle">passes over the training examples</text>']
    for t in yticks:
        out.append(f'<line x1="{sx(0)}" y1="{sy(t):.1f}" x2="{sx(xmax)}" y2="{sy(t):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(0) - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    step = 0.5 if xmax <= 2 else 1.0
    t = 0.0
    while t <= xmax + 1e-9:
        out.append(f'<text x="{sx(t):.1f}" y="{sy(0) + 14:.1f}" text-anchor="middle">{t:g}</text>')
        t += step
    for points, colour, dashed in lines:
        if not points:
            continue
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        dash = ' stroke-dasharray="5,3"' if dashed else ""
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.6"{dash}/>')
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("runs", nargs="+", help="NAME=report.json")
    args = p.parse_args()
    runs = []
    for spec in args.runs:
        name, path = spec.split("=", 1)
        report = json.load(open(path))
        n_train = report["loss"][0]["examples"] / report["loss"][0]["passes"]
        loss = [(r["passes"], r["loss"]) for r in report["loss"]]
        evals = [(e["examples"] / n_train, e["judge"]["top1"], e["judge"]["mrr"]) for e in report["evals"]]
        runs.append((name, loss, evals))
    xmax = max(max(x for x, _ in loss) for _, loss, _ in runs)
    xmax = max(0.5, round(xmax * 2 + 0.5) / 2)
    ymax = max(max(y for _, y in loss) for _, loss, _ in runs) * 1.1
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 22 * len(runs)}"'
           ' font-family="sans-serif" font-size="12">',
           f'<rect width="{2 * W}" height="{H + 22 * len(runs)}" fill="white"/>']
    svg += panel(0, "training loss", xmax, ymax,
                 [(loss, COLOURS[i % 5], False) for i, (_, loss, _) in enumerate(runs)],
                 [round(ymax * k / 4, 1) for k in range(5)])
    lines = [([(0, 0.05), (xmax, 0.05)], "#999", False)]
    for i, (_, _, evals) in enumerate(runs):
        lines.append(([(x, t) for x, t, _ in evals], COLOURS[i % 5], False))
        lines.append(([(x, m) for x, _, m in evals], COLOURS[i % 5], True))
    svg += panel(W, "held-out judge: top-1 (solid), MRR (dashed)", xmax, 0.7, lines,
                 [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    for i, (name, _, evals) in enumerate(runs):
        y = H + 16 + 22 * i
        last = evals[-1]
        svg.append(f'<line x1="20" y1="{y - 4}" x2="44" y2="{y - 4}" stroke="{COLOURS[i % 5]}" stroke-width="2"/>')
        svg.append(f'<text x="50" y="{y}">{name}: held-out top-1 {evals[0][1]:.3f} → {last[1]:.3f},'
                   f' MRR {evals[0][2]:.3f} → {last[2]:.3f}</text>')
    svg.append("</svg>")
    open(args.out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
