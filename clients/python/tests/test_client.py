"""The client against a real server: every route once, the errors, paging,
retries through a proxy that answers 503, and token auth."""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import json
import os
import threading
import time
import unittest
import urllib.parse
from typing import Any, Dict, List, Optional

from .server import PY_ROOT, Server, ServerTestCase, free_port

from mlops_client import (  # noqa: E402 (server puts the package on sys.path)
    Client,
    Conflict,
    Forbidden,
    MlopsError,
    NotFound,
    Page,
    ServerUnreachable,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationError,
    new_idempotency_key,
)

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


class EveryRouteTest(ServerTestCase):
    """Each route of docs/api.md once, through its method, in the order a
    platform would use them."""

    def test_every_route(self) -> None:
        c = self.client
        self.assertEqual(c.healthz()["status"], "ok")
        self.assertEqual(c.readyz()["status"], "ready")
        self.assertEqual(c.whoami()["kind"], "anonymous")
        self.assertIn("paths", c.openapi())
        self.assertIn("# TYPE", c.metrics_text())

        # model versions
        m1 = c.register_model(
            model_name="churn",
            version="run-1",
            algorithm="RandomForest",
            metrics={"accuracy": 0.91, "f1": 0.85},
            hyperparameters={"n_estimators": 100},
            feature_names=["age", "plan"],
            model_path="/models/1.pkl",
            training_samples=12000,
        )
        self.assertEqual(m1["f1_score"], 0.85)
        self.assertIsNone(m1["activated_at"])
        m2 = c.register_model(model_name="churn", version="run-2", algorithm="RandomForest")
        self.assertTrue(c.activate_model(m1["id"])["is_active"])
        self.assertEqual(c.activate_model(m2["id"])["status"], "production")
        self.assertEqual(c.get_model(m1["id"])["status"], "archived")
        self.assertEqual(c.get_active_model("churn")["id"], m2["id"])
        self.assertEqual(c.get_active_model("churn", at=now())["id"], m2["id"])
        self.assertEqual([m["id"] for m in c.list_models(model_name="churn").items], [m2["id"], m1["id"]])
        self.assertEqual(len(list(c.iter_models(status="archived"))), 1)
        mid = m2["id"]

        # predictions
        p = c.log_prediction(mid, 1, features={"age": 42, "plan": 1.0}, probability=0.87, latency_ms=12.5)
        self.assertEqual(p["features"], {"age": 42, "plan": 1.0})
        self.assertIsNone(p["actual"])
        b = c.log_predictions([{"model_id": mid, "prediction": 0}, {"model_id": mid, "prediction": 1, "actual": 1}])
        self.assertEqual(b["count"], 2)
        self.assertEqual(len(b["ids"]), 2)
        self.assertEqual(c.set_actual(p["id"], 1)["actual"], 1)
        self.assertEqual(c.get_prediction(p["id"])["actual"], 1)
        self.assertEqual(len(c.list_predictions(mid).items), 3)
        self.assertEqual(len(list(c.iter_predictions(mid, hours=1, page_size=2))), 3)

        # server-side drift check over two windows of logged history
        t0 = now() - dt.timedelta(days=3)
        ref = [{"model_id": mid, "prediction": 0, "features": {"age": 20 + i % 10}, "created_at": t0 + dt.timedelta(minutes=i)} for i in range(40)]
        t1 = now() - dt.timedelta(hours=3)
        cur = [{"model_id": mid, "prediction": 1, "features": {"age": 60 + i % 10}, "created_at": t1 + dt.timedelta(minutes=i)} for i in range(40)]
        c.log_predictions(ref + cur)
        report = c.drift_check(
            mid,
            reference={"from": t0 - dt.timedelta(minutes=1), "to": t0 + dt.timedelta(hours=1)},
            current={"from": t1 - dt.timedelta(minutes=1), "to": now()},
            min_samples=20,
        )
        self.assertTrue(report["drift_detected"])
        self.assertIn("age", report["drifted_features"])

        # drift reports made elsewhere
        d = c.create_drift_report(model_id=mid, drift_detected=False, drift_score=0.01, drifted_features=[])
        self.assertEqual(c.get_latest_drift_report(mid)["id"], d["id"])
        self.assertEqual(len(c.list_drift_reports(mid).items), 2)
        self.assertEqual(len(list(c.iter_drift_reports(mid, days=1, page_size=1))), 2)

        # actions: propose, approve, report
        a = c.propose_action(action_id="act_1", action_type="retrain_model", risk_level="medium", description="drift", parameters={"model_id": mid})
        self.assertEqual(a["status"], "pending")
        self.assertEqual([x["action_id"] for x in c.list_actions(status="pending").items], ["act_1"])
        self.assertEqual(c.approve_action("act_1", reviewer="admin", comment="ok")["status"], "approved")
        self.assertEqual(c.mark_action_executed("act_1", {"status": "success"})["execution_result"], {"status": "success"})
        c.propose_action(action_id="act_2", action_type="rollback", risk_level="low")
        self.assertEqual(c.reject_action("act_2", reviewer="admin", comment="no")["status"], "rejected")
        c.propose_action(action_id="act_3", action_type="rollback", risk_level="low", requires_approval=False)
        self.assertEqual(c.mark_action_failed("act_3", {"error": "boom"})["status"], "failed")
        self.assertEqual(c.get_action("act_3")["execution_result"], {"error": "boom"})
        self.assertEqual(len(list(c.iter_actions())), 3)

        # metrics
        pt = c.log_metric("api_latency", 12.5, model_id=mid, metadata={"route": "/predict"})
        self.assertEqual(pt["metric_value"], 12.5)
        self.assertEqual(c.log_metrics([{"metric_name": "api_latency", "metric_value": v} for v in (1, 2, 3)])["count"], 3)
        self.assertEqual(len(c.get_metric_series("api_latency", days=1)["points"]), 4)
        buckets = c.get_metric_series("api_latency", days=1, bucket="1h")["points"]
        self.assertEqual(sum(x["count"] for x in buckets), 4)

        # alerts and silences
        al = c.create_alert(alert_type="drift", severity="high", title="Drift on churn", related_data={"model_id": mid})
        self.assertEqual(c.get_alert(al["id"])["status"], "active")
        self.assertEqual(c.acknowledge_alert(al["id"], user="admin")["status"], "acknowledged")
        self.assertEqual(c.resolve_alert(al["id"], user="admin", notes="retrained")["status"], "resolved")
        self.assertEqual(len(c.list_alerts(status="resolved", severity="high").items), 1)
        self.assertGreaterEqual(len(list(c.iter_alerts())), 1)
        s = c.create_silence({"alert_type": "drift_detected", "model_name": "churn"}, now() + dt.timedelta(hours=1), "retraining")
        self.assertTrue(s["active"])
        self.assertEqual([x["id"] for x in c.list_silences(active=True).items], [s["id"]])
        self.assertFalse(c.expire_silence(s["id"])["active"])
        self.assertEqual(len(list(c.iter_silences())), 1)

        # reports
        perf = c.model_performance(mid, days=0)
        self.assertEqual(perf["total"]["labeled"], 2)
        self.assertEqual(c.active_model_performance("churn", bucket="1d")["model_id"], mid)
        self.assertEqual(c.alerts_report(days=1)["total"], 1)
        self.assertEqual(c.approvals_report(days=1)["pending"], 0)

        # timeline, rules
        kinds = {e["kind"] for e in c.iter_timeline(mid, page_size=3)}
        self.assertTrue(kinds, "the timeline is empty")
        self.assertEqual(len(c.timeline(mid, limit=1).items), 1)
        self.assertFalse(c.get_rules("churn")["enabled"])
        self.assertTrue(c.set_rules("churn", enabled=True, min_samples=20)["enabled"])
        run = c.run_rules()
        self.assertFalse(run["skipped"])

        # audit (open server: anyone may read it)
        events = c.list_audit(entity_type="action", entity_id="act_1")
        self.assertGreaterEqual(len(events.items), 3)
        self.assertTrue(all(e["entity_id"] == "act_1" for e in c.iter_audit(entity_type="action", entity_id="act_1", page_size=2)))

        # raw requests for anything else
        self.assertEqual(c.request("GET", "/api/v1/models/" + str(mid))["id"], mid)


