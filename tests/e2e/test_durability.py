"""Every `ok` to a message follows an fsync of the SQLite WAL, checked with strace
(docs/ARCHITECTURE.md §5, docs/SECURITY.md "Crash safety")."""
import os
import shutil
import subprocess
import sys

import pytest

from parley_harness import PARLEY_BIN

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "crash", "fsync_before_ack.py")


@pytest.mark.single_node  # traces one SQLite server process of its own
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/bootstrap")
def test_every_ack_follows_a_wal_sync():
    result = subprocess.run([sys.executable, SCRIPT, "--messages", "100"], capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "100 acknowledgements checked, 0 without a WAL sync" in result.stdout


@pytest.mark.single_node
def test_commit_spacing_is_checked_at_start(tmp_path):
    """`--commit-spacing` takes 0–1000 ms; anything else stops the server with a clear error before it opens the
    store (the default, 2 ms, is what the test above runs with)."""
    for value, error in [("-1", "--commit-spacing must be 0–1000 ms"), ("1000.5", "--commit-spacing must be 0–1000 ms"),
                         ("soon", "'soon' is invalid for '--commit-spacing")]:
        out = subprocess.run([PARLEY_BIN, "serve", "0", "1", "1", "--no-http", "--data-dir", str(tmp_path / "data"),
                              f"--commit-spacing={value}"], capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and error in out.stderr, (value, out.stderr)
    assert not (tmp_path / "data").exists(), "refused before the data folder was touched"
