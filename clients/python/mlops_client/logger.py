"""PredictionLogger: log predictions from a serving path without waiting for
the server. ``log()`` queues; one background thread sends the queue in
batches (``POST /api/v1/predictions/batch``), each batch with an
Idempotency-Key of its own that its retries reuse, so a batch whose answer
was lost is stored once."""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from ._transport import backoff_delay, dumps
from .client import API, Client, new_idempotency_key
from .errors import LoggerClosed, MlopsError, QueueFull, ServerUnreachable

log = logging.getLogger("mlops_client")

MAX_BATCH = 10_000  # the server's limit per batch
ON_FULL = ("block", "drop_oldest", "raise")

_ITEM = re.compile(r"^body\.predictions\[(\d+)\]")

StoredCallback = Callable[[List[int], List[Mapping[str, Any]]], None]
FailedCallback = Callable[[MlopsError, List[Mapping[str, Any]]], None]


@dataclass(frozen=True)
class LoggerStats:
    """A snapshot of a logger's counters (predictions, not batches, unless
    named so).

    accepted: taken by ``log()``; sent: stored by the server (answered
    201); dropped: pushed out of a full queue (``on_full="drop_oldest"``);
    failed: refused by the server for themselves (a 422 naming them, or
    not JSON-serializable) and never retried; rejected: ``log()`` calls
    that raised QueueFull (not accepted); unsent: still queued or in
    flight when ``close()`` gave up; retried: batches sent again after a
    failure; batches: batches stored; queue_depth: waiting now; in_flight:
    in the batch being sent now; last_error: the last failure, if any.
    """

    accepted: int
    sent: int
    dropped: int
    failed: int
    rejected: int
    unsent: int
    retried: int
    batches: int
    queue_depth: int
    in_flight: int
    last_error: Optional[str]


