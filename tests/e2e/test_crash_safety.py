"""A few SIGKILL rounds of the crash-safety harness, with its acking recipients (the full 100 rounds:
tests/crash/crash_harness.py, `scripts/test --long`)."""
import pytest
import os
import subprocess
import sys

# kill -9 of the one process and a look at its SQLite folder; the cluster's own failures are in test_cluster.py.
pytestmark = pytest.mark.single_node

HARNESS = os.path.join(os.path.dirname(__file__), "..", "crash", "crash_harness.py")


def test_acknowledged_messages_survive_kill_minus_nine():
    rounds = os.environ.get("PARLEY_CRASH_ROUNDS", "3")
    result = subprocess.run([sys.executable, HARNESS, "--rounds", rounds, "--seed", "7"],
                            capture_output=True, text=True, timeout=600 + 30 * int(rounds))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 lost, 0 duplicated" in result.stdout
    # The recipients that ack showed every acknowledged message to them once, in seq order, without a gap.
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith(f"acking recipients over {rounds} rounds"), result.stdout
    assert " 0 lost, 0 shown twice, 0 out of order," in summary and " 0 ack errors (" in summary, summary
    assert "did not catch up" not in summary, summary
    assert " 0 acknowledged to them" not in summary, summary
