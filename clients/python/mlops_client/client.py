"""The client: one method per route of the API (docs/api.md)."""

from __future__ import annotations

import datetime as _dt
import ssl
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple, TypeVar, Union, cast
from urllib.parse import quote

from ._transport import Query, Response, Transport
from .types import (
    AgentAction,
    Alert,
    AlertReport,
    ApprovalReport,
    AuditEvent,
    BatchResult,
    CreatedToken,
    DriftReport,
    Health,
    MetricSeries,
    ModelVersion,
    NewMetric,
    NewPrediction,
    Page,
    PerformanceMetric,
    PerformanceReport,
    Prediction,
    Principal,
    RulesRunResult,
    RuleSettings,
    Silence,
    TimelineEvent,
    Token,
    User,
)

T = TypeVar("T")
Time = Union[_dt.datetime, _dt.date, str]

API = "/api/v1"


def new_idempotency_key() -> str:
    """A fresh key for the ``Idempotency-Key`` header."""
    return uuid.uuid4().hex


def _seg(v: Union[str, int]) -> str:
    """A path segment, escaped."""
    return quote(str(v), safe="")


def _drop_none(d: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class Client:
    """A client of one mlops server.

    ``Client("http://127.0.0.1:8080", token="mlops_…")``: ``token`` is sent
    as ``Authorization: Bearer``; ``auth=(name, password)`` signs in a person
    with HTTP Basic instead. ``timeout`` bounds each request (seconds);
    ``retries`` is how many times a request that may be repeated is sent
    again after a 429, 502, 503 or 504 or a connection error, waiting an exponential
    backoff with jitter (``backoff`` the first delay, ``max_backoff`` the
    longest; ``Retry-After`` is honoured). Requests that may be repeated:
    GET, PUT, DELETE, and a POST that carries an ``Idempotency-Key`` (pass
    ``idempotency_key=`` to the methods that create; the server answers a
    repeat with the first answer and creates nothing).

    Every error answer raises an :class:`~mlops_client.MlopsError` subclass
    with the problem details. Records are returned as the parsed JSON
    (typed dicts, see :mod:`mlops_client.types`); lists as a :class:`Page`,
    and every list has an ``iter_…`` generator that follows the cursors.

    The client keeps its connections alive and may be shared by threads.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        token: Optional[str] = None,
        *,
        auth: Optional[Tuple[str, str]] = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        pool_size: int = 8,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.transport = Transport(
            base_url,
            token=token,
            auth=auth,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            pool_size=pool_size,
            ssl_context=ssl_context,
        )

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def close(self) -> None:
        """Closes the idle connections."""
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # ---- plumbing ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Query = None,
        json: Any = None,
        idempotency_key: Optional[str] = None,
    ) -> Any:
        """Sends any request (``path`` from the server's root, e.g.
        ``/api/v1/models``) and answers the parsed JSON body."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send(method, path, params, json, headers).data

    def _send(
        self,
        method: str,
        path: str,
        params: Query = None,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Response:
        return self.transport.request(method, path, query=params, body=body, headers=headers)

    def _get(self, path: str, params: Query = None) -> Any:
        return self._send("GET", API + path, params).data

    def _post(self, path: str, body: Any = None, idempotency_key: Optional[str] = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send("POST", API + path, None, {} if body is None else body, headers).data

    def _page(self, path: str, params: Mapping[str, Any]) -> Page[Any]:
        d = self._get(path, params)
        return Page(items=d.get("items") or [], next_cursor=d.get("next_cursor"))

    def _iter(self, path: str, params: Mapping[str, Any], page_size: Optional[int]) -> Iterator[Any]:
        p = dict(params)
        p["limit"] = page_size
        p.pop("cursor", None)
        while True:
            page = self._page(path, p)
            yield from page.items
            if not page.next_cursor:
                return
            p["cursor"] = page.next_cursor

    def iter_pages(self, list_method: Callable[..., Page[T]], **filters: Any) -> Iterator[Page[T]]:
        """Every page of a list method (``client.list_models``, …), following
        ``next_cursor``: ``for page in client.iter_pages(client.list_actions,
        status="pending", limit=500): ...``"""
        filters.pop("cursor", None)
        while True:
            page = list_method(**filters)
            yield page
            if not page.next_cursor:
                return
            filters["cursor"] = page.next_cursor

    # ---- model versions ---------------------------------------------------

    def register_model(self, *, idempotency_key: Optional[str] = None, **fields: Any) -> ModelVersion:
        """``POST /models``: registers a version (``model_name``, ``version``,
        ``algorithm`` required; ``metrics``, ``hyperparameters``,
        ``feature_names``, ``status``, ``model_path``, ``metadata_path``,
        ``training_samples``). Conflict when the version is taken."""
        return cast(ModelVersion, self._post("/models", fields, idempotency_key))

    def list_models(
        self,
        model_name: Optional[str] = None,
        status: Optional[str] = None,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page[ModelVersion]:
        """``GET /models``: versions, newest first."""
        return self._page("/models", {"model_name": model_name, "status": status, "limit": limit, "cursor": cursor})

    def iter_models(
        self, model_name: Optional[str] = None, status: Optional[str] = None, *, page_size: Optional[int] = None
    ) -> Iterator[ModelVersion]:
        """Every version, following the cursors."""
        return self._iter("/models", {"model_name": model_name, "status": status}, page_size)

    def get_model(self, id: int) -> ModelVersion:
        """``GET /models/{id}``."""
        return cast(ModelVersion, self._get(f"/models/{_seg(id)}"))

    def get_active_model(self, model_name: Optional[str] = None, at: Optional[Time] = None) -> ModelVersion:
        """``GET /models/active``: the active version of ``model_name`` (or,
        with ``at``, the one active then). NotFound when there is none."""
        return cast(ModelVersion, self._get("/models/active", {"model_name": model_name, "at": at}))

    def activate_model(self, id: int) -> ModelVersion:
        """``POST /models/{id}/activate``: makes the version the active one
        (the previous one is archived in the same transaction)."""
        return cast(ModelVersion, self._post(f"/models/{_seg(id)}/activate"))

    # ---- predictions ------------------------------------------------------

    def log_prediction(
        self,
        model_id: int,
        prediction: int,
        *,
        features: Optional[Mapping[str, Any]] = None,
        probability: Optional[float] = None,
        latency_ms: Optional[float] = None,
        actual: Optional[int] = None,
        created_at: Optional[Time] = None,
        idempotency_key: Optional[str] = None,
    ) -> Prediction:
        """``POST /predictions``: stores one prediction (answered once it is
        committed). For many, use :meth:`log_predictions` or a
        :class:`~mlops_client.PredictionLogger`."""
        body = _drop_none(
            {
                "model_id": model_id,
                "prediction": prediction,
                "features": features,
                "probability": probability,
                "latency_ms": latency_ms,
                "actual": actual,
                "created_at": created_at,
            }
        )
        return cast(Prediction, self._post("/predictions", body, idempotency_key))

    def log_predictions(
        self, predictions: Iterable[Union[NewPrediction, Mapping[str, Any]]], *, idempotency_key: Optional[str] = None
    ) -> BatchResult:
        """``POST /predictions/batch``: up to 10,000 predictions at once, all
        or nothing (a ValidationError names the bad item's index). Answers
        ``count`` and the ``ids`` in the items' order."""
        return cast(BatchResult, self._post("/predictions/batch", {"predictions": list(predictions)}, idempotency_key))

    def list_predictions(
        self, model_id: int, hours: Optional[float] = None, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[Prediction]:
        """``GET /predictions``: the recent predictions of a version (``hours``,
        default 24), newest first."""
        return self._page("/predictions", {"model_id": model_id, "hours": hours, "limit": limit, "cursor": cursor})

    def iter_predictions(
        self, model_id: int, hours: Optional[float] = None, *, page_size: Optional[int] = None
    ) -> Iterator[Prediction]:
        """Every recent prediction of a version, following the cursors."""
        return self._iter("/predictions", {"model_id": model_id, "hours": hours}, page_size)

    def get_prediction(self, id: int) -> Prediction:
        """``GET /predictions/{id}``."""
        return cast(Prediction, self._get(f"/predictions/{_seg(id)}"))

    def set_actual(self, id: int, actual: int) -> Prediction:
        """``PUT /predictions/{id}/actual``: records the ground truth."""
        return cast(Prediction, self._send("PUT", f"{API}/predictions/{_seg(id)}/actual", None, {"actual": actual}).data)

    # ---- drift ------------------------------------------------------------

    def create_drift_report(self, *, idempotency_key: Optional[str] = None, **fields: Any) -> DriftReport:
        """``POST /drift-reports``: stores a report computed elsewhere
        (``model_id``, ``drift_detected`` required)."""
        return cast(DriftReport, self._post("/drift-reports", fields, idempotency_key))

    def list_drift_reports(
        self,
        model_id: Optional[int] = None,
        days: Optional[float] = None,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page[DriftReport]:
        """``GET /drift-reports``: the history (``days``, default 30), newest
        first."""
        return self._page("/drift-reports", {"model_id": model_id, "days": days, "limit": limit, "cursor": cursor})

    def iter_drift_reports(
        self, model_id: Optional[int] = None, days: Optional[float] = None, *, page_size: Optional[int] = None
    ) -> Iterator[DriftReport]:
        return self._iter("/drift-reports", {"model_id": model_id, "days": days}, page_size)

    def get_latest_drift_report(self, model_id: Optional[int] = None) -> DriftReport:
        """``GET /drift-reports/latest``; NotFound when there is none."""
        return cast(DriftReport, self._get("/drift-reports/latest", {"model_id": model_id}))

    def drift_check(
        self,
        model_id: int,
        *,
        reference: Optional[Mapping[str, Time]] = None,
        current: Optional[Mapping[str, Time]] = None,
        idempotency_key: Optional[str] = None,
        **options: Any,
    ) -> DriftReport:
        """``POST /models/{id}/drift-check``: compares the version's recent
        predictions (``current``, default the last 24 h) with a reference
        window (default the 7 days before) and stores the report. Windows
        are ``{"from": t, "to": t}`` (datetimes or RFC 3339). Options:
        ``reference_model_id``, ``psi_threshold``, ``ks_threshold``,
        ``min_samples``, ``bins``. ValidationError when a window holds too
        few predictions."""
        body: Dict[str, Any] = dict(options)
        if reference is not None:
            body["reference"] = dict(reference)
        if current is not None:
            body["current"] = dict(current)
        return cast(DriftReport, self._post(f"/models/{_seg(model_id)}/drift-check", body, idempotency_key))

    # ---- actions ----------------------------------------------------------

    def propose_action(self, *, idempotency_key: Optional[str] = None, **fields: Any) -> AgentAction:
        """``POST /actions``: files an action (``action_id``, ``action_type``,
        ``risk_level`` required; ``description``, ``requires_approval``,
        ``issue_id``, ``issue_type``, ``issue_severity``, ``parameters``).
        Conflict when the ``action_id`` is taken."""
        return cast(AgentAction, self._post("/actions", fields, idempotency_key))

    create_action = propose_action

    def list_actions(
        self, status: Optional[str] = None, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[AgentAction]:
        """``GET /actions``: newest first; ``status="pending"`` is the
        approval queue."""
        return self._page("/actions", {"status": status, "limit": limit, "cursor": cursor})

    def iter_actions(self, status: Optional[str] = None, *, page_size: Optional[int] = None) -> Iterator[AgentAction]:
        return self._iter("/actions", {"status": status}, page_size)

    def get_action(self, action_id: str) -> AgentAction:
        """``GET /actions/{action_id}``."""
        return cast(AgentAction, self._get(f"/actions/{_seg(action_id)}"))

    def approve_action(
        self, action_id: str, reviewer: Optional[str] = None, comment: Optional[str] = None
    ) -> AgentAction:
        """``POST /actions/{action_id}/approve``: pending → approved (a high
        or critical action may need a second reviewer). Conflict from any
        other status."""
        return cast(
            AgentAction,
            self._post(f"/actions/{_seg(action_id)}/approve", _drop_none({"reviewer": reviewer, "comment": comment})),
        )

    def reject_action(
        self, action_id: str, reviewer: Optional[str] = None, comment: Optional[str] = None
    ) -> AgentAction:
        """``POST /actions/{action_id}/reject``: pending → rejected."""
        return cast(
            AgentAction,
            self._post(f"/actions/{_seg(action_id)}/reject", _drop_none({"reviewer": reviewer, "comment": comment})),
        )

    def mark_action_executed(self, action_id: str, result: Optional[Mapping[str, Any]] = None) -> AgentAction:
        """``POST /actions/{action_id}/executed``: approved → executed."""
        return cast(AgentAction, self._post(f"/actions/{_seg(action_id)}/executed", _drop_none({"result": result})))

    def mark_action_failed(self, action_id: str, result: Optional[Mapping[str, Any]] = None) -> AgentAction:
        """``POST /actions/{action_id}/failed``: approved → failed."""
        return cast(AgentAction, self._post(f"/actions/{_seg(action_id)}/failed", _drop_none({"result": result})))

    # ---- metrics ----------------------------------------------------------

    def log_metric(
        self,
        metric_name: str,
        metric_value: float,
        *,
        model_id: Optional[int] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        created_at: Optional[Time] = None,
        idempotency_key: Optional[str] = None,
    ) -> PerformanceMetric:
        """``POST /metrics``: stores one point of a series."""
        body = _drop_none(
            {
                "metric_name": metric_name,
                "metric_value": metric_value,
                "model_id": model_id,
                "metadata": metadata,
                "created_at": created_at,
            }
        )
        return cast(PerformanceMetric, self._post("/metrics", body, idempotency_key))

    def log_metrics(
        self, metrics: Iterable[Union[NewMetric, Mapping[str, Any]]], *, idempotency_key: Optional[str] = None
    ) -> BatchResult:
        """``POST /metrics/batch``: up to 10,000 points, all or nothing."""
        return cast(BatchResult, self._post("/metrics/batch", {"metrics": list(metrics)}, idempotency_key))

    def get_metric_series(
        self,
        metric_name: str,
        days: Optional[float] = None,
        *,
        model_id: Optional[int] = None,
        bucket: Optional[str] = None,
    ) -> MetricSeries:
        """``GET /metrics/{metric_name}``: the series, oldest first (``days``,
        default 7): raw points, or one per ``bucket`` (``1m``, ``5m``,
        ``1h``, ``1d``)."""
        return cast(
            MetricSeries,
            self._get(f"/metrics/{_seg(metric_name)}", {"days": days, "model_id": model_id, "bucket": bucket}),
        )

    # ---- alerts and silences ----------------------------------------------

    def create_alert(self, *, idempotency_key: Optional[str] = None, **fields: Any) -> Alert:
        """``POST /alerts`` (``alert_type``, ``severity``, ``title`` required;
        ``message``, ``related_data``)."""
        return cast(Alert, self._post("/alerts", fields, idempotency_key))

    def list_alerts(
        self,
        status: Optional[str] = None,
        severity: Optional[str] = None,
        *,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page[Alert]:
        """``GET /alerts``: newest first."""
        return self._page("/alerts", {"status": status, "severity": severity, "limit": limit, "cursor": cursor})

    def iter_alerts(
        self, status: Optional[str] = None, severity: Optional[str] = None, *, page_size: Optional[int] = None
    ) -> Iterator[Alert]:
        return self._iter("/alerts", {"status": status, "severity": severity}, page_size)

    def get_alert(self, id: int) -> Alert:
        """``GET /alerts/{id}``."""
        return cast(Alert, self._get(f"/alerts/{_seg(id)}"))

    def acknowledge_alert(self, id: int, user: Optional[str] = None) -> Alert:
        """``POST /alerts/{id}/acknowledge``: active → acknowledged."""
        return cast(Alert, self._post(f"/alerts/{_seg(id)}/acknowledge", _drop_none({"user": user})))

    def resolve_alert(self, id: int, user: Optional[str] = None, notes: Optional[str] = None) -> Alert:
        """``POST /alerts/{id}/resolve``: active or acknowledged → resolved."""
        return cast(Alert, self._post(f"/alerts/{_seg(id)}/resolve", _drop_none({"user": user, "notes": notes})))

    def create_silence(
        self,
        matchers: Mapping[str, str],
        until: Time,
        comment: str,
        *,
        idempotency_key: Optional[str] = None,
    ) -> Silence:
        """``POST /alerts/silences``: until ``until``, the rules raise no alert
        matching ``matchers`` (``alert_type``, ``model_name``, ``severity``)."""
        body = {"matchers": dict(matchers), "until": until, "comment": comment}
        return cast(Silence, self._post("/alerts/silences", body, idempotency_key))

    def list_silences(
        self, active: Optional[bool] = None, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[Silence]:
        """``GET /alerts/silences``: newest first; ``active=True``: those in
        force now."""
        return self._page("/alerts/silences", {"active": active, "limit": limit, "cursor": cursor})

    def iter_silences(self, active: Optional[bool] = None, *, page_size: Optional[int] = None) -> Iterator[Silence]:
        return self._iter("/alerts/silences", {"active": active}, page_size)

    def expire_silence(self, id: int) -> Silence:
        """``DELETE /alerts/silences/{id}``: ends a silence now."""
        return cast(Silence, self._send("DELETE", f"{API}/alerts/silences/{_seg(id)}").data)

    # ---- reports ----------------------------------------------------------

    def model_performance(
        self,
        id: int,
        *,
        bucket: Optional[str] = None,
        days: Optional[float] = None,
        positive_class: Optional[int] = None,
    ) -> PerformanceReport:
        """``GET /reports/models/{id}/performance``: realized performance from
        the ground truth, in total and per bucket."""
        params = {"bucket": bucket, "days": days, "positive_class": positive_class}
        return cast(PerformanceReport, self._get(f"/reports/models/{_seg(id)}/performance", params))

    def active_model_performance(
        self,
        model_name: Optional[str] = None,
        *,
        bucket: Optional[str] = None,
        days: Optional[float] = None,
        positive_class: Optional[int] = None,
    ) -> PerformanceReport:
        """``GET /reports/models/active/performance``: the same for the active
        version of ``model_name``."""
        params = {"model_name": model_name, "bucket": bucket, "days": days, "positive_class": positive_class}
        return cast(PerformanceReport, self._get("/reports/models/active/performance", params))

    def alerts_report(self, days: Optional[float] = None) -> AlertReport:
        """``GET /reports/alerts``: counts and times to acknowledge and
        resolve."""
        return cast(AlertReport, self._get("/reports/alerts", {"days": days}))

    def approvals_report(self, days: Optional[float] = None) -> ApprovalReport:
        """``GET /reports/approvals``: the queue, turnaround and decisions."""
        return cast(ApprovalReport, self._get("/reports/approvals", {"days": days}))

    # ---- timeline and rules -----------------------------------------------

    def timeline(self, id: int, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[TimelineEvent]:
        """``GET /models/{id}/timeline``: the version's history, oldest first."""
        return self._page(f"/models/{_seg(id)}/timeline", {"limit": limit, "cursor": cursor})

    def iter_timeline(self, id: int, *, page_size: Optional[int] = None) -> Iterator[TimelineEvent]:
        return self._iter(f"/models/{_seg(id)}/timeline", {}, page_size)

    def get_rules(self, model_name: str) -> RuleSettings:
        """``GET /rules/{model_name}``."""
        return cast(RuleSettings, self._get(f"/rules/{_seg(model_name)}"))

    def set_rules(self, model_name: str, **fields: Any) -> RuleSettings:
        """``PUT /rules/{model_name}``: a field left out keeps its value."""
        return cast(RuleSettings, self._send("PUT", f"{API}/rules/{_seg(model_name)}", None, fields).data)

    def run_rules(self) -> RulesRunResult:
        """``POST /rules/run``: evaluates the enabled rules once."""
        return cast(RulesRunResult, self._post("/rules/run"))

    # ---- accounts ---------------------------------------------------------

    def whoami(self) -> Principal:
        """``GET /whoami``: who this client's credentials are."""
        return cast(Principal, self._get("/whoami"))

    def list_users(self, *, limit: Optional[int] = None, cursor: Optional[str] = None) -> Page[User]:
        """``GET /users``: users by name."""
        return self._page("/users", {"limit": limit, "cursor": cursor})

    def iter_users(self, *, page_size: Optional[int] = None) -> Iterator[User]:
        return self._iter("/users", {}, page_size)

    def create_user(self, name: str, role: str, password: str, *, idempotency_key: Optional[str] = None) -> User:
        """``POST /users`` (the password: at least 12 characters)."""
        return cast(User, self._post("/users", {"name": name, "role": role, "password": password}, idempotency_key))

    def update_user(
        self,
        name: str,
        *,
        role: Optional[str] = None,
        disabled: Optional[bool] = None,
        password: Optional[str] = None,
    ) -> User:
        """``PATCH /users/{name}``. Not retried (PATCH is not in the
        retried methods)."""
        body = _drop_none({"role": role, "disabled": disabled, "password": password})
        return cast(User, self._send("PATCH", f"{API}/users/{_seg(name)}", None, body).data)

    def list_tokens(
        self, revoked: Optional[bool] = None, *, limit: Optional[int] = None, cursor: Optional[str] = None
    ) -> Page[Token]:
        """``GET /tokens``: tokens by name, never a secret."""
        return self._page("/tokens", {"revoked": revoked, "limit": limit, "cursor": cursor})

    def iter_tokens(self, revoked: Optional[bool] = None, *, page_size: Optional[int] = None) -> Iterator[Token]:
        return self._iter("/tokens", {"revoked": revoked}, page_size)

    def create_token(
        self, name: str, role: str, expires_at: Optional[Time] = None, *, idempotency_key: Optional[str] = None
    ) -> CreatedToken:
        """``POST /tokens``: the answer's ``secret`` is shown this once."""
        body = _drop_none({"name": name, "role": role, "expires_at": expires_at})
        return cast(CreatedToken, self._post("/tokens", body, idempotency_key))

    def revoke_token(self, name: str) -> Token:
        """``DELETE /tokens/{name}``."""
        return cast(Token, self._send("DELETE", f"{API}/tokens/{_seg(name)}").data)

    # ---- audit ------------------------------------------------------------

    def list_audit(
        self,
        *,
        entity_type: Optional[str] = None,
        entity_id: Optional[Union[str, int]] = None,
        actor: Optional[str] = None,
        event: Optional[str] = None,
        since: Optional[Time] = None,
        until: Optional[Time] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> Page[AuditEvent]:
        """``GET /audit``: events, newest first."""
        params = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "actor": actor,
            "event": event,
            "since": since,
            "until": until,
            "limit": limit,
            "cursor": cursor,
        }
        return self._page("/audit", params)

    def iter_audit(self, *, page_size: Optional[int] = None, **filters: Any) -> Iterator[AuditEvent]:
        """Every audit event matching the filters of :meth:`list_audit`."""
        return self._iter("/audit", filters, page_size)

    # ---- operations -------------------------------------------------------

    def healthz(self) -> Health:
        """``GET /healthz``: ``{"status": "ok"}`` while the process runs."""
        return cast(Health, self._send("GET", "/healthz").data)

    def readyz(self) -> Health:
        """``GET /readyz``: ``{"status": "ready", "revision": N}``; raises
        ServiceUnavailable (without retrying) when the database does not
        answer or migrations are pending."""
        return cast(Health, self.transport.request("GET", "/readyz", retries=0).data)

    def metrics_text(self) -> str:
        """``GET /metrics``: the Prometheus text."""
        return self._send("GET", "/metrics").raw.decode()

    def openapi(self) -> Dict[str, Any]:
        """``GET /openapi.json``: the server's own description."""
        return cast(Dict[str, Any], self._send("GET", "/openapi.json").data)

    def wait_ready(self, timeout: float = 30.0, interval: float = 0.2) -> Health:
        """Polls ``/readyz`` until it answers 200 or ``timeout`` passes (then
        the last error is raised)."""
        import time

        from .errors import MlopsError

        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.readyz()
            except MlopsError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(interval)


__all__ = ["Client", "new_idempotency_key"]
