"""Exceptions: every error answer of the server is an :class:`MlopsError`
carrying its RFC 9457 problem details; the subclass names the status."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Type


class FieldError(NamedTuple):
    """One refused field of a 422: where (``body.predictions[3].probability``,
    ``query.limit``, ``path.id``) and why."""

    location: str
    message: str


class MlopsError(Exception):
    """An error answer of the server (or no answer at all: see
    :class:`ServerUnreachable`).

    ``status``, ``title``, ``detail`` and ``errors`` come from the problem
    details; ``request_id`` is the server's ``X-Request-ID`` (it is in the
    server's log line for the request); ``retry_after`` is the
    ``Retry-After`` header in seconds, when there was one; ``problem`` is the
    whole problem document as received.
    """

    status: int = 0

    def __init__(
        self,
        status: int,
        title: str = "",
        detail: str = "",
        errors: Optional[List[FieldError]] = None,
        *,
        method: str = "",
        path: str = "",
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        problem: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors: List[FieldError] = list(errors or [])
        self.method = method
        self.path = path
        self.request_id = request_id
        self.retry_after = retry_after
        self.problem: Dict[str, Any] = dict(problem or {})
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        what = self.detail or self.title or "error"
        code = f"{self.status} " if self.status else ""
        return f"{where}{code}{what}"

    def locations(self) -> List[str]:
        """The locations of the refused fields, in the server's order."""
        return [e.location for e in self.errors]


class BadRequest(MlopsError):
    """400: the body is not well-formed JSON."""


class Unauthorized(MlopsError):
    """401: credentials are missing or refused."""


class Forbidden(MlopsError):
    """403: the caller's role lacks the route's permission, or the decision
    is on one's own proposal."""


class NotFound(MlopsError):
    """404: no record has the id or name in the path."""


class RequestTimeout(MlopsError):
    """408: the body stopped arriving."""


class Conflict(MlopsError):
    """409: a duplicate (``model_name`` and ``version``, ``action_id``, …) or a
    transition the record's state does not allow."""


class PayloadTooLarge(MlopsError):
    """413: the body is over the route's limit (1 MiB; 16 MiB for batches)."""


class UnsupportedMediaType(MlopsError):
    """415: the body was not sent as ``application/json``."""


class ValidationError(MlopsError):
    """422: a field, query parameter or cursor failed validation; ``errors``
    names each one."""


class TooManyRequests(MlopsError):
    """429: too many failed sign-ins for one name; see ``retry_after``."""


class ServerError(MlopsError):
    """500 (or another 5xx): a bug in the server, logged there with
    ``request_id``."""


class ServiceUnavailable(MlopsError):
    """503: the database is unreachable or busy, or migrations are pending."""


class ServerUnreachable(MlopsError, ConnectionError):
    """No answer: the connection was refused, reset or timed out. ``status``
    is 0."""

    def __init__(self, detail: str, *, method: str = "", path: str = "") -> None:
        super().__init__(0, "unreachable", detail, method=method, path=path)


class QueueFull(Exception):
    """:meth:`PredictionLogger.log` could not queue a prediction: the queue
    is full and ``on_full`` is ``"raise"``, or ``"block"`` waited
    ``block_timeout`` in vain."""


class LoggerClosed(RuntimeError):
    """:meth:`PredictionLogger.log` was called after ``close()``."""


_BY_STATUS: Dict[int, Type[MlopsError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationError,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def error_for(
    status: int,
    problem: Optional[Mapping[str, Any]],
    *,
    method: str = "",
    path: str = "",
    request_id: Optional[str] = None,
    retry_after: Optional[float] = None,
    text: str = "",
) -> MlopsError:
    """The exception for an error answer of status with body ``problem``
    (the parsed JSON, or None when the body was not JSON: then ``text``)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else MlopsError
    p: Mapping[str, Any] = problem if isinstance(problem, Mapping) else {}
    errors = []
    for e in p.get("errors") or []:
        if isinstance(e, Mapping):
            errors.append(FieldError(str(e.get("location", "")), str(e.get("message", ""))))
    return cls(
        status,
        str(p.get("title", "")),
        str(p.get("detail", "") or text.strip()[:500]),
        errors,
        method=method,
        path=path,
        request_id=request_id,
        retry_after=retry_after,
        problem=p,
    )
