"""A real `mlops serve` for the tests, on a fresh database of its own.

The binary is $MLOPS_BIN, or built once per run with `go build` from the
repository root. The database is a new SQLite file, or, when
$MLOPS_TEST_DATABASE_URL names a PostgreSQL database, a new schema in it
(created and dropped with psql, and named in the URL's search_path, as
store/storetest does)."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Dict, List, Optional

if TYPE_CHECKING:
    from mlops_client import Client

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ROOT = os.path.dirname(HERE)  # clients/python
REPO = os.path.dirname(os.path.dirname(PY_ROOT))
EXAMPLES = os.path.join(REPO, "examples")

if PY_ROOT not in sys.path:
    sys.path.insert(0, PY_ROOT)

_tmp = tempfile.mkdtemp(prefix="mlops-pytest-")
atexit.register(shutil.rmtree, _tmp, True)
_servers: List["Server"] = []
_bin_lock = threading.Lock()


@atexit.register
def _kill_servers() -> None:
    # A run cut short (a failing setUpClass, Ctrl-C) leaves no server behind.
    for s in _servers:
        s.kill()
_bin: Optional[str] = None


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def engine() -> str:
    return "postgres" if os.environ.get("MLOPS_TEST_DATABASE_URL") else "sqlite"


def binary() -> str:
    """The mlops binary: $MLOPS_BIN, or built once into a temp folder."""
    global _bin
    with _bin_lock:
        if _bin:
            return _bin
        env_bin = os.environ.get("MLOPS_BIN")
        if env_bin:
            _bin = env_bin
            return _bin
        if not shutil.which("go"):
            raise unittest.SkipTest("set MLOPS_BIN, or put go on PATH to build cmd/mlops")
        out = os.path.join(_tmp, "mlops")
        env = dict(os.environ, GOFLAGS=(os.environ.get("GOFLAGS", "") + " -buildvcs=false").strip())
        subprocess.run(["go", "build", "-o", out, "./cmd/mlops"], cwd=REPO, check=True, env=env)
        _bin = out
        return _bin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(base_url: str, sql: str) -> None:
    if not shutil.which("psql"):
        raise RuntimeError("psql is needed to make a schema for the PostgreSQL tests (apt-get install postgresql-client)")
    subprocess.run(
        ["psql", base_url, "-v", "ON_ERROR_STOP=1", "-qc", "SET client_min_messages = warning; " + sql],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=60,
    )


def _libpq_url(url: str) -> str:
    # psql takes postgresql:// and postgres://; SQLAlchemy's +driver suffix not.
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


class Database:
    """A fresh, empty database; drop() removes it."""

    def __init__(self) -> None:
        base = os.environ.get("MLOPS_TEST_DATABASE_URL", "")
        self.schema: Optional[str] = None
        if not base:
            d = tempfile.mkdtemp(prefix="db-", dir=_tmp)
            self.url = "sqlite:///" + os.path.join(d, "mlops.db")
            return
        self._base = _libpq_url(base)
        self.schema = "py_" + secrets.token_hex(6)
        _psql(self._base, f"CREATE SCHEMA {self.schema}")
        u = urllib.parse.urlsplit(self._base)
        q = urllib.parse.parse_qsl(u.query)
        q = [(k, v) for k, v in q if k != "search_path"] + [("search_path", self.schema)]
        self.url = urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q)))

    def drop(self) -> None:
        if self.schema:
            try:
                _psql(self._base, f"DROP SCHEMA {self.schema} CASCADE")
            except Exception as e:  # noqa: BLE001 - leave a note, not a failure
                print(f"drop schema {self.schema}: {e}", file=sys.stderr)
            self.schema = None


class Server:
    """`mlops serve` on a fixed free port (so that a restart keeps the
    address) and a fresh database; env adds variables (MLOPS_AUTH=…)."""

    def __init__(self, db: Optional[Database] = None, env: Optional[Dict[str, str]] = None) -> None:
        self.db = db or Database()
        self._own_db = db is None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(_tmp, f"serve-{self.port}-{secrets.token_hex(3)}.log")
        _servers.append(self)

    def env(self) -> Dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
        e["DATABASE_URL"] = self.db.url
        e.update(self.extra_env)
        return e

    def start(self, timeout: float = 60.0) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary(), "serve", "--addr", f"127.0.0.1:{self.port}", "--rules-every", "0"],
            env=self.env(),
            stdout=log,
            stderr=log,
            cwd=_tmp,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlops serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlops serve was not ready in {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait: the server drains and exits 0."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def close(self) -> None:
        self.stop()
        if self._own_db:
            self.db.drop()

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """Runs `mlops ARGS` against this server's database; its stdout."""
        r = subprocess.run(
            [binary(), *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=_tmp,
        )
        if r.returncode != 0:
            raise RuntimeError(f"mlops {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r.stdout

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-20000:]
        except OSError:
            return ""


class ServerTestCase(unittest.TestCase):
    """A server for the whole class: self.server, self.client."""

    server: Server
    client: "Client"
    server_env: Dict[str, str] = {}

    @classmethod
    def setUpClass(cls) -> None:
        from mlops_client import Client

        cls.server = Server(env=cls.server_env).start()
        cls.client = Client(cls.server.url, timeout=30)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        cls.server.close()


def python_with(module: str) -> Optional[str]:
    """An interpreter that can import module: this one, or Debian's."""
    for exe in [sys.executable, "/usr/bin/python3", shutil.which("python3") or ""]:
        if not exe or not os.path.exists(exe):
            continue
        r = subprocess.run([exe, "-c", f"import {module}"], capture_output=True)
        if r.returncode == 0:
            return exe
    return None


__all__: List[str] = [
    "Database",
    "Server",
    "ServerTestCase",
    "binary",
    "engine",
    "free_port",
    "in_ci",
    "python_with",
    "EXAMPLES",
    "REPO",
    "PY_ROOT",
]
