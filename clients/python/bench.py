"""What logging predictions from Python costs, against a real `mlops serve`.

    cd clients/python
    python3 bench.py                                   # SQLite
    MLOPS_TEST_DATABASE_URL=postgres://... python3 bench.py   # PostgreSQL (a fresh schema)

(a) PredictionLogger alone in one process: predictions per second that reach
    the database (log() of N predictions until flush() returns: every batch
    answered 201, i.e. committed), beside single POST /api/v1/predictions
    from one thread and from 16 threads of the same process, in the same run.
(b) The FastAPI example (examples/model_server/app.py, one uvicorn worker)
    driven by wrk at 16 connections, logging on and off, alternated, each
    figure the median of --rounds runs: requests per second, and the app
    process's CPU time per request (from /proc, so less sensitive to what
    else runs on the machine); after the logging runs, the stored
    predictions are counted against the requests wrk completed.

It starts its own server (MLOPS_BIN, or `go build`), as the tests do. (b)
needs wrk (apt-get install wrk) and FastAPI and uvicorn (apt-get install
python3-fastapi python3-uvicorn); without them it is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mlops_client import Client, PredictionLogger  # noqa: E402
from tests.server import EXAMPLES, Server, engine, free_port, python_with  # noqa: E402


def count_rows(client: Client, model_id: int) -> int:
    return client.model_performance(model_id, days=0)["total"]["predictions"]


def bench_logger(client: Client, model_id: int, n: int, max_batch: int) -> Dict[str, float]:
    # The dicts are built beforehand, so that log() alone is timed.
    pool = [{
        "model_id": model_id,
        "features": {"age": 20 + i % 60, "tenure_months": i % 72, "monthly_spend": 10.5 + i % 140},
        "prediction": i & 1,
        "probability": 0.73,
        "latency_ms": 1.25,
    } for i in range(10_000)]
    lg = PredictionLogger(client, max_batch=max_batch, queue_size=max(n, 1), at_exit=False)
    log = lg.log
    t0 = time.perf_counter()
    for i in range(n):
        log(pool[i % 10_000])
    t_logged = time.perf_counter()
    if not lg.flush(600):
        raise SystemExit(f"flush did not finish: {lg.stats()}")
    t_done = time.perf_counter()
    s = lg.close()
    stored = count_rows(client, model_id)
    if stored != n or s.sent != n:
        raise SystemExit(f"{stored} rows stored, {s.sent} sent, for {n} logged")
    return {
        "rows_per_s": n / (t_done - t0),
        "log_us": (t_logged - t0) / n * 1e6,
        "batches": s.batches,
    }


def bench_singles(url: str, model_id: int, seconds: float, threads: int) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        c = Client(url)
        body = {"age": 42, "tenure_months": 3, "monthly_spend": 80.0}
        while time.perf_counter() < stop:
            c.log_prediction(model_id, 1, features=body, probability=0.73, latency_ms=1.25)
            done[k] += 1
        c.close()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


WRK_LUA = """wrk.method = "POST"
wrk.body = '{"features": {"age": 42, "tenure_months": 3, "monthly_spend": 80}}'
wrk.headers["Content-Type"] = "application/json"
"""


def start_app(py: str, server: Server, model_name: str, log: bool, work: str) -> tuple:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=HERE, MLOPS_URL=server.url, MODEL_NAME=model_name,
               MLOPS_LOG_PREDICTIONS="1" if log else "0")
    env.pop("MLOPS_TOKEN", None)
    proc = subprocess.Popen(
        [py, "-m", "uvicorn", "app:app", "--app-dir", os.path.join(EXAMPLES, "model_server"),
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
        env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the FastAPI app did not start")
            time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, seconds: int, conns: int, script: str) -> tuple:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "-s", script, f"http://127.0.0.1:{port}/predict"],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return rps, total


def bench_fastapi(server: Server, client: Client, rounds: int, seconds: int, conns: int) -> Optional[Dict[str, float]]:
    py = python_with("fastapi, uvicorn, pydantic")
    if not py or not shutil.which("wrk"):
        print("(b) left out: needs wrk and FastAPI + uvicorn (apt-get install wrk python3-fastapi python3-uvicorn)")
        return None
    work = tempfile.mkdtemp(prefix="bench-")
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "training", "train.py"), "--model-name", "bench-app",
                        "--epochs", "10"], env=dict(os.environ, PYTHONPATH=HERE, MLOPS_URL=server.url),
                       cwd=work, capture_output=True, text=True, check=True)
    model_id = json.loads(r.stdout.strip().splitlines()[-1])["model_id"]
    script = os.path.join(work, "predict.lua")
    with open(script, "w") as f:
        f.write(WRK_LUA)
    rps_by: Dict[bool, List[float]] = {True: [], False: []}
    cpu_by: Dict[bool, List[float]] = {True: [], False: []}
    answered_logged = 0  # requests wrk saw answered while logging was on
    for r in range(rounds):
        for log in ((True, False) if r % 2 == 0 else (False, True)):
            proc, port = start_app(py, server, "bench-app", log, work)
            _, warm = run_wrk(port, 2, conns, script)
            cpu0 = cpu_seconds(proc.pid)
            rps, total = run_wrk(port, seconds, conns, script)
            cpu_us = (cpu_seconds(proc.pid) - cpu0) / total * 1e6
            proc.send_signal(signal.SIGINT)  # the logger sends what it holds
            proc.wait(120)
            rps_by[log].append(rps)
            cpu_by[log].append(cpu_us)
            if log:
                answered_logged += warm + total
            print(f"  logging {'on ' if log else 'off'}: {rps:,.0f} req/s, app CPU {cpu_us:.0f} µs a request", flush=True)
    stored = count_rows(client, model_id)
    # wrk counts the answers it saw in its time; a request still in flight
    # at its end was served and logged all the same.
    if stored < answered_logged:
        raise SystemExit(f"{stored} predictions stored for {answered_logged} answered requests")
    return {"on": statistics.median(rps_by[True]), "off": statistics.median(rps_by[False]),
            "cpu_on": statistics.median(cpu_by[True]), "cpu_off": statistics.median(cpu_by[False]),
            "stored": float(stored), "answered": float(answered_logged)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="predictions for (a)")
    ap.add_argument("--max-batch", type=int, default=1000)
    ap.add_argument("--singles-seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="runs of each FastAPI case")
    ap.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--skip-fastapi", action="store_true")
    args = ap.parse_args()

    server = Server().start()
    try:
        client = Client(server.url)
        mid = client.register_model(model_name="bench", version="1", algorithm="rf")["id"]
        print(f"engine: {engine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
        a = bench_logger(client, mid, args.n, args.max_batch)
        print(f"(a) PredictionLogger: {args.n:,} predictions in {a['batches']} batches: "
              f"{a['rows_per_s']:,.0f} rows/s stored; log() {a['log_us']:.2f} µs a call", flush=True)
        s1 = bench_singles(server.url, mid, args.singles_seconds, 1)
        s16 = bench_singles(server.url, mid, args.singles_seconds, 16)
        print(f"    single POST /predictions: {s1:,.0f}/s from 1 thread, {s16:,.0f}/s from 16 threads "
              f"(logger: {a['rows_per_s'] / s1:.0f}× and {a['rows_per_s'] / s16:.0f}×)", flush=True)
        if not args.skip_fastapi:
            print(f"(b) FastAPI /predict, wrk -c{args.connections}, {args.rounds}× {args.seconds} s each:", flush=True)
            b = bench_fastapi(server, client, args.rounds, args.seconds, args.connections)
            if b:
                change = (b["on"] / b["off"] - 1) * 100
                cpu = (b["cpu_on"] / b["cpu_off"] - 1) * 100
                print(f"    median: logging on {b['on']:,.0f} req/s, off {b['off']:,.0f} req/s: "
                      f"throughput {change:+.1f} % with logging; the app's CPU a request "
                      f"{b['cpu_on']:.0f} µs against {b['cpu_off']:.0f} µs ({cpu:+.1f} %); "
                      f"{int(b['stored']):,} predictions stored for {int(b['answered']):,} requests "
                      f"answered with logging on", flush=True)
        client.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
