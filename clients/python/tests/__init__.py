"""Tests of the Python client against a real `mlops serve` (see server.py).

With MLOPS_PY_WATCHDOG=N, every thread's traceback is printed every N
seconds while the run lasts, to show where a run that hangs is waiting."""

import faulthandler
import os
import sys

_watchdog = os.environ.get("MLOPS_PY_WATCHDOG")
if _watchdog:
    faulthandler.dump_traceback_later(int(_watchdog), repeat=True, file=sys.stderr)