class PredictionLogger:
    """Sends predictions to mlops in the background.

    ``log({"model_id": 1, "prediction": 1, "features": {...}, ...})`` returns
    at once; a batch goes out every ``flush_interval`` seconds, or as soon
    as ``max_batch`` predictions wait. At most ``queue_size`` wait; when the
    queue is full, ``on_full`` decides: ``"block"`` waits up to
    ``block_timeout`` seconds (None: as long as it takes) and then raises
    :class:`QueueFull`, ``"drop_oldest"`` drops the oldest waiting
    prediction (counted in ``dropped``), ``"raise"`` raises QueueFull at
    once.

    A failed batch (no answer, 408, 409, 429, 5xx, and 401/403 until the
    credentials are fixed) is sent again with exponential backoff, with the
    same Idempotency-Key, until it is stored or ``close()`` gives up. A 422
    names the refused items: they fail (counted in ``failed``, passed to
    ``on_failed(error, predictions)``) and the rest is sent as a new batch.
    ``on_stored(ids, predictions)`` is called from the sending thread after
    each stored batch. The callbacks run on the sending thread: they should
    be quick, and must not call ``flush()`` or ``close()``.

    A prediction without ``created_at`` is stamped by the server when it
    stores it, normally within ``flush_interval`` of ``log()``; one that
    waited longer than ``stamp_after`` seconds in the queue (an outage) is
    sent with ``created_at``, the time of its ``log()`` call (None: never).

    ``flush(timeout)`` waits until everything logged before it is stored;
    ``close(timeout)`` stops taking predictions, sends what is queued, and
    gives up after ``timeout`` seconds, saying what was not sent (its
    answer, and ``unsent_predictions()``). ``close()`` runs at interpreter
    exit (``atexit``) with ``close_timeout``. Do not change a dict after
    logging it: it is sent as it is when its batch goes.
    """

    def __init__(
        self,
        client: Client,
        *,
        max_batch: int = 1000,
        flush_interval: float = 1.0,
        queue_size: int = 100_000,
        on_full: str = "block",
        block_timeout: Optional[float] = 1.0,
        on_stored: Optional[StoredCallback] = None,
        on_failed: Optional[FailedCallback] = None,
        close_timeout: float = 10.0,
        max_backoff: float = 5.0,
        stamp_after: Optional[float] = 2.0,
        at_exit: bool = True,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be within 1..{MAX_BATCH}")
        if on_full not in ON_FULL:
            raise ValueError(f"on_full must be one of {ON_FULL}")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.client = client
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.queue_size = queue_size
        self.on_full = on_full
        self.block_timeout = block_timeout
        self.on_stored = on_stored
        self.on_failed = on_failed
        self.close_timeout = close_timeout
        self.max_backoff = max_backoff
        self.stamp_after = stamp_after
        self._target = client.transport.url_path(API + "/predictions/batch")
        self._init_state()
        self._at_exit = at_exit
        if at_exit:
            atexit.register(self._close_at_exit)
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the sender waits here
        self._space = threading.Condition(self._lock)  # blocked log() calls wait here
        self._done = threading.Condition(self._lock)  # flush() and close() wait here
        self._buf: Deque[Tuple[float, Mapping[str, Any]]] = deque()  # (time logged, prediction)
        self._first_at = 0.0  # when the oldest queued prediction came
        self._flush_to = 0  # flush() asked for everything accepted up to here
        self._closing = False
        self._abandon = False  # close() timed out: stop retrying
        self._in_flight: List[Mapping[str, Any]] = []
        self._unsent: List[Mapping[str, Any]] = []
        self.accepted = 0
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self.rejected = 0  # QueueFull raised by log()
        self.retried = 0
        self.batches = 0
        self._finished = 0  # sent + dropped + failed + unsent
        self.last_error: Optional[str] = None
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="mlops-prediction-logger", daemon=True)
        self._thread.start()

    # ---- the caller's side ------------------------------------------------

    def log(self, prediction: Optional[Mapping[str, Any]] = None, /, **fields: Any) -> None:
        """Queues one prediction (a dict of the fields of ``POST
        /predictions``, or those fields as keywords) and returns at once."""
        p = prediction if prediction is not None else fields
        with self._lock:
            if self._closing:
                raise LoggerClosed("the PredictionLogger is closed")
            buf = self._buf
            if len(buf) >= self.queue_size:
                self._make_room()
            if not buf:
                self._first_at = time.monotonic()
                buf.append((time.time(), p))
                self.accepted += 1
                self._work.notify()
                return
            buf.append((time.time(), p))
            self.accepted += 1
            if len(buf) == self.max_batch:
                self._work.notify()

    def log_many(self, predictions: Sequence[Mapping[str, Any]]) -> None:
        """Queues each of ``predictions`` as :meth:`log` does."""
        for p in predictions:
            self.log(p)

    def _make_room(self) -> None:
        # Called with the lock held and the queue full.
        if self.on_full == "drop_oldest":
            self._buf.popleft()
            self.dropped += 1
            self._finished += 1
            self._done.notify_all()
            return
        if self.on_full == "raise":
            self.rejected += 1
            raise QueueFull(f"the prediction queue is full ({self.queue_size})")
        deadline = None if self.block_timeout is None else time.monotonic() + self.block_timeout
        while len(self._buf) >= self.queue_size:
            if self._closing:
                raise LoggerClosed("the PredictionLogger is closed")
            if deadline is None:
                self._space.wait()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                self.rejected += 1
                raise QueueFull(f"the prediction queue stayed full ({self.queue_size}) for {self.block_timeout} s")
            self._space.wait(left)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends what is queued now and waits until every prediction logged
        before this call is stored (or dropped, or refused by the server);
        False when ``timeout`` seconds passed first."""
        with self._lock:
            target = self.accepted
            self._flush_to = max(self._flush_to, target)
            self._work.notify()
            return self._wait_finished(target, timeout)

    def _wait_finished(self, target: int, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._finished < target:
            if not self._thread.is_alive():
                return False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._done.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: Optional[float] = None) -> LoggerStats:
        """Stops taking predictions, sends what is queued and waits up to
        ``timeout`` seconds (default ``close_timeout``) for it to be
        stored. Answers the final counters: ``unsent`` counts the
        predictions not sent (a batch in flight at the end may have been
        stored all the same); :meth:`unsent_predictions` returns them. A
        second call answers the counters again."""
        if timeout is None:
            timeout = self.close_timeout
        with self._lock:
            if not self._closing:
                self._closing = True
                self._work.notify()
                self._space.notify_all()
            done = self._wait_finished(self.accepted, timeout)
            if not done:
                self._abandon = True
                self._work.notify()
        self._thread.join(0.5 if not done else max(0.5, timeout))
        with self._lock:
            if self._buf or (self._in_flight and self._thread.is_alive()):
                # The sender is stuck (a request still waiting for its
                # answer): count what it holds as not sent.
                rest = [p for _, p in self._buf] + (list(self._in_flight) if self._thread.is_alive() else [])
                self._buf.clear()
                if self._thread.is_alive():
                    self._in_flight = []
                self._unsent.extend(rest)
                self._finished += len(rest)
            stats = self._stats()
        if self._at_exit:
            self._at_exit = False
            atexit.unregister(self._close_at_exit)
        if stats.unsent:
            log.warning(
                "PredictionLogger closed with %d of %d predictions not sent (%s)",
                stats.unsent,
                stats.accepted,
                stats.last_error or "timed out",
            )
        return stats

    def _close_at_exit(self) -> None:
        self._at_exit = False
        self.close()

    def unsent_predictions(self) -> List[Mapping[str, Any]]:
        """The predictions that ``close()`` gave up on, to keep elsewhere."""
        with self._lock:
            return list(self._unsent)

    def stats(self) -> LoggerStats:
        """The counters now."""
        with self._lock:
            return self._stats()

    def _stats(self) -> LoggerStats:
        return LoggerStats(
            accepted=self.accepted,
            sent=self.sent,
            dropped=self.dropped,
            failed=self.failed,
            rejected=self.rejected,
            unsent=len(self._unsent),
            retried=self.retried,
            batches=self.batches,
            queue_depth=len(self._buf),
            in_flight=len(self._in_flight),
            last_error=self.last_error,
        )

    @property
    def queue_depth(self) -> int:
        return len(self._buf)

    @property
    def closed(self) -> bool:
        return self._closing

    def __enter__(self) -> "PredictionLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- the sending thread -----------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                batch = self._next_batch()
                if batch is None:
                    return
                self._in_flight = batch
                self._space.notify_all()
            try:
                self._deliver(batch)
            except Exception as e:  # a bug: never stop sending
                log.exception("PredictionLogger: unexpected error; the batch is counted as not sent")
                self._finish(batch, unsent=True, error=f"{type(e).__name__}: {e}")
            finally:
                with self._lock:
                    self._in_flight = []

    def _next_batch(self) -> Optional[List[Mapping[str, Any]]]:
        """Waits (lock held) until a batch is due and takes it; None when
        the logger is closed and the queue empty."""
        buf = self._buf
        while True:
            if self._abandon:
                return None
            n = len(buf)
            if n:
                if n >= self.max_batch or self._closing or self._flush_to > self._finished:
                    break
                left = self._first_at + self.flush_interval - time.monotonic()
                if left <= 0:
                    break
                self._work.wait(left)
            elif self._closing:
                return None
            else:
                self._work.wait()
        k = min(n, self.max_batch)
        taken = [buf.popleft() for _ in range(k)]
        if buf:
            self._first_at = time.monotonic()
        stamp = self.stamp_after
        if stamp is None or time.time() - taken[0][0] <= stamp:
            return [p for _, p in taken]  # none waited long: the server's clock stamps them
        limit = time.time() - stamp
        return [_stamped(p, t) if t < limit and "created_at" not in p else p for t, p in taken]

    def _finish(
        self,
        items: List[Mapping[str, Any]],
        *,
        sent: bool = False,
        failed: bool = False,
        unsent: bool = False,
        error: Optional[str] = None,
    ) -> None:
        with self._lock:
            n = len(items)
            if sent:
                self.sent += n
                self.batches += 1
            elif failed:
                self.failed += n
            elif unsent:
                self._unsent.extend(items)
            if error:
                self.last_error = error
            self._finished += n
            self._done.notify_all()

    def _deliver(self, batch: List[Mapping[str, Any]]) -> None:
        """Sends batch until it is stored, refused for good, or the logger
        gives up; splits off what the server refuses."""
        todo: List[List[Mapping[str, Any]]] = [batch]
        while todo:
            items = todo.pop()
            body, items = self._encode(items)
            if body is None:
                continue
            outcome = self._send(items, body)
            if outcome is not None:
                todo.extend(outcome)

    def _encode(self, items: List[Mapping[str, Any]]) -> Tuple[Optional[bytes], List[Mapping[str, Any]]]:
        try:
            return dumps({"predictions": items}), items
        except (TypeError, ValueError):
            pass
        good, bad = [], []
        for p in items:
            try:
                dumps(p)
                good.append(p)
            except (TypeError, ValueError):
                bad.append(p)
        if bad:
            err = MlopsError(0, "not JSON", f"{len(bad)} predictions cannot be sent as JSON (NaN, or an unknown type)")
            self._fail(bad, err)
        if not good:
            return None, good
        return dumps({"predictions": good}), good

    def _fail(self, items: List[Mapping[str, Any]], err: MlopsError) -> None:
        log.error("PredictionLogger: %d predictions refused: %s", len(items), err)
        self._finish(items, failed=True, error=str(err))
        if self.on_failed is not None:
            try:
                self.on_failed(err, items)
            except Exception:
                log.exception("PredictionLogger: on_failed raised")

    def _send(self, items: List[Mapping[str, Any]], body: bytes) -> Optional[List[List[Mapping[str, Any]]]]:
        """Sends one batch, retrying with one key. Answers None when it is
        done with it (stored, refused or given up), or the batches to send
        instead (the items the server did not refuse; halves of a batch
        too large)."""
        transport = self.client.transport
        headers = dict(transport.headers)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = new_idempotency_key()
        attempt = 0
        while True:
            err: MlopsError
            try:
                resp = transport.send_once("POST", self._target, body, headers)
            except ServerUnreachable as e:
                err = e
            else:
                if resp.status == 201:
                    ids = list((resp.data or {}).get("ids") or [])
                    self._finish(items, sent=True)
                    if self.on_stored is not None:
                        try:
                            self.on_stored(ids, items)
                        except Exception:
                            log.exception("PredictionLogger: on_stored raised")
                    return None
                err = transport.error(resp, "POST", self._target)
                if resp.status == 422:
                    bad = sorted({int(m.group(1)) for m in (_ITEM.match(loc) for loc in err.locations()) if m})
                    bad = [i for i in bad if i < len(items)]
                    if not bad:
                        self._fail(items, err)
                        return None
                    self._fail([items[i] for i in bad], err)
                    drop = set(bad)
                    rest = [p for i, p in enumerate(items) if i not in drop]
                    return [rest] if rest else None
                if resp.status == 413:
                    if len(items) == 1:
                        self._fail(items, err)
                        return None
                    half = len(items) // 2
                    return [items[half:], items[:half]]  # popped from the end: first half first
                if resp.status in (400, 404, 415):
                    self._fail(items, err)
                    return None
                # 401, 403, 408, 429, 5xx: not stored; 409: the first
                # request with this key is still being answered. Try again.
            with self._lock:
                self.last_error = str(err)
                if self._abandon:
                    self._unsent.extend(items)
                    self._finished += len(items)
                    self._done.notify_all()
                    return None
            if attempt == 0 or attempt % 10 == 0:
                log.warning("PredictionLogger: batch of %d not stored, retrying: %s", len(items), err)
            delay = backoff_delay(attempt, 0.1, self.max_backoff)
            if err.retry_after is not None:
                delay = max(delay, min(err.retry_after, self.max_backoff))
            attempt += 1
            with self._lock:
                self.retried += 1
                end = time.monotonic() + delay
                while not self._abandon:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._work.wait(left)


def _stamped(p: Mapping[str, Any], t: float) -> Dict[str, Any]:
    """A copy of p with created_at, the time it was logged."""
    q = dict(p)
    q["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int(t % 1 * 1e6)
    return q


def _after_fork(ref: "weakref.ref[PredictionLogger]") -> None:
    # In a forked child the sending thread does not exist and the queue
    # belongs to the parent (which sends it): start empty, with a thread.
    lg = ref()
    if lg is None or lg._closing:
        return
    lg.client.transport._idle = []
    lg.client.transport._lock = threading.Lock()
    lg._init_state()


__all__ = ["PredictionLogger", "LoggerStats"]
