"""Settings shared by every end-to-end test file.

`needs_inbox` marks tests of the inbox with seq and acks (docs/PROTOCOL.md §11.2) that need a server which
serves it. They are skipped unless PARLEY_INBOX=1 is set in the environment.
"""
import os

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "needs_inbox: needs a server that serves inbox seq and acks; skipped unless PARLEY_INBOX=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PARLEY_INBOX") == "1":
        return
    skip = pytest.mark.skip(reason="needs a server with inbox seq and acks (set PARLEY_INBOX=1 to run)")
    for item in items:
        if "needs_inbox" in item.keywords:
            item.add_marker(skip)
