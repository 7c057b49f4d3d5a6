"""The three examples of examples/ against a real server: the training
pipeline, the FastAPI model server under uvicorn (logging on and off), and
the agent through a failed and an executed retrain."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Dict, List, Tuple

from .server import EXAMPLES, PY_ROOT, Server, free_port, in_ci, python_with

from mlops_client import Client  # noqa: E402


def run(cmd: List[str], env: Dict[str, str], cwd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


class ExamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.fastapi_python = python_with("fastapi, uvicorn, pydantic")
        cls.server = Server().start()
        cls.client = Client(cls.server.url)
        cls.work = tempfile.mkdtemp(prefix="examples-")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        cls.server.close()

    def env(self, **extra: str) -> Dict[str, str]:
        e = dict(os.environ)
        e.pop("MLOPS_TOKEN", None)
        e["PYTHONPATH"] = PY_ROOT + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
        e["MLOPS_URL"] = self.server.url
        e.update(extra)
        return e

    def train(self, name: str) -> Dict[str, object]:
        r = run([sys.executable, os.path.join(EXAMPLES, "training", "train.py"), "--model-name", name, "--epochs", "30"], self.env(), self.work)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout.strip().splitlines()[-1])

    def test_training_registers_and_activates(self) -> None:
        out = self.train("ex-train")
        active = self.client.get_active_model("ex-train")
        self.assertEqual(active["id"], out["model_id"])
        self.assertEqual(active["algorithm"], "LogisticRegression")
        self.assertGreater(active["accuracy"], 0.6)
        self.assertEqual(active["feature_names"], ["age", "tenure_months", "monthly_spend"])
        self.assertTrue(os.path.exists(active["model_path"]))

    def serve_app(self, model_name: str, log: bool) -> Tuple[subprocess.Popen, int]:
        if not self.fastapi_python:
            if in_ci():
                self.fail("FastAPI and uvicorn are needed (apt-get install python3-fastapi python3-uvicorn; .ci/run does)")
            self.skipTest("FastAPI and uvicorn are not installed (apt-get install python3-fastapi python3-uvicorn)")
        port = free_port()
        env = self.env(MODEL_NAME=model_name, MLOPS_LOG_PREDICTIONS="1" if log else "0")
        cmd = [self.fastapi_python, "-m", "uvicorn", "app:app", "--app-dir", os.path.join(EXAMPLES, "model_server"),
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        proc = subprocess.Popen(cmd, env=env, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc, port
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.communicate(timeout=10)[0] if proc.poll() is not None else ""
                    self.fail(f"the model server did not start: {out}")
                time.sleep(0.1)

    def predict(self, port: int, n: int) -> List[dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        answers = []
        for i in range(n):
            body = json.dumps({"features": {"age": 20 + i, "tenure_months": i % 12, "monthly_spend": 50 + i}})
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            answers.append(json.loads(r.read()))
            self.assertEqual(r.status, 200, answers[-1])
        conn.close()
        return answers

    def stop(self, proc: subprocess.Popen) -> str:
        proc.send_signal(signal.SIGINT)  # uvicorn shuts down: the logger sends what it holds
        out = proc.communicate(timeout=60)[0]
        self.assertEqual(proc.returncode, 0, out)
        return out

    def test_model_server_logs_every_prediction(self) -> None:
        mid = self.train("ex-serve")["model_id"]
        proc, port = self.serve_app("ex-serve", log=True)
        answers = self.predict(port, 25)
        self.assertTrue(all(a["prediction"] in (0, 1) for a in answers))
        self.stop(proc)
        stored = list(self.client.iter_predictions(mid))
        self.assertEqual(len(stored), 25)
        self.assertEqual(sorted(p["features"]["age"] for p in stored), [20 + i for i in range(25)])
        self.assertTrue(all(p["latency_ms"] is not None and p["probability"] is not None for p in stored))

        proc, port = self.serve_app("ex-serve", log=False)
        self.predict(port, 5)
        self.stop(proc)
        self.assertEqual(len(list(self.client.iter_predictions(mid))), 25, "logging was off, yet predictions were stored")

    def test_agent_proposes_waits_and_reports(self) -> None:
        name = "ex-agent"
        mid = self.train(name)["model_id"]
        # A week of history, then a shifted last day: drift in "age".
        rng = random.Random(1)
        now = dt.datetime.now(dt.timezone.utc)
        history = [{"model_id": mid, "prediction": 0, "features": {"age": rng.gauss(40, 5)},
                    "created_at": now - dt.timedelta(days=3, minutes=i)} for i in range(200)]
        history += [{"model_id": mid, "prediction": 1, "features": {"age": rng.gauss(60, 5)},
                     "created_at": now - dt.timedelta(hours=2, minutes=i)} for i in range(200)]
        self.client.log_predictions(history)

        # First a retrain that fails, then one that works; a reviewer approves each.
        for retrain, want_status, want_exit in (("false", "failed", 1), (None, "executed", 0)):
            cmd = [sys.executable, os.path.join(EXAMPLES, "agent", "agent.py"), "--model-name", name, "--poll", "0.1", "--timeout", "60"]
            if retrain:
                cmd += ["--retrain-cmd", retrain]
            agent = subprocess.Popen(cmd, env=self.env(), cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            self.addCleanup(lambda: agent.poll() is None and agent.kill())
            action = self.approve_next(agent)
            out = agent.communicate(timeout=120)[0]
            self.assertEqual(agent.returncode, want_exit, out)
            done = self.client.get_action(action)
            self.assertEqual(done["status"], want_status, out)
            self.assertEqual(done["action_type"], "retrain_model")
            self.assertIsNotNone(done["execution_result"])
        retrained = self.client.get_active_model(name)
        self.assertNotEqual(retrained["id"], mid, "the executed retrain did not activate a version")
        self.assertEqual(retrained["version"], action, "the new version is not named after its action")

    def approve_next(self, agent: subprocess.Popen) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = self.client.list_actions(status="pending").items
            if pending:
                a = pending[0]["action_id"]
                self.client.approve_action(a, reviewer="reviewer", comment="go ahead")
                return a
            if agent.poll() is not None:
                self.fail(f"the agent exited without proposing: {agent.communicate()[0]}")
            time.sleep(0.1)
        self.fail("the agent proposed nothing")
        return ""


if __name__ == "__main__":
    unittest.main()
