"""Abuse limits of the real server (docs/SECURITY.md), from outside: per-address connection caps and rates at
accept, failed logins per address and per account, registrations per address (each refused before any
hashing), the per-user message bucket shared by every door (`rate_limited` / HTTP 429 + Retry-After), the 4 KiB
pre-login size limit, the loopback exemption, and the `/metrics` counters of each.

Per-address limits exempt loopback by default (docs/PROTOCOL.md §2), so most servers here run with `--limit-loopback`.
"""
import json
import socket
import time

import pytest
import requests

from parley_harness import JsonClient, ParleyServer, json_client
from test_websocket import masked_frame, raw_handshake, read_close_code

# Per-address limits and the message bucket are counted per node (docs/SCALING.md); cluster-wide
# lockout is tested in test_cluster.py.
pytestmark = pytest.mark.per_node

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\nrey jakku\nfinn fn2187\n"


def start(*extra, block=60):
    return ParleyServer(block=block, timeout=120, credentials=CREDENTIALS, extra=list(extra)).start()


def refusals(server):
    """`parley_limit_refusals_total` by limit, from /metrics."""
    text = requests.get(f"http://127.0.0.1:{server.http_port}/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if line.startswith("parley_limit_refusals_total{"):
            name = line.split('limit="', 1)[1].split('"', 1)[0]
            out[name] = int(float(line.rsplit(" ", 1)[1]))
    return out


def closed_at_once(port):
    """True if the server accepts a TCP connection and closes it before any byte is exchanged."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    finally:
        s.close()


def login_reply(port, user, password):
    with JsonClient(port) as c:
        c.events = []
        return c.request({"type": "login", "user": user, "password": password})


def test_connections_per_address_are_capped_and_counted():
    s = start("--limit-loopback", "--max-connections-per-ip", "3", "--limit", "connect-ip=off")
    try:
        held = [socket.create_connection(("127.0.0.1", s.tcp_port)) for _ in range(3)]
        assert closed_at_once(s.tcp_port)
        assert closed_at_once(s.http_port), "both ports count together"
        for c in held:
            c.close()
        time.sleep(0.3)
        with json_client(s, "hans", "solo"):
            pass  # a slot came back
        assert refusals(s)["connections_ip"] == 2
    finally:
        s.stop()


def test_new_connections_per_address_are_rate_limited():
    s = start("--limit-loopback", "--limit", "connect-ip=4/1m")
    try:
        for _ in range(4):
            socket.create_connection(("127.0.0.1", s.tcp_port)).close()
        assert closed_at_once(s.tcp_port)
    finally:
        s.stop()


def test_loopback_is_exempt_by_default():
    s = start("--max-connections-per-ip", "2", "--limit", "connect-ip=2/1m", "--limit", "login-ip=1/10m")
    try:
        clients = [json_client(s) for _ in range(6)]
        for c in clients:
            c.request({"type": "lookup", "user": "hans"})
        for _ in range(3):
            assert login_reply(s.tcp_port, "hans", "wrong")["code"] == "bad_password"
        assert refusals(s) == {k: 0 for k in refusals(s)}
    finally:
        s.stop()


def test_failed_logins_per_address_are_refused_before_hashing_on_every_door():
    s = start("--limit-loopback", "--limit", "login-ip=3/10m", "--limit", "connect-ip=off")
    try:
        for user in ("hans", "luke", "leia"):
            assert login_reply(s.tcp_port, user, "guess")["code"] == "bad_password"
        reply = login_reply(s.tcp_port, "yoda", "wise")
        assert reply["code"] == "rate_limited" and reply["retryAfter"] == 200, reply
        r = requests.post(f"http://127.0.0.1:{s.http_port}/api/login", json={"user": "rey", "password": "jakku"})
        assert r.status_code == 429 and 199 <= int(r.headers["Retry-After"]) <= 200
        r = requests.get(f"http://127.0.0.1:{s.http_port}/api/whoelse", auth=("rey", "jakku"))
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert refusals(s)["login_ip"] == 3
    finally:
        s.stop()


def test_failed_logins_per_account_are_refused_even_with_the_right_password():
    # block_duration 0: the lockout never engages, so this limit is what stops the guessing.
    s = start("--limit", "login-account=3/1m", block=0)
    try:
        for _ in range(3):
            assert login_reply(s.tcp_port, "hans", "guess")["code"] == "bad_password"
        reply = login_reply(s.tcp_port, "hans", "solo")
        assert reply["code"] == "rate_limited" and 1 <= reply["retryAfter"] <= 20, reply
        assert login_reply(s.tcp_port, "luke", "sky")["type"] == "welcome", "other accounts are not affected"
        assert refusals(s)["login_account"] == 1
    finally:
        s.stop()


def test_registrations_per_address_on_every_door():
    s = start("--limit-loopback", "--limit", "register-ip=2/10m", "--limit", "connect-ip=off")
    try:
        for name in ("new1", "new2"):
            with JsonClient(s.tcp_port) as c:
                assert c.register(name, "pw")["type"] == "welcome"
        with JsonClient(s.tcp_port) as c:
            reply = c.register("new3", "pw")
            assert reply["code"] == "rate_limited" and reply["retryAfter"] == 300, reply
        r = requests.post(f"http://127.0.0.1:{s.http_port}/api/register", json={"user": "new4", "password": "pw"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 299
        ws, head = raw_handshake(s)
        assert "101" in head
        ws.sendall(masked_frame(1, json.dumps({"type": "register", "user": "new5", "password": "pw"}).encode()))
        ws.settimeout(5)
        assert b"rate_limited" in ws.recv(4096)
        assert refusals(s)["register_ip"] == 3
    finally:
        s.stop()


def test_message_bucket_is_per_user_and_shared_by_tcp_websocket_and_rest():
    s = start()  # the defaults: a burst of 10, then 2 a second
    try:
        with json_client(s, "hans", "solo") as hans, json_client(s, "luke", "sky") as luke:
            for i in range(6):
                assert hans.request({"type": "message", "to": "luke", "text": f"t{i}"})["type"] == "ok"
            api = f"http://127.0.0.1:{s.http_port}/api"
            for i in range(3):
                r = requests.post(f"{api}/messages", json={"to": "luke", "text": f"r{i}"}, auth=("hans", "solo"))
                assert r.status_code == 201
            assert hans.request({"type": "broadcast", "text": "tenth"})["type"] == "ok"
            refused = hans.request({"type": "message", "to": "luke", "text": "eleventh"})
            assert refused["code"] == "rate_limited" and refused["retryAfter"] == 1
            r = requests.post(f"{api}/broadcasts", json={"text": "too many"}, auth=("hans", "solo"))
            assert r.status_code == 429 and r.headers["Retry-After"] == "1"
            assert r.json()["error"]["code"] == "rate_limited"
            # luke's own bucket is full, and hans gets one more every half second.
            assert luke.request({"type": "message", "to": "hans", "text": "mine"})["type"] == "ok"
            time.sleep(0.6)
            assert hans.request({"type": "message", "to": "luke", "text": "later"})["type"] == "ok"
        assert refusals(s)["messages"] == 2
    finally:
        s.stop()


def test_smaller_size_limit_before_login():
    s = start()
    try:
        with JsonClient(s.tcp_port) as c:
            c.events = []
            body = json.dumps({"type": "lookup", "id": "pad", "user": ""})
            at_limit = body[:-2] + "x" * (4096 - len(body)) + '"}'
            assert len(at_limit) == 4096
            c.send_raw(at_limit.encode() + b"\n")
            assert c.recv()["re"] == "pad"  # accepted: the limit is inclusive
            c.send_raw(b'{"type":"lookup","user":"' + b"x" * 4100 + b'"}\n')
            assert c.recv()["code"] == "too_large"
            assert c.closed()
        with json_client(s, "hans", "solo") as c:  # after login: 64 KiB
            text = "y" * 60000
            assert c.request({"type": "message", "to": "luke", "text": text})["type"] == "ok"
        ws, head = raw_handshake(s)
        assert "101" in head
        ws.sendall(masked_frame(1, b"z" * 4097))
        assert read_close_code(ws) == 1009
        assert refusals(s)["prelogin_size"] == 2
    finally:
        s.stop()


def test_every_limit_is_listed_in_metrics():
    s = start()
    try:
        assert set(refusals(s)) == {"messages", "login_ip", "login_account", "register_ip", "connections_ip",
                                    "connect_rate_ip", "connections_server", "prelogin_size"}
    finally:
        s.stop()


@pytest.mark.parametrize("bad", ["messages=10", "messages=0/5s", "nonsense=1/s", "messages"])
def test_bad_limit_options_are_refused_at_start(bad):
    with pytest.raises(RuntimeError):
        start("--limit", bad)
