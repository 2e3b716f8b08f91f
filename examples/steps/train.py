"""A tiny, dependency-free training step for the pipeline examples.

Fits a one-feature logistic regression by gradient descent on seeded synthetic data, writes the
model to OUT/model.json, the metrics (AUC on a held-out split, log loss history) to METRICS and the
hyper-parameters to PARAMS. Swap it for your real training script; the pipeline only needs files.

    python3 train.py --out model --metrics metrics.json --params params.json [--lr 0.5] [--epochs 200]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path


def data(n: int, seed: int) -> list[tuple[float, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        y = rng.random() < 0.5
        out.append((rng.gauss(1.0 if y else -1.0, 1.0), int(y)))
    return out


def auc(scores: list[float], labels: list[int]) -> float:
    """Mann-Whitney U / (n_pos * n_neg), ties counted as half."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="model")
    ap.add_argument("--metrics", default="metrics.json")
    ap.add_argument("--params", default="params.json")
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    train, test = data(400, a.seed), data(200, a.seed + 1)
    w = b = 0.0
    losses = []
    for _ in range(a.epochs):
        gw = gb = loss = 0.0
        for x, y in train:
            p = 1 / (1 + math.exp(-(w * x + b)))
            gw, gb = gw + (p - y) * x, gb + (p - y)
            loss -= math.log(p if y else 1 - p)
        w, b = w - a.lr * gw / len(train), b - a.lr * gb / len(train)
        losses.append(round(loss / len(train), 6))
    score = auc([w * x + b for x, _ in test], [y for _, y in test])
    Path(a.out).mkdir(parents=True, exist_ok=True)
    Path(a.out, "model.json").write_text(json.dumps({"kind": "logistic", "w": w, "b": b}) + "\n")
    Path(a.metrics).write_text(json.dumps({"auc": round(score, 6), "loss": losses[::20]}) + "\n")
    Path(a.params).write_text(json.dumps({"lr": a.lr, "epochs": a.epochs, "seed": a.seed}) + "\n")
    print(f"trained: auc={score:.4f}")


if __name__ == "__main__":
    main()
