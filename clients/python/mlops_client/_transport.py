"""HTTP for the client: a small pool of keep-alive connections
(``http.client``), JSON in and out, problem details turned into exceptions,
and retries with exponential backoff and jitter for the requests that may be
repeated."""

from __future__ import annotations

import base64
import datetime as _dt
import http.client
import json
import random
import select
import ssl
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .errors import MlopsError, ServerUnreachable, error_for

__version__ = "0.1.0"

USER_AGENT = f"mlops-client-python/{__version__}"

# Methods whose repetition changes nothing more than the first request did.
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Statuses that mean "not done; try again later" (502 and 504 from a proxy
# in front of the server).
RETRY_STATUSES = frozenset({429, 502, 503, 504})

Query = Optional[Mapping[str, Any]]


def rfc3339(t: Union[_dt.datetime, _dt.date, str]) -> str:
    """An RFC 3339 string in UTC. A naive datetime is taken as UTC; a
    string is passed on as it is."""
    if isinstance(t, str):
        return t
    if isinstance(t, _dt.datetime):
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.isoformat()


def json_default(o: Any) -> Any:
    """``json.dumps``'s fallback: datetimes as RFC 3339, numpy scalars and
    arrays as numbers and lists, sets and tuples as lists."""
    if isinstance(o, (_dt.datetime, _dt.date)):
        return rfc3339(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    item = getattr(o, "item", None)  # numpy scalar
    if callable(item) and getattr(o, "ndim", 0) == 0:
        return item()
    tolist = getattr(o, "tolist", None)  # numpy array, pandas series
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def dumps(body: Any) -> bytes:
    """Compact JSON, refusing NaN and infinities (the server would)."""
    return json.dumps(body, separators=(",", ":"), default=json_default, allow_nan=False).encode()


def query_string(params: Query) -> str:
    if not params:
        return ""
    pairs: List[Tuple[str, str]] = []
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (_dt.datetime, _dt.date)):
            v = rfc3339(v)
        pairs.append((k, str(v)))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d] where d
    doubles with each attempt (from ``base``) up to ``cap``."""
    d = min(cap, base * (2 ** attempt))
    return random.uniform(d / 2, d)


def key_in_progress(err: MlopsError) -> bool:
    """True for the 409 of a request whose Idempotency-Key is held by the
    first request with it, still being answered: retry in a moment."""
    return err.status == 409 and "Idempotency-Key is in progress" in err.detail


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare here; the backoff applies


class Response:
    """An answer: status, headers and the parsed JSON body (or text)."""

    __slots__ = ("status", "headers", "data", "raw")

    def __init__(self, status: int, headers: http.client.HTTPMessage, raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw
        ctype = headers.get("Content-Type", "")
        self.data: Any = None
        if raw and "json" in ctype:
            try:
                self.data = json.loads(raw)
            except ValueError:
                self.data = None


class Transport:
    """Sends requests to one server over a pool of keep-alive connections;
    safe to share between threads."""

    # Connections idle longer than this are closed rather than reused; the
    # server closes its own after two minutes.
    IDLE_LIMIT = 50.0

    def __init__(
        self,
        base_url: str,
        *,
        token: Optional[str] = None,
        auth: Optional[Tuple[str, str]] = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        pool_size: int = 8,
        ssl_context: Optional[ssl.SSLContext] = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        u = urllib.parse.urlsplit(base_url if "://" in base_url else "http://" + base_url)
        if u.scheme not in ("http", "https"):
            raise ValueError(f"base_url must be http:// or https://, not {base_url!r}")
        if not u.hostname:
            raise ValueError(f"base_url has no host: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        self._ssl = ssl_context
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._pool_size = pool_size
        self._idle: List[Tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self.retried = 0  # requests sent again, over the transport's life
        self.headers: Dict[str, str] = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token
        elif auth:
            cred = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.headers["Authorization"] = "Basic " + cred

    # ---- connections ------------------------------------------------------

    def _new_conn(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _get_conn(self) -> Tuple[http.client.HTTPConnection, bool]:
        """A connection and whether it was used before."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since > self.IDLE_LIMIT or _dropped(conn):
                    conn.close()
                    continue
                return conn, True
        return self._new_conn(), False

    def _put_conn(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Closes the idle connections (the transport stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # ---- requests ---------------------------------------------------------

    def url_path(self, path: str, query: Query = None) -> str:
        return self._prefix + path + query_string(query)

    def send_once(
        self, method: str, target: str, body: Optional[bytes], headers: Mapping[str, str]
    ) -> Response:
        """One request on a pooled connection; ServerUnreachable when no
        answer came. A reused connection that turns out dead before any
        answer is replaced once, when the request never reached the server
        (nothing of it was written)."""
        for _ in range(2):
            conn, reused = self._get_conn()
            sent = False
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                sent = True
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and not sent:
                    continue
                raise ServerUnreachable(f"{type(e).__name__}: {e}".rstrip(": "), method=method, path=target) from e
            if resp.will_close:
                conn.close()
            else:
                self._put_conn(conn)
            return Response(resp.status, resp.headers, raw)
        raise AssertionError("unreachable")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = None,
        body: Any = None,
        raw_body: Optional[bytes] = None,
        headers: Optional[Mapping[str, str]] = None,
        retries: Optional[int] = None,
    ) -> Response:
        """Sends a request and answers its Response, or raises the
        MlopsError of an error answer. Retries (up to ``retries``, default
        the transport's) on 429, 502, 503, 504 and connection errors, but only for a
        request that may be repeated: GET, PUT, DELETE, and a POST that
        carries an Idempotency-Key (which is also retried on the 409 that
        says the first request with its key is still being answered)."""
        target = self.url_path(path, query)
        hdrs = dict(self.headers)
        if headers:
            hdrs.update(headers)
        data = raw_body
        if data is None and body is not None:
            data = dumps(body)
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        repeatable = method in SAFE_METHODS or "Idempotency-Key" in hdrs
        budget = self.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                resp = self.send_once(method, target, data, hdrs)
            except ServerUnreachable:
                if not repeatable or attempt >= budget:
                    raise
                delay = backoff_delay(attempt, self.backoff, self.max_backoff)
            else:
                if resp.status < 400:
                    return resp
                err = self.error(resp, method, target)
                again = resp.status in RETRY_STATUSES or key_in_progress(err)
                if not again or not repeatable or attempt >= budget:
                    raise err
                if err.retry_after is not None and err.retry_after > self.max_backoff:
                    raise err  # e.g. a sign-in lockout: not worth waiting here
                delay = max(err.retry_after or 0.0, backoff_delay(attempt, self.backoff, self.max_backoff))
            attempt += 1
            self.retried += 1
            time.sleep(delay)

    @staticmethod
    def error(resp: Response, method: str, target: str) -> MlopsError:
        text = "" if resp.data is not None else resp.raw.decode("utf-8", "replace")
        return error_for(
            resp.status,
            resp.data,
            method=method,
            path=target,
            request_id=resp.headers.get("X-Request-Id"),
            retry_after=_retry_after(resp.headers.get("Retry-After")),
            text=text,
        )


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True when the server closed an idle connection (it is readable: EOF
    or stray bytes), so that it is not used for the next request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
