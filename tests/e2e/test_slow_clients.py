"""Slow clients (slowloris, slow read, non-reading WebSocket and TCP clients) leave other users' latency within
2x of the idle figure and the server's memory bounded: tests/slow/slow_clients.py, short here (14 s, 100
sockets per slowhttptest run). `scripts/test --long` sets PARLEY_SLOW_SECONDS=60 for the full size."""
import os
import shutil
import subprocess
import sys

import pytest

# Latency and memory of one process under attack, measured through its /proc entry.
pytestmark = pytest.mark.single_node

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "slow", "slow_clients.py")


@pytest.mark.skipif(shutil.which("slowhttptest") is None, reason="slowhttptest is installed by scripts/bootstrap")
def test_slow_clients_leave_other_users_latency_and_memory_alone():
    seconds = os.environ.get("PARLEY_SLOW_SECONDS")
    args = ["--seconds", seconds, "--sockets", "200"] if seconds else ["--short"]
    result = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                            timeout=120 + 3 * int(seconds or 14))
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "slow clients: ok" in result.stdout
