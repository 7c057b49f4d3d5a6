"""An agent: runs a drift check on the active version of a model; when it finds
drift, proposes a retrain, waits for a reviewer's decision, retrains if approved
and reports the outcome (executed or failed).

    pip install ./clients/python
    MLOPS_URL=http://127.0.0.1:8080 MLOPS_TOKEN=mlops_... python3 examples/agent/agent.py --model-name churn

MLOPS_TOKEN: a token with the agent role (`mlops token create --name agent --role agent`).
Exit status: 0 no drift or executed, 1 failed, 2 rejected, expired or not decided in time.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

from mlops_client import Client, Conflict, ValidationError

TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training", "train.py")


def wait_for_decision(client, action_id, timeout, delay):
    """Polls the action with exponential backoff until it is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        action = client.get_action(action_id)
        if action["status"] != "pending" or time.monotonic() + delay > deadline:
            return action
        time.sleep(delay)
        delay = min(delay * 2, 30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-name", default="churn")
    ap.add_argument("--retrain-cmd", help="command that retrains (default: examples/training/train.py)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds to wait for a decision")
    ap.add_argument("--poll", type=float, default=2, help="first delay between polls, in seconds")
    args = ap.parse_args()
    client = Client(os.environ.get("MLOPS_URL", "http://127.0.0.1:8080"), token=os.environ.get("MLOPS_TOKEN"))

    model = client.get_active_model(args.model_name)
    try:
        report = client.drift_check(model["id"])  # the last 24 h against the 7 days before
    except ValidationError as e:
        print(f"no drift check: {e.detail}")
        return 0
    if not report["drift_detected"]:
        print(f"no drift on {args.model_name} {model['version']} (largest PSI {report['drift_score']})")
        return 0

    action_id = f"retrain-{args.model_name}-drift-{report['id']}"
    try:
        client.propose_action(
            action_id=action_id,
            action_type="retrain_model",
            risk_level="medium",
            description=f"Retrain {args.model_name}: drift in {', '.join(report['drifted_features'] or [])}",
            issue_type="drift",
            issue_id=str(report["id"]),
            parameters={"model_name": args.model_name, "model_id": model["id"], "drift_report_id": report["id"]},
        )
    except Conflict:
        pass  # proposed by an earlier run for this report: wait for it all the same
    print(f"proposed {action_id}; waiting for a reviewer")
    action = wait_for_decision(client, action_id, args.timeout, args.poll)
    if action["status"] != "approved":
        print(f"{action['action_id']} is {action['status']}: nothing done")
        return 2

    cmd = shlex.split(args.retrain_cmd) if args.retrain_cmd else [
        sys.executable, TRAIN, "--model-name", args.model_name, "--version", action["action_id"]]
    run = subprocess.run(cmd, capture_output=True, text=True)
    result = {"command": cmd, "exit_code": run.returncode, "output": (run.stdout + run.stderr)[-2000:]}
    if run.returncode == 0:
        client.mark_action_executed(action["action_id"], result)
        print(f"{action['action_id']} executed")
        return 0
    client.mark_action_failed(action["action_id"], result)
    print(f"{action['action_id']} failed (exit {run.returncode}): {result['output'][-500:]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
