"""The e2e suite runs once against one node and, with PARLEY_CLUSTER_NODES=3, once more against a cluster.

A test that only makes sense on one node (it reads the SQLite data folder, or kills "the" server process to test
crash safety of that folder) is marked `single_node` and skipped in cluster mode; the cluster's own failure
tests live in test_cluster.py.
"""
import pytest

from parley_harness import cluster_mode


def pytest_configure(config):
    config.addinivalue_line("markers", "single_node: the test needs the single-node SQLite server")


def pytest_collection_modifyitems(config, items):
    if not cluster_mode():
        return
    skip = pytest.mark.skip(reason="single-node test (SQLite data folder); the cluster has its own")
    for item in items:
        if "single_node" in item.keywords:
            item.add_marker(skip)
