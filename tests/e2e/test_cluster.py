"""Three nodes on one PostgreSQL database and one Redis act as one server, and keep doing so when a part fails
(docs/SCALING.md): a telnet user, a WebSocket user and curl on different nodes; the lockout spread over the
nodes; a node killed with SIGKILL; Redis restarted; PostgreSQL restarted; /healthz naming what is down.

These tests pin each client to a node. They need PARLEY_TEST_POSTGRES and PARLEY_TEST_REDIS (scripts/test starts
throwaway servers); the Redis and PostgreSQL failure tests start servers of their own so the rest of the suite is
not disturbed.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from websockets.sync.client import connect as ws_connect

from parley_harness import POSTGRES_URL, REDIS_URL, ParleyCluster, ParleyNode, JsonClient, eventually
from rest_client import curl

pytestmark = pytest.mark.skipif(not (POSTGRES_URL and REDIS_URL),
                                reason="needs PARLEY_TEST_POSTGRES and PARLEY_TEST_REDIS (scripts/test)")

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\n"
SCRIPTS = os.path.join(os.path.dirname(__file__), "../../scripts")


def client(node, user=None, password=None, **extra):
    c = JsonClient(node.tcp_port)
    c.events = []
    if user:
        reply = c.login(user, password, **extra)
        assert reply["type"] == "welcome", reply
    return c


def api(node, path):
    return f"http://127.0.0.1:{node.http_port}/api{path}"


@pytest.fixture
def cluster():
    # Bursts of messages here are the point, not abuse: the per-user message limit is off.
    c = ParleyCluster(block=60, timeout=600, credentials=CREDENTIALS, nodes=3, extra=["--limit", "messages=off"]).start()
    yield c
    c.stop()


def test_a_telnet_user_a_browser_and_curl_on_three_nodes_see_one_server(cluster):
    a, b, c = cluster.nodes
    telnet = socket.create_connection(("127.0.0.1", a.tcp_port), timeout=10)
    telnet.sendall(b"hans\r\nsolo\r\n")
    seen = b""
    while b"Welcome" not in seen:
        seen += telnet.recv(4096)
    with ws_connect(f"ws://127.0.0.1:{b.http_port}/ws") as ws:
        ws.send(json.dumps({"type": "login", "user": "luke", "password": "sky", "id": 1}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        seen = b""
        while b"luke logged in" not in seen:
            seen += telnet.recv(4096)
        response = curl(api(c, "/messages"), "-u", "leia:alder", "--json", json.dumps({"to": "luke", "text": "from curl"}))
        assert response.status == 201, response
        event = json.loads(ws.recv(timeout=10))
        assert (event["type"], event["from"], event["text"]) == ("message", "leia", "from curl")
        telnet.sendall(b"whoelse\r\n")
        seen = b""
        while b"luke" not in seen:
            seen += telnet.recv(4096)
        telnet.sendall(b"message luke hello from telnet\r\n")
        event = json.loads(ws.recv(timeout=10))
        assert (event["from"], event["text"]) == ("hans", "hello from telnet")
    telnet.close()


def test_three_wrong_passwords_on_three_nodes_lock_the_account_rest_included(cluster):
    a, b, c = cluster.nodes
    for node in (a, b):
        with client(node) as x:
            assert x.login("leia", "nope")["code"] == "bad_password"
    assert curl(api(c, "/whoelse"), "-u", "leia:nope").status == 401
    for node in (a, b, c):
        with client(node) as x:
            assert x.login("leia", "alder")["code"] == "locked"


def test_already_online_and_whoelsesince_hold_across_nodes(cluster):
    a, b, c = cluster.nodes
    with client(a, "hans", "solo"):
        with client(b) as second:
            assert second.login("hans", "solo")["code"] == "already_online"
        with client(c, "luke", "sky") as luke:
            luke.request({"type": "logout"})
    with client(b, "leia", "alder") as leia:
        reply = leia.request({"type": "whoelsesince", "seconds": 60})
        assert reply["users"] == ["hans", "luke"]


def test_a_killed_nodes_users_go_out_within_15_s_and_acknowledged_messages_survive(cluster):
    a, b, c = cluster.nodes
    hans = client(a, "hans", "solo")
    luke = client(b, "luke", "sky", acks=True)
    hans.wait_for(lambda e: e.get("type") == "presence" and e["user"] == "luke")
    sent = [hans.request({"type": "message", "to": "luke", "text": f"m{i}"}) for i in range(50)]
    assert all(r["type"] == "ok" for r in sent)
    b.stop(signal.SIGKILL)
    killed = time.monotonic()
    hans.wait_for(lambda e: e.get("type") == "presence" and e["user"] == "luke" and e["state"] == "out", timeout=15)
    detection = time.monotonic() - killed
    assert detection <= 15, detection
    # Luke, who acked nothing, logs in on another node: every acknowledged message is there.
    again = eventually(lambda: _login_or_none(c, "luke", "sky"), 15, "luke's claim is taken over")
    texts = [again.wait_for(lambda e: e.get("type") == "message")["text"] for _ in range(50)]
    assert texts == [f"m{i}" for i in range(50)]
    hans.close()
    again.close()
    luke.close()


def _login_or_none(node, user, password):
    x = client(node)
    reply = x.login(user, password, acks=True)
    if reply["type"] == "welcome":
        return x
    x.close()
    return None


@pytest.fixture
def own_redis():
    folder = tempfile.mkdtemp(prefix="parley-redis-")
    url = subprocess.run([f"{SCRIPTS}/throwaway-redis", "start", folder], check=True, capture_output=True,
                         text=True).stdout.strip()
    yield url, folder
    subprocess.run([f"{SCRIPTS}/throwaway-redis", "stop", folder], check=False)


def test_redis_restarted_loses_nothing_acknowledged_and_delivery_resumes_by_itself(own_redis):
    url, folder = own_redis
    cluster = ParleyCluster(block=60, timeout=600, credentials=CREDENTIALS, nodes=2, redis_url=url,
                            extra=["--limit", "messages=off"]).start()
    try:
        a, b = cluster.nodes
        hans = client(a, "hans", "solo")
        luke = client(b, "luke", "sky", acks=True)
        hans.wait_for(lambda e: e.get("type") == "presence" and e["user"] == "luke")
        subprocess.run([f"{SCRIPTS}/throwaway-redis", "stop", folder], check=True)
        health = eventually(lambda: _health(b) if _health(b)[0] == 503 else None, 10, "healthz sees redis down")
        assert "redis" in health[1], health
        # While Redis is down the store still takes messages; they are acknowledged and must not be lost.
        acked = []
        for i in range(10):
            reply = hans.request({"type": "message", "to": "luke", "text": f"during {i}"})
            if reply["type"] == "ok":
                acked.append(f"during {i}")
        subprocess.run([f"{SCRIPTS}/throwaway-redis", "start", folder], check=True, capture_output=True)
        restarted = time.monotonic()
        got = set()
        while not set(acked) <= got:
            event = luke.wait_for(lambda e: e.get("type") == "message", timeout=max(0.1, 5 - (time.monotonic() - restarted)))
            got.add(event["text"])
        assert time.monotonic() - restarted <= 5
        eventually(lambda: _health(b)[0] == 200, 10, "healthz sees redis back")
        assert hans.request({"type": "message", "to": "luke", "text": "after"})["type"] == "ok"
        assert luke.wait_for(lambda e: e.get("text") == "after", timeout=5)
        hans.close()
        luke.close()
    finally:
        cluster.stop()


def _health(node):
    r = curl(f"http://127.0.0.1:{node.http_port}/healthz")
    return r.status, r.body


def test_a_redis_with_a_password_is_reached_with_it_from_the_url_or_the_environment():
    folder = tempfile.mkdtemp(prefix="parley-redis-")
    secret = "s3cr@t pass"
    url = subprocess.run([f"{SCRIPTS}/throwaway-redis", "start", folder], check=True, capture_output=True, text=True,
                         env=dict(os.environ, PARLEY_REDIS_PASSWORD=secret)).stdout.strip()
    servers = []  # what to stop: one-node clusters and a bare node
    try:
        # Without the password the node runs but says Redis is down, with Redis's reason.
        refused = ParleyCluster(credentials=CREDENTIALS, nodes=1, redis_url=url).start()
        servers.append(refused)
        status, body = eventually(lambda: _health(refused.nodes[0]) if "NOAUTH" in _health(refused.nodes[0])[1] else None,
                                  10, "healthz names the refusal")
        assert status == 503 and "redis" in body, body
        # One node with the password in the URL (percent-encoded), one with it in REDISCLI_AUTH: one server.
        in_url = url.replace("redis://", "redis://:" + secret.replace("@", "%40").replace(" ", "%20") + "@")
        a = ParleyCluster(credentials=CREDENTIALS, nodes=1, redis_url=in_url).start()
        servers.append(a)
        # A second node of a's cluster (its PostgreSQL database, its Redis database number), the password in its
        # environment only.
        database = a.redis_url.rsplit("/", 1)[1]
        b = ParleyNode(credentials=CREDENTIALS, extra=["--postgres", a.postgres_url, "--redis", f"{url}/{database}", "--node", "n1"],
                       env=dict(os.environ, REDISCLI_AUTH=secret))
        servers.append(b.start())
        for node in (a.nodes[0], b):
            eventually(lambda: _health(node)[0] == 200, 10, "healthz sees redis up")
        hans = client(a.nodes[0], "hans", "solo")
        luke = client(b, "luke", "sky")
        assert hans.request({"type": "message", "to": "luke", "text": "through an authenticated redis"})["type"] == "ok"
        assert luke.wait_for(lambda e: e.get("type") == "message")["text"] == "through an authenticated redis"
        hans.close()
        luke.close()
        for node in (refused.nodes[0], a.nodes[0], b):
            assert secret not in node.log() and "s3cr" not in _health(node)[1], "the password is never shown"
    finally:
        for server in servers:
            server.stop()
        subprocess.run([f"{SCRIPTS}/throwaway-redis", "stop", folder], check=False)


@pytest.mark.skipif(not os.environ.get("PARLEY_TEST_POSTGRES_DIR"), reason="needs the throwaway PostgreSQL's folder")
def test_postgres_restarted_gives_clear_errors_meanwhile_and_recovers_by_itself(cluster):
    a, b, _ = cluster.nodes
    hans = client(a, "hans", "solo")
    luke = client(b, "luke", "sky", acks=True)
    folder = os.environ["PARLEY_TEST_POSTGRES_DIR"]
    subprocess.run([f"{SCRIPTS}/throwaway-postgres", "stop", folder], check=True, capture_output=True)
    try:
        reply = hans.request({"type": "message", "to": "luke", "text": "while down"})
        assert (reply["type"], reply.get("code")) == ("error", "internal"), reply
        response = curl(api(a, "/messages"), "-u", "leia:alder", "--json", json.dumps({"to": "luke", "text": "x"}))
        assert response.status == 503, response
        health = eventually(lambda: _health(a) if _health(a)[0] == 503 else None, 10, "healthz sees postgres down")
        assert "postgres" in health[1], health
    finally:
        subprocess.run([f"{SCRIPTS}/throwaway-postgres", "start", folder], check=True, capture_output=True)
    reply = eventually(lambda: _sent(hans, "after"), 15, "messages are taken again")
    assert reply["type"] == "ok"
    assert luke.wait_for(lambda e: e.get("text") == "after", timeout=5)
    eventually(lambda: _health(a)[0] == 200, 10, "healthz sees postgres back")
    hans.close()
    luke.close()


def _sent(sender, text):
    reply = sender.request({"type": "message", "to": "luke", "text": text})
    return reply if reply["type"] == "ok" else None
