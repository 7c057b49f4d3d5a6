"""The records of the API as typed dictionaries: what the server answers is
the parsed JSON itself (plain ``dict`` and ``list``), typed for editors and
type checkers. Each class is named after its schema in ``/openapi.json``;
a test holds them to it. Times are RFC 3339 strings in UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Generic, List, Literal, Optional, TypedDict, TypeVar

Role = Literal["viewer", "pipeline", "agent", "reviewer", "admin"]
RiskLevel = Literal["low", "medium", "high", "critical"]
Severity = Literal["info", "low", "medium", "high", "critical"]
ModelStatus = Literal["training", "staging", "production", "archived"]
ActorKind = Literal["user", "token", "anonymous", "system"]

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list: its ``items`` and the cursor of the next page
    (None on the last page)."""

    items: List[T] = field(default_factory=list)
    next_cursor: Optional[str] = None


# ---- model versions -------------------------------------------------------


class ModelMetrics(TypedDict, total=False):
    accuracy: float
    f1_score: float
    f1: float  # alias of f1_score
    precision: float
    recall: float
    roc_auc: float


class _NewModelVersionRequired(TypedDict):
    model_name: str
    version: str
    algorithm: str


class NewModelVersion(_NewModelVersionRequired, total=False):
    metrics: ModelMetrics
    hyperparameters: Dict[str, Any]
    feature_names: List[str]
    status: ModelStatus
    model_path: str
    metadata_path: str
    training_samples: int


class ModelVersion(TypedDict):
    id: int
    model_name: str
    version: str
    algorithm: str
    accuracy: Optional[float]
    f1_score: Optional[float]
    precision: Optional[float]
    recall: Optional[float]
    roc_auc: Optional[float]
    hyperparameters: Dict[str, Any]
    feature_names: Optional[List[str]]
    status: str
    is_active: bool
    model_path: str
    metadata_path: str
    training_samples: Optional[int]
    created_at: str
    activated_at: Optional[str]


# ---- predictions ----------------------------------------------------------


class _NewPredictionRequired(TypedDict):
    model_id: int
    prediction: int


class NewPrediction(_NewPredictionRequired, total=False):
    features: Dict[str, Any]
    probability: float
    latency_ms: float
    actual: int
    created_at: str


class Prediction(TypedDict):
    id: int
    model_id: int
    features: Dict[str, Any]
    prediction: int
    probability: Optional[float]
    latency_ms: Optional[float]
    actual: Optional[int]
    created_at: str


class BatchResult(TypedDict):
    count: int
    ids: List[int]


# ---- drift ----------------------------------------------------------------


class _NewDriftReportRequired(TypedDict):
    model_id: int
    drift_detected: bool


class NewDriftReport(_NewDriftReportRequired, total=False):
    drift_score: float
    drifted_features: List[str]
    n_drifted_features: int
    report_path: str
    reference_size: int
    current_size: int
    details: Dict[str, Any]


class DriftReport(TypedDict):
    id: int
    model_id: int
    drift_detected: bool
    drift_score: Optional[float]
    drifted_features: Optional[List[str]]
    n_drifted_features: int
    report_path: str
    reference_size: Optional[int]
    current_size: Optional[int]
    details: Dict[str, Any]
    created_at: str


# "from" is a Python keyword: a window is written {"from": ..., "to": ...}.
TimeWindow = TypedDict("TimeWindow", {"from": str, "to": str}, total=False)


class DriftCheck(TypedDict, total=False):
    reference: TimeWindow
    current: TimeWindow
    reference_model_id: int
    psi_threshold: float
    ks_threshold: float
    min_samples: int
    bins: int


# ---- actions --------------------------------------------------------------


class _NewAgentActionRequired(TypedDict):
    action_id: str
    action_type: str
    risk_level: RiskLevel


class NewAgentAction(_NewAgentActionRequired, total=False):
    description: str
    requires_approval: bool
    issue_id: str
    issue_type: str
    issue_severity: str
    parameters: Dict[str, Any]


class Approval(TypedDict):
    by: str
    kind: ActorKind
    at: str
    comment: str


class AgentAction(TypedDict):
    id: int
    action_id: str
    action_type: str
    description: str
    risk_level: str
    requires_approval: bool
    issue_id: str
    issue_type: str
    issue_severity: str
    parameters: Dict[str, Any]
    status: str
    reviewed_by: Optional[str]
    reviewed_at: Optional[str]
    review_comment: Optional[str]
    executed_at: Optional[str]
    execution_result: Optional[Dict[str, Any]]
    created_at: str
    proposed_by: str
    proposed_by_kind: ActorKind
    expires_at: Optional[str]
    required_approvals: int
    approvals: List[Approval]


# ---- metrics --------------------------------------------------------------


class _NewMetricRequired(TypedDict):
    metric_name: str
    metric_value: float


class NewMetric(_NewMetricRequired, total=False):
    model_id: int
    metadata: Dict[str, Any]
    created_at: str


class PerformanceMetric(TypedDict):
    id: int
    metric_name: str
    metric_value: float
    model_id: Optional[int]
    metadata: Dict[str, Any]
    created_at: str


class MetricPoint(TypedDict):
    created_at: str
    value: float


class MetricBucket(TypedDict):
    bucket_start: str
    count: int
    avg: float
    min: float
    max: float


class MetricSeries(TypedDict):
    metric_name: str
    bucket: Optional[str]
    points: List[Any]  # MetricPoint without a bucket, MetricBucket with one


# ---- alerts and silences --------------------------------------------------


class _NewAlertRequired(TypedDict):
    alert_type: str
    severity: Severity
    title: str


