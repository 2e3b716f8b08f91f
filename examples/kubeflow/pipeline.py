"""A Kubeflow Pipelines v2 pipeline whose steps log to Tether and register the model.

(No `from __future__ import annotations` here: kfp reads the real annotation objects.)

    python pipeline.py --output tether_pipeline.yaml     # compile (needs the kfp SDK)

Steps: train (logs params, a metric history and the model folder to a Tether run through the SDK)
-> gate (`tether models gate` against Production: exit 3 fails the step) -> register (`tether
models register`, prints the version) -> request review (`tether models request`). Deployment
waits for the reviewer's decision outside the pipeline (examples/retrain-webhook/ starts a deploy
on `transition.approved`).

Every step reads TETHER_URL from a pipeline parameter and TETHER_TOKEN from the Kubernetes Secret
`tether-token` (key `token`), mounted as an environment variable with kfp-kubernetes when it is
installed. The steps install only the client (`tether`: requests, tqdm, click).
"""

import argparse

from kfp import compiler, dsl

BASE_IMAGE = "python:3.11-slim"
CLIENT = ["tether"]  # the client package only; pin it in production


@dsl.component(base_image=BASE_IMAGE, packages_to_install=CLIENT)
def train(tether_url: str, experiment: str, lr: float, epochs: int, model_dir: dsl.Output[dsl.Model]) -> str:
    """Train a one-feature logistic regression and log everything to a Tether run; returns the run id."""
    import json
    import math
    import os
    import random

    import tether

    os.environ["TETHER_URL"] = tether_url
    rng = random.Random(7)
    rows = [(rng.gauss(1.0 if y else -1.0, 1.0), int(y)) for y in (rng.random() < 0.5 for _ in range(600))]
    train_rows, test_rows = rows[:400], rows[400:]
    w = b = 0.0
    with tether.start_run(experiment=experiment, name="kubeflow") as run:
        run.log_params({"lr": lr, "epochs": epochs})
        for epoch in range(epochs):
            gw = gb = loss = 0.0
            for x, y in train_rows:
                p = 1 / (1 + math.exp(-(w * x + b)))
                gw, gb, loss = gw + (p - y) * x, gb + (p - y), loss - math.log(p if y else 1 - p)
            w, b = w - lr * gw / len(train_rows), b - lr * gb / len(train_rows)
            run.log_metric("loss", loss / len(train_rows), step=epoch)
        pos = [w * x + b for x, y in test_rows if y]
        neg = [w * x + b for x, y in test_rows if not y]
        auc = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))
        run.log_metric("auc", auc, step=epochs)
        os.makedirs(model_dir.path, exist_ok=True)
        with open(os.path.join(model_dir.path, "model.json"), "w") as fh:
            json.dump({"kind": "logistic", "w": w, "b": b}, fh)
        run.log_artifacts(model_dir.path, artifact_path="model")
        return run.id


@dsl.component(base_image=BASE_IMAGE, packages_to_install=CLIENT)
def gate(tether_url: str, model_name: str, run_id: str, min_auc: float, max_regression: float) -> None:
    """Fail the step (exit 3 from the CLI) unless the run's AUC clears the bar and Production's."""
    import os
    import subprocess

    os.environ["TETHER_URL"] = tether_url
    subprocess.run(
        [
            "tether",
            "models",
            "gate",
            "--name",
            model_name,
            "--run",
            run_id,
            "--metric",
            "auc",
            "--min",
            str(min_auc),
            "--vs",
            "production",
            "--max-regression",
            str(max_regression),
        ],
        check=True,
    )


@dsl.component(base_image=BASE_IMAGE, packages_to_install=CLIENT)
def register(tether_url: str, model_name: str, run_id: str) -> int:
    """Register the run's `model` folder as a new version (alias `candidate`); returns the version."""
    import os
    import subprocess

    os.environ["TETHER_URL"] = tether_url
    out = subprocess.run(
        [
            "tether",
            "models",
            "register",
            "--run",
            run_id,
            "--path",
            "model",
            "--name",
            model_name,
            "--alias",
            "candidate",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


@dsl.component(base_image=BASE_IMAGE, packages_to_install=CLIENT)
def request_review(tether_url: str, model_name: str, version: int, comment: str) -> int:
    """Ask reviewers to promote the version to Production; returns the request id."""
    import os
    import subprocess

    os.environ["TETHER_URL"] = tether_url
    out = subprocess.run(
        [
            "tether",
            "models",
            "request",
            "--name",
            model_name,
            "--version",
            str(version),
            "--to",
            "Production",
            "--comment",
            comment,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip())


def _with_token(task: dsl.PipelineTask) -> dsl.PipelineTask:
    try:
        from kfp import kubernetes
    except ImportError:  # kfp-kubernetes not installed: set TETHER_TOKEN on the cluster side instead
        return task
    return kubernetes.use_secret_as_env(
        task, secret_name="tether-token", secret_key_to_env={"token": "TETHER_TOKEN"}
    )


@dsl.pipeline(name="tether-train-register", description="Train, gate, register and request review in Tether")
def tether_pipeline(
    tether_url: str = "http://tether.tether.svc.cluster.local:5055",
    model_name: str = "churn",
    experiment: str = "churn-kubeflow",
    lr: float = 0.5,
    epochs: int = 200,
    min_auc: float = 0.75,
    max_regression: float = 0.01,
) -> None:
    t = _with_token(train(tether_url=tether_url, experiment=experiment, lr=lr, epochs=epochs))
    g = _with_token(
        gate(
            tether_url=tether_url,
            model_name=model_name,
            run_id=t.outputs["Output"],
            min_auc=min_auc,
            max_regression=max_regression,
        )
    )
    r = _with_token(register(tether_url=tether_url, model_name=model_name, run_id=t.outputs["Output"]))
    r.after(g)
    _with_token(
        request_review(
            tether_url=tether_url, model_name=model_name, version=r.output, comment="Kubeflow pipeline run"
        )
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="tether_pipeline.yaml")
    compiler.Compiler().compile(tether_pipeline, ap.parse_args().output)
