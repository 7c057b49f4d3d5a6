"""A training pipeline: fits a small churn model, registers the version with
its metrics, and activates it.

    pip install ./clients/python
    MLOPS_URL=http://127.0.0.1:8080 MLOPS_TOKEN=mlops_... python3 examples/training/train.py --model-name churn

MLOPS_TOKEN: a token with the pipeline role (`mlops token create --name training --role pipeline`);
leave it unset on a server without accounts. Prints the new version as JSON.
"""

import argparse
import json
import math
import os
import random
import time

from mlops_client import Client

FEATURES = ["age", "tenure_months", "monthly_spend"]


def make_data(n, rng):
    """Synthetic customers; the older, newer and bigger spenders churn more."""
    rows, labels = [], []
    for _ in range(n):
        x = [rng.uniform(18, 80), rng.uniform(0, 72), rng.uniform(10, 150)]
        z = 0.04 * (x[0] - 45) - 0.06 * (x[1] - 24) + 0.03 * (x[2] - 70)
        rows.append(x)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-z))))
    return rows, labels


def fit(rows, labels, epochs, lr):
    """Logistic regression by gradient descent on standardized features."""
    mean = [sum(c) / len(c) for c in zip(*rows)]
    std = [math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) for c, m in zip(zip(*rows), mean)]
    xs = [[(v - m) / s for v, m, s in zip(r, mean, std)] for r in rows]
    w, b = [0.0] * len(FEATURES), 0.0
    for _ in range(epochs):
        gw, gb = [0.0] * len(w), 0.0
        for x, y in zip(xs, labels):
            err = 1 / (1 + math.exp(-(b + sum(wi * xi for wi, xi in zip(w, x))))) - y
            gw = [g + err * xi for g, xi in zip(gw, x)]
            gb += err
        w = [wi - lr * g / len(xs) for wi, g in zip(w, gw)]
        b -= lr * gb / len(xs)
    return {"features": FEATURES, "mean": mean, "std": std, "weights": w, "bias": b}


def predict(model, x):
    z = model["bias"] + sum(w * (v - m) / s for w, v, m, s in zip(model["weights"], x, model["mean"], model["std"]))
    return 1 / (1 + math.exp(-z))


def evaluate(model, rows, labels):
    pred = [int(predict(model, x) >= 0.5) for x in rows]
    tp = sum(p and y for p, y in zip(pred, labels))
    fp = sum(p and not y for p, y in zip(pred, labels))
    fn = sum(y and not p for p, y in zip(pred, labels))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {
        "accuracy": sum(p == y for p, y in zip(pred, labels)) / len(labels),
        "precision": precision,
        "recall": recall,
        "f1_score": 2 * precision * recall / max(precision + recall, 1e-9),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-name", default="churn")
    ap.add_argument("--version", default=time.strftime("run-%Y%m%d-%H%M%S"))
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    rows, labels = make_data(2000, random.Random(args.seed))
    model = fit(rows[:1600], labels[:1600], args.epochs, lr=0.5)
    metrics = evaluate(model, rows[1600:], labels[1600:])
    path = os.path.abspath(f"{args.model_name}-{args.version}.json")
    with open(path, "w") as f:
        json.dump(model, f)

    client = Client(os.environ.get("MLOPS_URL", "http://127.0.0.1:8080"), token=os.environ.get("MLOPS_TOKEN"))
    version = client.register_model(
        model_name=args.model_name,
        version=args.version,
        algorithm="LogisticRegression",
        metrics=metrics,
        hyperparameters={"epochs": args.epochs, "lr": 0.5, "seed": args.seed},
        feature_names=FEATURES,
        model_path=path,
        training_samples=1600,
    )
    client.activate_model(version["id"])
    print(json.dumps({"model_id": version["id"], "version": args.version, "model_path": path, **metrics}))


if __name__ == "__main__":
    main()