class NewAlert(_NewAlertRequired, total=False):
    message: str
    related_data: Dict[str, Any]


class Alert(TypedDict):
    id: int
    alert_type: str
    severity: str
    title: str
    message: str
    status: str
    acknowledged_by: Optional[str]
    acknowledged_at: Optional[str]
    resolved_by: Optional[str]
    resolved_at: Optional[str]
    resolution_notes: Optional[str]
    related_data: Dict[str, Any]
    created_at: str
    model_id: Optional[int]
    dedup_key: Optional[str]
    occurrences: int
    last_seen_at: str


class NewSilenceMatchers(TypedDict, total=False):
    alert_type: str
    model_name: str
    severity: Severity


class SilenceMatchers(TypedDict):
    alert_type: Optional[str]
    model_name: Optional[str]
    severity: Optional[str]


class Silence(TypedDict):
    id: int
    matchers: SilenceMatchers
    until: str
    comment: str
    created_by: str
    created_at: str
    expired_by: Optional[str]
    expired_at: Optional[str]
    active: bool


# ---- reports, rules, timeline ---------------------------------------------


class PerformanceRow(TypedDict):
    bucket_start: str
    predictions: int
    labeled: int
    labeled_share: Optional[float]
    accuracy: Optional[float]
    precision: Optional[float]
    recall: Optional[float]
    f1: Optional[float]
    latency_p50_ms: Optional[float]
    latency_p95_ms: Optional[float]
    latency_p99_ms: Optional[float]
    correct: int
    true_positives: int
    false_positives: int
    false_negatives: int


# "from" is a Python keyword: the reports' "from" field is read as r["from"].
PerformanceReport = TypedDict(
    "PerformanceReport",
    {
        "model_id": int,
        "model_name": str,
        "version": str,
        "bucket": str,
        "from": str,
        "to": str,
        "positive_class": int,
        "buckets": Optional[List[PerformanceRow]],
        "total": PerformanceRow,
    },
)


class DurationStats(TypedDict):
    count: int
    mean_seconds: Optional[float]
    p90_seconds: Optional[float]


AlertReport = TypedDict(
    "AlertReport",
    {
        "from": str,
        "to": str,
        "total": int,
        "by_severity": Dict[str, int],
        "by_type": Dict[str, int],
        "by_status": Dict[str, int],
        "time_to_acknowledge": DurationStats,
        "time_to_resolve": DurationStats,
    },
)


class ApprovalTypeStats(TypedDict):
    action_type: str
    proposed: int
    pending: int
    approved: int
    rejected: int
    executed: int
    failed: int
    approve_ratio: Optional[float]


ApprovalReport = TypedDict(
    "ApprovalReport",
    {
        "from": str,
        "to": str,
        "pending": int,
        "oldest_pending_at": Optional[str],
        "oldest_pending_age_seconds": Optional[float],
        "turnaround": DurationStats,
        "by_action_type": Optional[List[ApprovalTypeStats]],
    },
)


class TimelineEvent(TypedDict):
    at: str
    kind: str
    subject: str
    subject_id: int
    ref: str
    actor: Optional[str]
    summary: str


class RuleSettingsUpdate(TypedDict, total=False):
    enabled: bool
    drift_enabled: bool
    psi_threshold: float
    ks_threshold: float
    min_samples: int
    current_window_seconds: int
    reference_window_seconds: int
    metric: Literal["accuracy", "precision", "recall", "f1"]
    metric_threshold: float
    metric_window_seconds: int
    metric_min_labeled: int
    positive_class: int


class RuleSettings(TypedDict):
    model_name: str
    enabled: bool
    drift_enabled: bool
    psi_threshold: float
    ks_threshold: float
    min_samples: int
    current_window_seconds: int
    reference_window_seconds: int
    metric: str
    metric_threshold: Optional[float]
    metric_window_seconds: int
    metric_min_labeled: int
    positive_class: int
    updated_at: str


class _RuleOutcomeRequired(TypedDict):
    rule: str
    model_name: str
    model_id: int
    new_alert: bool


class RuleOutcome(_RuleOutcomeRequired, total=False):
    alert: Alert
    action: AgentAction
    drift_report_id: int
    silence_id: int


class RulesRunResult(TypedDict):
    skipped: bool
    models: int
    outcomes: Optional[List[RuleOutcome]]
    notes: Optional[List[str]]


# ---- accounts and audit ---------------------------------------------------


class Principal(TypedDict):
    name: str
    kind: Literal["user", "token", "anonymous"]
    role: str


class User(TypedDict):
    id: int
    name: str
    role: Role
    disabled: bool
    source: Literal["local", "proxy"]
    created_at: str
    updated_at: str


class Token(TypedDict):
    id: int
    name: str
    role: Role
    created_by: str
    created_at: str
    expires_at: Optional[str]
    revoked_at: Optional[str]
    last_used_at: Optional[str]


class CreatedToken(Token):
    secret: str


class AuditEvent(TypedDict):
    id: int
    at: str
    actor: str
    actor_kind: ActorKind
    event: str
    entity_type: str
    entity_id: str
    before: Any
    after: Any
    request_id: str
    remote_addr: str
    seq: Optional[int]
    prev_hash: Optional[str]
    hash: Optional[str]


class _ReplicaHealthRequired(TypedDict):
    replica: str
    status: Literal["serving", "lagging", "down"]


class ReplicaHealth(_ReplicaHealthRequired, total=False):
    lag_seconds: float
    detail: str


class _HealthRequired(TypedDict):
    status: str


class Health(_HealthRequired, total=False):
    revision: int
    replicas: List[ReplicaHealth]
