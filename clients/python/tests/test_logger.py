"""PredictionLogger against a real server: batching, the full-queue modes,
refused items, retries, close() with the server down, and a server killed
and restarted mid-stream."""

from __future__ import annotations

import collections
import datetime as dt
import sys
import threading
import time
import unittest
from typing import Any, Dict, List

from .server import Server, ServerTestCase, engine, free_port
from .test_client import _Proxy

from mlops_client import Client, LoggerClosed, PredictionLogger, QueueFull  # noqa: E402


def stored_seqs(client: Client, model_id: int) -> List[int]:
    """features.seq of every stored prediction of the version."""
    return [p["features"]["seq"] for p in client.iter_predictions(model_id, hours=24, page_size=1000)]


class LoggerTest(ServerTestCase):
    def setUp(self) -> None:
        self.model = self.client.register_model(model_name=f"logged-{self.id()}", version="1", algorithm="rf")
        self.mid = self.model["id"]

    def logger(self, client: Any = None, **kw: Any) -> PredictionLogger:
        kw.setdefault("at_exit", False)
        lg = PredictionLogger(client or self.client, **kw)
        self.addCleanup(lg.close, 1)
        return lg

    def pred(self, seq: int, **extra: Any) -> Dict[str, Any]:
        p: Dict[str, Any] = {"model_id": self.mid, "prediction": seq % 2, "probability": 0.5, "features": {"seq": seq}}
        p.update(extra)
        return p

    def test_batches_reach_the_database(self) -> None:
        stored: List[int] = []
        lg = self.logger(max_batch=1000, on_stored=lambda ids, preds: stored.extend(ids))
        for i in range(4500):
            lg.log(self.pred(i))
        lg.log(model_id=self.mid, prediction=1, features={"seq": 4500})  # the keyword form
        self.assertTrue(lg.flush(30))
        s = lg.stats()
        self.assertEqual((s.accepted, s.sent, s.dropped, s.failed, s.queue_depth), (4501, 4501, 0, 0, 0))
        self.assertGreaterEqual(s.batches, 5)
        self.assertEqual(len(set(stored)), 4501)
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), list(range(4501)))
        self.assertEqual(lg.close().unsent, 0)
        with self.assertRaises(LoggerClosed):
            lg.log(self.pred(1))

    def test_flush_interval_sends_a_partial_batch(self) -> None:
        done = threading.Event()
        lg = self.logger(max_batch=1000, flush_interval=0.1, on_stored=lambda ids, preds: done.set())
        lg.log(self.pred(0))
        self.assertTrue(done.wait(10), "a lone prediction was not sent after flush_interval")
        self.assertEqual(stored_seqs(self.client, self.mid), [0])

    def test_full_queue_raise(self) -> None:
        lg = self.logger(queue_size=5, max_batch=100, flush_interval=60, on_full="raise")
        for i in range(5):
            lg.log(self.pred(i))
        with self.assertRaises(QueueFull):
            lg.log(self.pred(5))
        self.assertEqual(lg.queue_depth, 5)
        self.assertEqual((lg.stats().accepted, lg.stats().rejected), (5, 1))
        self.assertTrue(lg.flush(30))
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), [0, 1, 2, 3, 4])

    def test_full_queue_drop_oldest(self) -> None:
        lg = self.logger(queue_size=5, max_batch=100, flush_interval=60, on_full="drop_oldest")
        for i in range(8):
            lg.log(self.pred(i))
        self.assertEqual(lg.stats().dropped, 3)
        self.assertTrue(lg.flush(30))
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), [3, 4, 5, 6, 7])
        s = lg.close()
        self.assertEqual((s.accepted, s.sent, s.dropped, s.unsent), (8, 5, 3, 0))

    def test_full_queue_block_times_out(self) -> None:
        lg = self.logger(queue_size=5, max_batch=100, flush_interval=60, on_full="block", block_timeout=0.2)
        for i in range(5):
            lg.log(self.pred(i))
        t = time.monotonic()
        with self.assertRaises(QueueFull):
            lg.log(self.pred(5))
        self.assertGreaterEqual(time.monotonic() - t, 0.19)

    def test_full_queue_block_waits_for_room(self) -> None:
        lg = self.logger(queue_size=5, max_batch=100, flush_interval=60, on_full="block", block_timeout=None)
        for i in range(5):
            lg.log(self.pred(i))
        t = threading.Thread(target=lg.log, args=(self.pred(5),))
        t.start()
        t.join(0.3)
        self.assertTrue(t.is_alive(), "log() did not block on a full queue")
        self.assertTrue(lg.flush(30))  # sends the five: room for the sixth
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertTrue(lg.flush(30))
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), list(range(6)))

    def test_refused_items_are_split_off(self) -> None:
        refused: List[Any] = []
        lg = self.logger(max_batch=100, on_failed=lambda err, items: refused.append((items, err)))
        lg.log(self.pred(0))
        lg.log(self.pred(1, probability=1.5))  # out of range
        lg.log(self.pred(2))
        lg.log(dict(self.pred(3), model_id=987654))  # no such version
        lg.log(self.pred(4))
        lg.log(self.pred(5, features={"seq": 5, "bad": float("nan")}))  # not JSON
        self.assertTrue(lg.flush(30))
        s = lg.stats()
        self.assertEqual((s.sent, s.failed), (3, 3))
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), [0, 2, 4])
        bad = sorted(p["features"]["seq"] for items, _ in refused for p in items)
        self.assertEqual(bad, [1, 3, 5])
        # The server names the first bad items; the logger sends the rest
        # again, so later indices count the items that were left.
        locations = sorted(loc for _, err in refused for loc in err.locations())
        self.assertIn("body.predictions[1].probability", locations)
        self.assertTrue(any(loc.endswith("].model_id") for loc in locations), locations)

    def test_retries_a_503_with_one_key(self) -> None:
        proxy = _Proxy(self.server.url, fail=2)
        self.addCleanup(proxy.close)
        c = Client(proxy.url)
        self.addCleanup(c.close)
        lg = self.logger(c, max_batch=50)
        for i in range(50):
            lg.log(self.pred(i))
        self.assertTrue(lg.flush(30))
        self.assertEqual(lg.stats().retried, 2)
        self.assertEqual(sorted(stored_seqs(self.client, self.mid)), list(range(50)))

    def test_close_with_the_server_down(self) -> None:
        c = Client(f"http://127.0.0.1:{free_port()}", timeout=2)
        lg = self.logger(c, max_batch=4, flush_interval=0.05)
        for i in range(10):
            lg.log(self.pred(i))
        time.sleep(0.3)  # the first batch is being retried
        t = time.monotonic()
        s = lg.close(timeout=1.0)
        took = time.monotonic() - t
        self.assertLess(took, 3.0, "close() did not return after its timeout")
        self.assertGreaterEqual(took, 0.9)
        self.assertEqual((s.accepted, s.sent, s.unsent), (10, 0, 10))
        self.assertGreaterEqual(s.retried, 1)
        self.assertIn("Connection", s.last_error or "")
        self.assertEqual(sorted(p["features"]["seq"] for p in lg.unsent_predictions()), list(range(10)))

    def test_close_waits_for_a_server_that_comes_back(self) -> None:
        srv = Server().start()
        self.addCleanup(srv.close)
        c = Client(srv.url, timeout=5)
        self.addCleanup(c.close)
        mid = c.register_model(model_name="late", version="1", algorithm="rf")["id"]
        srv.stop()
        lg = self.logger(c, max_batch=10, flush_interval=0.05, max_backoff=0.2, stamp_after=0.2)
        logged_at = time.time()
        for i in range(25):
            lg.log({"model_id": mid, "prediction": 1, "features": {"seq": i}})
        time.sleep(0.3)
        self.assertEqual(lg.stats().sent, 0)
        restart = threading.Timer(0.5, srv.start)
        restart.start()
        s = lg.close(timeout=30)
        restart.join()
        self.assertEqual((s.sent, s.unsent), (25, 0))
        stored = list(c.iter_predictions(mid))
        self.assertEqual(sorted(p["features"]["seq"] for p in stored), list(range(25)))
        # Those that waited out the outage in the queue are stamped when
        # logged, not when stored; the first batch (at most seq 0-9) was
        # already in flight, its body fixed for its retries: the server's time.
        for p in stored:
            stamp = dt.datetime.strptime(p["created_at"][:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
            at = stamp.replace(tzinfo=dt.timezone.utc).timestamp()
            if p["features"]["seq"] >= 10 or abs(at - logged_at) < 0.25:
                self.assertLess(abs(at - logged_at), 0.25, p)
            else:
                self.assertGreater(at - logged_at, 0.5, p)


class KillRestartTest(unittest.TestCase):
    """SIGKILL the server while a logger streams into it, restart it on the
    same database, and check that every prediction log() accepted is stored
    exactly once after close()."""

    def test_every_accepted_prediction_is_stored_once(self) -> None:
        srv = Server().start()
        self.addCleanup(srv.close)
        client = Client(srv.url, timeout=5)
        self.addCleanup(client.close)
        mid = client.register_model(model_name="durable", version="1", algorithm="rf")["id"]
        lg = PredictionLogger(client, max_batch=500, flush_interval=0.02, queue_size=1_000_000, max_backoff=0.3, at_exit=False)
        stop = threading.Event()
        count = [0]

        def produce() -> None:  # a steady ~10,000 predictions/s
            i = 0
            while not stop.is_set():
                lg.log({"model_id": mid, "prediction": i % 2, "probability": 0.5, "latency_ms": 1.0, "features": {"seq": i}})
                i += 1
                if i % 100 == 0:
                    time.sleep(0.01)
            count[0] = i

        producer = threading.Thread(target=produce)
        producer.start()
        kills = 3
        try:
            for k in range(kills):
                want = lg.stats().sent + 2000
                deadline = time.monotonic() + 60
                while lg.stats().sent < want and time.monotonic() < deadline:
                    time.sleep(0.005)
                self.assertGreaterEqual(lg.stats().sent, want, f"the logger stalled before kill {k + 1}")
                srv.kill()
                time.sleep(0.3)  # log() goes on taking predictions meanwhile
                srv.start()
        finally:
            time.sleep(0.2)
            stop.set()
            producer.join()
        s = lg.close(timeout=60)
        self.assertEqual(s.accepted, count[0])
        self.assertEqual((s.unsent, s.dropped, s.failed), (0, 0, 0), s)
        self.assertGreaterEqual(s.retried, kills, "no batch was retried: the kills missed the stream")
        seen = collections.Counter(stored_seqs(client, mid))
        missing = [i for i in range(count[0]) if i not in seen]
        twice = sorted(i for i, n in seen.items() if n > 1)
        self.assertEqual(missing[:10], [], f"{len(missing)} accepted predictions are not stored")
        self.assertEqual(twice[:10], [], f"{len(twice)} predictions stored more than once")
        print(
            f"\n  kill-restart ({engine()}): {count[0]} accepted, {s.sent} sent, {kills} kills, "
            f"{s.retried} batch retries, none lost, none twice",
            file=sys.stderr,
        )


if __name__ == "__main__":
    unittest.main()