class ErrorsTest(ServerTestCase):
    def test_not_found(self) -> None:
        with self.assertRaises(NotFound) as cm:
            self.client.get_model(987654)
        e = cm.exception
        self.assertEqual(e.status, 404)
        self.assertEqual(e.title, "Not Found")
        self.assertIn("987654", e.detail)
        self.assertTrue(e.request_id)
        self.assertIsInstance(e, MlopsError)
        with self.assertRaises(NotFound):
            self.client.get_action("no/such action")  # escaped in the path
        with self.assertRaises(NotFound):
            self.client.get_active_model("nobody")

    def test_conflict(self) -> None:
        self.client.register_model(model_name="dup", version="1", algorithm="rf")
        with self.assertRaises(Conflict) as cm:
            self.client.register_model(model_name="dup", version="1", algorithm="rf")
        self.assertEqual(cm.exception.status, 409)
        self.assertIn("already registered", cm.exception.detail)
        m = self.client.register_model(model_name="dup", version="2", algorithm="rf")
        al = self.client.create_alert(alert_type="x", severity="low", title="t")
        self.client.resolve_alert(al["id"], user="admin")
        with self.assertRaises(Conflict):
            self.client.resolve_alert(al["id"], user="admin")
        self.assertTrue(m["id"])

    def test_validation_names_fields(self) -> None:
        m = self.client.register_model(model_name="val", version="1", algorithm="rf")
        with self.assertRaises(ValidationError) as cm:
            self.client.register_model(model_name="val", version="2", algorithm="rf", metrics={"accuracy": 3}, colour="red")
        self.assertEqual(cm.exception.status, 422)
        self.assertEqual(set(cm.exception.locations()), {"body.metrics.accuracy", "body.colour"})
        with self.assertRaises(ValidationError) as cm:
            self.client.log_predictions(
                [{"model_id": m["id"], "prediction": 1}] * 3 + [{"model_id": m["id"], "prediction": 1, "probability": 1.5}]
            )
        self.assertEqual(cm.exception.locations(), ["body.predictions[3].probability"])
        self.assertEqual(self.client.list_predictions(m["id"]).items, [], "a refused batch stored something")
        with self.assertRaises(ValidationError) as cm:
            self.client.list_models(limit=5000)
        self.assertEqual(cm.exception.locations(), ["query.limit"])
        with self.assertRaises(ValidationError) as cm:
            self.client.list_models(cursor="not-a-cursor")
        self.assertEqual(cm.exception.locations(), ["query.cursor"])
        with self.assertRaises(ValueError):  # NaN is not JSON; refused before sending
            self.client.log_prediction(m["id"], 1, probability=float("nan"))


