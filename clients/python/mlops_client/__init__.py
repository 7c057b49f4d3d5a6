"""mlops_client: the Python client of the mlops control plane.

    from mlops_client import Client, PredictionLogger

    client = Client("http://127.0.0.1:8080", token="mlops_...")
    m = client.register_model(model_name="churn", version="run-42", algorithm="rf")
    client.activate_model(m["id"])

    logger = PredictionLogger(client)          # sends in the background
    logger.log({"model_id": m["id"], "prediction": 1, "probability": 0.87})

Standard library only; Python 3.9 or later. The API it speaks:
docs/api.md; this package: docs/clients.md.
"""

from ._transport import __version__
from .client import Client, new_idempotency_key
from .errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    LoggerClosed,
    MlopsError,
    NotFound,
    PayloadTooLarge,
    QueueFull,
    RequestTimeout,
    ServerError,
    ServerUnreachable,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from .logger import LoggerStats, PredictionLogger
from .types import Page

__all__ = [
    "__version__",
    "Client",
    "PredictionLogger",
    "LoggerStats",
    "Page",
    "new_idempotency_key",
    "MlopsError",
    "FieldError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "RequestTimeout",
    "Conflict",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "ValidationError",
    "TooManyRequests",
    "ServerError",
    "ServiceUnavailable",
    "ServerUnreachable",
    "QueueFull",
    "LoggerClosed",
]
