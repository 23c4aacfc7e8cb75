"""A few SIGKILL rounds of the crash-safety harness (the full 100 rounds: tests/crash/crash_harness.py)."""
import os
import subprocess
import sys

HARNESS = os.path.join(os.path.dirname(__file__), "..", "crash", "crash_harness.py")


def test_acknowledged_messages_survive_kill_minus_nine():
    rounds = os.environ.get("PARLEY_CRASH_ROUNDS", "3")
    result = subprocess.run([sys.executable, HARNESS, "--rounds", rounds, "--seed", "7"],
                            capture_output=True, text=True, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 lost, 0 duplicated" in result.stdout
