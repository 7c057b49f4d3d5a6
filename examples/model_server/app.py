"""A model server: FastAPI's /predict serves the active version of a model and
logs every prediction to mlops in the background (PredictionLogger).

    pip install ./clients/python fastapi uvicorn    # Debian: apt-get install python3-fastapi python3-uvicorn
    MLOPS_URL=http://127.0.0.1:8080 MODEL_NAME=churn uvicorn app:app --app-dir examples/model_server --port 8000
    curl -s localhost:8000/predict -H 'Content-Type: application/json' \\
      -d '{"features": {"age": 42, "tenure_months": 3, "monthly_spend": 80}}'

MLOPS_TOKEN: a token with the pipeline role; MLOPS_LOG_PREDICTIONS=0 turns logging off.
The version's model_path is the file examples/training/train.py wrote.
"""

import json
import math
import os
import time
from typing import Dict

from fastapi import FastAPI
from pydantic import BaseModel

from mlops_client import Client, PredictionLogger

client = Client(os.environ.get("MLOPS_URL", "http://127.0.0.1:8080"), token=os.environ.get("MLOPS_TOKEN"))
version = client.get_active_model(os.environ.get("MODEL_NAME", "churn"))
with open(version["model_path"]) as f:
    model = json.load(f)

app = FastAPI()
logger = None
if os.environ.get("MLOPS_LOG_PREDICTIONS", "1") != "0":
    # A slow or unreachable mlops never slows /predict: the oldest queued
    # predictions give way when the queue is full.
    logger = PredictionLogger(client, on_full="drop_oldest")
    app.add_event_handler("shutdown", logger.close)  # sends what is queued


class Features(BaseModel):
    features: Dict[str, float]


@app.post("/predict")
async def predict(req: Features):
    start = time.perf_counter()
    x = req.features
    z = model["bias"] + sum(
        w * (x.get(name, m) - m) / s
        for name, w, m, s in zip(model["features"], model["weights"], model["mean"], model["std"])
    )
    probability = 1 / (1 + math.exp(-z))
    label = int(probability >= 0.5)
    if logger:
        logger.log({
            "model_id": version["id"],
            "features": x,
            "prediction": label,
            "probability": probability,
            "latency_ms": (time.perf_counter() - start) * 1000,
        })
    return {"prediction": label, "probability": probability, "version": version["version"]}