class PagingTest(ServerTestCase):
    def test_pages_follow_the_cursor(self) -> None:
        c = self.client
        for i in range(25):
            c.create_alert(alert_type="paging", severity="info", title=f"alert {i}")
        first = c.list_alerts(limit=10)
        self.assertIsInstance(first, Page)
        self.assertEqual(len(first.items), 10)
        self.assertIsNotNone(first.next_cursor)
        pages = list(c.iter_pages(c.list_alerts, limit=10))
        self.assertEqual([len(p.items) for p in pages], [10, 10, 5])
        self.assertIsNone(pages[-1].next_cursor)
        ids = [a["id"] for a in c.iter_alerts(page_size=7)]
        self.assertEqual(len(ids), 25)
        self.assertEqual(len(set(ids)), 25)
        self.assertEqual(ids, sorted(ids, reverse=True), "not newest first")
        # Rows inserted while paging never shift the next page.
        it = c.iter_alerts(page_size=10)
        seen = [next(it)["id"] for _ in range(10)]
        c.create_alert(alert_type="paging", severity="info", title="late")
        seen += [a["id"] for a in it]
        self.assertEqual(sorted(seen), sorted(ids))


class IdempotencyTest(ServerTestCase):
    def test_repeated_batch_is_stored_once(self) -> None:
        m = self.client.register_model(model_name="idem", version="1", algorithm="rf")
        batch = [{"model_id": m["id"], "prediction": i % 2, "features": {"i": i}} for i in range(5)]
        key = new_idempotency_key()
        first = self.client.log_predictions(batch, idempotency_key=key)
        again = self.client.log_predictions(batch, idempotency_key=key)
        self.assertEqual(first, again)
        self.assertEqual(len(self.client.list_predictions(m["id"]).items), 5)
        with self.assertRaises(ValidationError):  # the same key with another body
            self.client.log_predictions(batch[:2], idempotency_key=key)


