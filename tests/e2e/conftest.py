"""The e2e suite runs once against one node and, with PARLEY_CLUSTER_NODES=3, once more against a cluster.

A test that only makes sense on one node (it reads the SQLite data folder, or kills "the" server process to test
crash safety of that folder) is marked `single_node` and skipped in cluster mode; a test of something counted per
node (per-address limits, which stay per node by design) is marked `per_node` and talks to one node of the
cluster. The cluster's own failure tests live in test_cluster.py.
"""
import pytest

from parley_harness import PIN, cluster_mode


def pytest_configure(config):
    config.addinivalue_line("markers", "single_node: the test needs the single-node SQLite server")
    config.addinivalue_line("markers", "per_node: what the test counts is per node (per-address limits); in "
                                       "cluster mode all its clients connect to the first node")


@pytest.fixture(autouse=True)
def _pin_per_node_tests(request):
    PIN["first_node"] = request.node.get_closest_marker("per_node") is not None
    yield
    PIN["first_node"] = False


def pytest_collection_modifyitems(config, items):
    if not cluster_mode():
        return
    skip = pytest.mark.skip(reason="single-node test (SQLite data folder); the cluster has its own")
    for item in items:
        if "single_node" in item.keywords:
            item.add_marker(skip)
