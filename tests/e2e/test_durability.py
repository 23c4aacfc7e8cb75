"""Every `ok` to a message follows an fsync of the SQLite WAL, checked with strace
(docs/ARCHITECTURE.md §5, docs/SECURITY.md "Crash safety")."""
import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "crash", "fsync_before_ack.py")


@pytest.mark.single_node  # traces one SQLite server process of its own
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/bootstrap")
def test_every_ack_follows_a_wal_sync():
    result = subprocess.run([sys.executable, SCRIPT, "--messages", "100"], capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100 acknowledgements checked, 0 without a WAL sync" in result.stdout