class _Proxy(http.server.ThreadingHTTPServer):
    """Forwards to a server, answering 503 (or another status) to the first
    `fail` requests instead."""

    daemon_threads = True

    def __init__(self, upstream: str, fail: int, status: int = 503, retry_after: str = "0") -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.fail = fail
        self.status = status
        self.retry_after = retry_after
        self.seen: List[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        with self.server.lock:
            self.server.seen.append(f"{self.command} {self.path}")
            failing = self.server.fail > 0
            if failing:
                self.server.fail -= 1
        if failing:
            data = json.dumps({"title": "Service Unavailable", "status": self.server.status, "detail": "try later"}).encode()
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Retry-After", self.server.retry_after)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class RetryTest(ServerTestCase):
    def proxy(self, fail: int, **kw: Any) -> _Proxy:
        p = _Proxy(self.server.url, fail, **kw)
        self.addCleanup(p.close)
        return p

    def client_for(self, url: str, **kw: Any) -> Client:
        c = Client(url, backoff=0.01, max_backoff=0.05, **kw)
        self.addCleanup(c.close)
        return c

    def test_get_is_retried_after_503(self) -> None:
        p = self.proxy(2)
        c = self.client_for(p.url)
        self.assertEqual(c.list_models().items, [])
        self.assertEqual(len(p.seen), 3)
        self.assertEqual(c.transport.retried, 2)

    def test_put_and_delete_are_retried(self) -> None:
        m = self.client.register_model(model_name="retry", version="1", algorithm="rf")
        pred = self.client.log_prediction(m["id"], 0)
        p = self.proxy(1)
        c = self.client_for(p.url)
        self.assertEqual(c.set_actual(pred["id"], 1)["actual"], 1)
        self.assertEqual(len(p.seen), 2)
        s = self.client.create_silence({"alert_type": "x"}, now() + dt.timedelta(hours=1), "test")
        p.fail = 1
        self.assertFalse(c.expire_silence(s["id"])["active"])

    def test_post_without_key_is_not_retried(self) -> None:
        p = self.proxy(1)
        c = self.client_for(p.url)
        with self.assertRaises(ServiceUnavailable) as cm:
            c.register_model(model_name="once", version="1", algorithm="rf")
        self.assertEqual(cm.exception.retry_after, 0)
        self.assertEqual(len(p.seen), 1)
        with self.assertRaises(NotFound):  # nothing was created
            self.client.get_active_model("once")

    def test_post_with_key_is_retried(self) -> None:
        m = self.client.register_model(model_name="keyed", version="1", algorithm="rf")
        p = self.proxy(2)
        c = self.client_for(p.url)
        r = c.log_predictions([{"model_id": m["id"], "prediction": 1}] * 3, idempotency_key=new_idempotency_key())
        self.assertEqual(r["count"], 3)
        self.assertEqual(len(p.seen), 3)
        self.assertEqual(len(self.client.list_predictions(m["id"]).items), 3)

    def test_gives_up_after_retries(self) -> None:
        p = self.proxy(10)
        c = self.client_for(p.url, retries=2)
        with self.assertRaises(ServiceUnavailable):
            c.list_models()
        self.assertEqual(len(p.seen), 3)

    def test_long_retry_after_is_not_waited(self) -> None:
        p = self.proxy(1, status=429, retry_after="300")
        c = self.client_for(p.url)
        with self.assertRaises(TooManyRequests) as cm:
            c.list_models()
        self.assertEqual(cm.exception.retry_after, 300)
        self.assertEqual(len(p.seen), 1)

    def test_connection_refused(self) -> None:
        c = self.client_for(f"http://127.0.0.1:{free_port()}", retries=2)
        t = time.monotonic()
        with self.assertRaises(ServerUnreachable) as cm:
            c.list_models()
        self.assertEqual(cm.exception.status, 0)
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertEqual(c.transport.retried, 2)
        self.assertLess(time.monotonic() - t, 5)
        with self.assertRaises(ServerUnreachable):
            c.register_model(model_name="x", version="1", algorithm="rf")
        self.assertEqual(c.transport.retried, 2, "a POST without a key was retried")

    def test_keep_alive_survives_server_restart(self) -> None:
        # A pooled connection the server closed is replaced, not reported.
        srv = Server().start()
        self.addCleanup(srv.close)
        c = self.client_for(srv.url)
        c.register_model(model_name="ka", version="1", algorithm="rf")
        srv.stop()
        srv.start()
        m = c.register_model(model_name="ka", version="2", algorithm="rf")  # a POST: never retried
        self.assertEqual(m["version"], "2")


class AuthTest(unittest.TestCase):
    """Accounts and tokens on a server of their own (the first account turns
    auth on for everyone)."""

    def setUp(self) -> None:
        self.server = Server()
        self.addCleanup(self.server.close)

    def test_tokens_and_accounts(self) -> None:
        # As in production: the token is made with the command line, against
        # the server's database, before the server starts (a running server
        # notices a first account within a second).
        self.server.cli("migrate", "upgrade")
        secret = self.server.cli("token", "create", "--name", "model-server", "--role", "pipeline").strip()
        self.server.start()
        url = self.server.url
        self.assertTrue(secret.startswith("mlops_"), secret)
        with self.assertRaises(Unauthorized) as cm, Client(url) as anonymous:
            anonymous.list_models()
        self.assertEqual(cm.exception.status, 401)
        with self.assertRaises(Unauthorized), Client(url, token="mlops_wrong") as wrong:
            wrong.list_models()

        pipeline = Client(url, token=secret)
        self.assertEqual(pipeline.whoami(), {"name": "model-server", "kind": "token", "role": "pipeline"})
        m = pipeline.register_model(model_name="auth", version="1", algorithm="rf")
        pipeline.activate_model(m["id"])
        pipeline.log_prediction(m["id"], 1)
        with self.assertRaises(Forbidden) as cm:
            pipeline.create_alert(alert_type="x", severity="low", title="t")
        self.assertEqual(cm.exception.status, 403)
        with self.assertRaises(Forbidden):
            pipeline.list_users()

        self.server.cli("user", "create", "alice", "--role", "admin", "--password-stdin", stdin="correct horse battery\n")
        admin = Client(url, auth=("alice", "correct horse battery"))
        self.assertEqual(admin.whoami()["kind"], "user")
        bob = admin.create_user("bob", "reviewer", "another long password")
        self.assertEqual(bob["role"], "reviewer")
        self.assertEqual(admin.update_user("bob", role="viewer")["role"], "viewer")
        self.assertEqual({u["name"] for u in admin.list_users().items}, {"alice", "bob"})
        self.assertEqual(len(list(admin.iter_users())), 2)
        with self.assertRaises(Conflict):
            admin.create_user("bob", "viewer", "another long password")
        with self.assertRaises(NotFound):
            admin.update_user("carol", disabled=True)

        agent_tok = admin.create_token("agent", "agent")
        self.assertTrue(agent_tok["secret"].startswith("mlops_"))
        names = {t["name"] for t in admin.list_tokens().items}
        self.assertEqual(names, {"model-server", "agent"})
        self.assertNotIn("secret", admin.list_tokens().items[0])
        agent = Client(url, token=agent_tok["secret"])
        self.assertEqual(agent.propose_action(action_id="a1", action_type="retrain_model", risk_level="low")["proposed_by"], "agent")
        self.assertEqual(admin.revoke_token("agent")["name"], "agent")
        self.assertEqual(len(list(admin.iter_tokens(revoked=True))), 2)
        deadline = time.monotonic() + 5  # servers notice a revocation within about a second
        with self.assertRaises(Unauthorized):
            while time.monotonic() < deadline:
                agent.list_actions()
                time.sleep(0.1)
        for c in (pipeline, admin, agent):
            c.close()
        events = admin.list_audit(entity_type="token")
        self.assertTrue(events.items)


class PackagingTest(unittest.TestCase):
    def test_pip_install_offline(self) -> None:
        """`pip install ./clients/python` needs no package index."""
        import subprocess
        import sys
        import tempfile

        r = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
        if r.returncode != 0:
            self.skipTest("pip is not installed for this interpreter")
        with tempfile.TemporaryDirectory() as target:
            r = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", "--target", target, PY_ROOT],
                capture_output=True,
                text=True,
                timeout=120,
            )
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            files = set(os.listdir(os.path.join(target, "mlops_client")))
            self.assertTrue({"__init__.py", "client.py", "logger.py", "py.typed"} <= files, files)
            r = subprocess.run(
                [sys.executable, "-c", "import mlops_client, sys; print(mlops_client.__file__)"],
                cwd=target,
                capture_output=True,
                text=True,
            )
            self.assertTrue(r.stdout.startswith(target), r.stdout + r.stderr)


class TypesTest(ServerTestCase):
    """The typed dicts name the fields of the server's schemas."""

    def test_types_match_openapi(self) -> None:
        from mlops_client import types

        doc = self.client.openapi()
        schemas: Dict[str, Any] = doc["components"]["schemas"]
        # Every record an operation answers has a typed dict.
        answered = set()
        for ops in doc["paths"].values():
            for op in ops.values():
                for status, resp in op.get("responses", {}).items():
                    ref = resp.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                    if status.startswith("2") and ref:
                        name = ref.rsplit("/", 1)[-1]
                        answered.add(name[4:] if name.startswith("List") else name)
        missing = sorted(n for n in answered if not hasattr(types, n))
        self.assertEqual(missing, [], "records without a typed dict in mlops_client.types")
        checked = 0
        for name, schema in schemas.items():
            td: Optional[Any] = getattr(types, name, None)
            if td is None or not hasattr(td, "__required_keys__"):
                continue
            keys = set(td.__annotations__.keys())
            props = set((schema.get("properties") or {}).keys())
            self.assertEqual(keys, props, f"types.{name} differs from the schema {name}")
            required = set(td.__required_keys__)
            self.assertEqual(required, set(schema.get("required") or []), f"required keys of {name}")
            checked += 1
        self.assertGreaterEqual(checked, len(answered))


if __name__ == "__main__":
    unittest.main()
