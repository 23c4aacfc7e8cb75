"""The REST API against the real server (issue 5): curl alone can log in, see who is online, page through history,
send a message a terminal user sees at once, and manage blocks; and every status code of docs/PROTOCOL.md §10
is produced here: 200 201 204 400 401 403 404 405 409 413 415 423 429."""
import concurrent.futures
import os
import socket
import time

import pytest
import requests

from parley_harness import ParleyServer, json_client
from rest_client import curl
from terminal_client import TerminalClient

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\nobiwan kenobi\nanakin skywalker\n"
CHALLENGE = 'Bearer realm="parley", Basic realm="parley"'


@pytest.fixture(scope="module")
def server():
    # These tests share one server and send more than a burst of messages as hans over the module: the per-user
    # message limit is off here and proven on its own in test_abuse_limits.py.
    s = ParleyServer(block=2, timeout=60, credentials=CREDENTIALS, extra=["--limit", "messages=off"]).start()
    assert s.http_port, "the server must open its HTTP port"
    yield s
    s.stop()


def base(server):
    return f"http://127.0.0.1:{server.http_port}"


def login_token(server, user, password):
    r = curl(f"{base(server)}/api/login", "--json", f'{{"user":"{user}","password":"{password}"}}')
    assert r.status == 200, r
    return r.json()["token"]


def test_curl_alone_drives_the_chat_and_a_tcp_user_sees_the_message_at_once(server):
    api = f"{base(server)}/api"
    luke = json_client(server, "luke", "sky")
    try:
        token = login_token(server, "hans", "solo")
        auth = ("-H", f"Authorization: Bearer {token}")

        who = curl(f"{api}/whoelse", *auth)
        assert who.status == 200 and who.headers["content-type"] == "application/json"
        assert "luke" in who.json()["users"] and "hans" not in who.json()["users"]
        assert set(who.json()["users"]) <= set(curl(f"{api}/whoelsesince?seconds=60", *auth).json()["users"])

        started = time.monotonic()
        sent = curl(f"{api}/messages", *auth, "--json", '{"to":"luke","text":"hello from curl"}')
        assert sent.status == 201 and sent.json()["stored"] is False
        event = luke.wait_for(lambda e: e.get("type") == "message", timeout=2)
        assert time.monotonic() - started < 1.0
        assert (event["from"], event["text"], event["id"]) == ("hans", "hello from curl", sent.json()["id"])
        # A REST caller is not online: luke got no presence line about hans.
        assert not any(e.get("type") == "presence" and e.get("user") == "hans" for e in luke.events)

        b = curl(f"{api}/broadcasts", *auth, "--json", '{"text":"hello everyone"}')
        assert b.status == 201 and b.json()["partial"] is False
        assert luke.wait_for(lambda e: e.get("type") == "broadcast", timeout=2)["text"] == "hello everyone"

        assert curl(f"{api}/blocks/yoda", *auth, "-X", "PUT").status == 204
        assert curl(f"{api}/blocks", *auth).json() == {"users": ["yoda"]}
        assert curl(f"{api}/blocks/yoda", *auth, "-X", "DELETE").status == 204
        assert curl(f"{api}/blocks", *auth).json() == {"users": []}

        assert curl(f"{api}/logout", *auth, "-X", "POST").status == 204
        assert curl(f"{api}/whoelse", *auth).status == 401
    finally:
        luke.close()


def test_a_message_to_an_offline_user_is_stored_and_arrives_at_tcp_login(server):
    token = login_token(server, "hans", "solo")
    r = requests.post(f"{base(server)}/api/messages", json={"to": "leia", "text": "while you were out"},
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201 and r.json()["stored"] is True
    with json_client(server) as leia:
        assert leia.login("leia", "alder")["type"] == "welcome"
        offline = leia.wait_for(lambda e: e.get("type") == "message", timeout=2)
        assert offline["text"] == "while you were out" and offline["offline"] is True


def test_a_curl_message_shows_in_the_terminal_client_at_once(server):
    term = TerminalClient(server.tcp_port).login("anakin", "skywalker")
    try:
        started = time.monotonic()
        r = curl(f"{base(server)}/api/messages", "-u", "hans:solo", "--json", '{"to":"anakin","text":"from curl"}')
        assert r.status == 201
        term.expect("hans: from curl", timeout=2)
        assert time.monotonic() - started < 1.0
    finally:
        term.close()


def test_a_message_reaches_a_text_mode_user(server):
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as s:
        s.sendall(b"obiwan\n")
        buf = b""
        while b"Password: " not in buf:
            buf += s.recv(4096)
        s.sendall(b"kenobi\n")
        while b"Welcome" not in buf:
            buf += s.recv(4096)
        r = requests.post(f"{base(server)}/api/messages", json={"to": "obiwan", "text": "use the REST"},
                          auth=("hans", "solo"))
        assert r.status_code == 201
        while b"hans: use the REST" not in buf:
            buf += s.recv(4096)


def test_history_pages_newest_first_and_only_the_callers_own(server):
    api = f"{base(server)}/api"
    hans = {"Authorization": f"Bearer {login_token(server, 'hans', 'solo')}"}
    yoda = {"Authorization": f"Bearer {login_token(server, 'yoda', 'wise')}"}
    sent = []
    for i in range(7):
        r = requests.post(f"{api}/messages", json={"to": "yoda", "text": f"h{i}"}, headers=hans)
        sent.append(r.json()["id"])
    requests.post(f"{api}/messages", json={"to": "leia", "text": "not for hans"}, headers=yoda)

    seen, pages, url = [], 0, f"{api}/history?with=yoda&limit=3"
    while url:
        page = curl(url, "-H", f"Authorization: {hans['Authorization']}").json()
        pages += 1
        seen += [m["id"] for m in page["messages"]]
        assert all(m["from"] == "hans" and m["to"] == "yoda" for m in page["messages"])
        url = f"{api}/history?with=yoda&limit=3&before={page['next']}" if page["next"] is not None else None
    assert seen == list(reversed(sent)) and pages == 3
    everything = requests.get(f"{api}/history", headers=hans).json()["messages"]
    assert all("hans" in (m["from"], m["to"]) for m in everything)
    assert not any(m["text"] == "not for hans" for m in everything)


def test_400_bad_input(server):
    api = f"{base(server)}/api"
    r = curl(f"{api}/login", "-H", "Content-Type: application/json", "--data-binary", "{not json")
    assert r.status == 400 and r.code == "bad_request"
    r = curl(f"{api}/login", "--json", '{"user":"hans"}')
    assert r.status == 400 and r.code == "bad_request"
    r = curl(f"{api}/register", "--json", '{"user":"has space","password":"x"}')
    assert r.status == 400 and r.code == "invalid_username"
    r = curl(f"{api}/whoelsesince?seconds=soon", "-u", "hans:solo")
    assert r.status == 400 and r.json()["error"]["message"]
    r = curl(f"{api}/history?limit=1000", "-u", "hans:solo")
    assert r.status == 400


def test_401_always_carries_the_challenge(server):
    api = f"{base(server)}/api"
    for args in [(), ("-H", "Authorization: Bearer nonsense"), ("-H", "Authorization: Basic !!"),
                 ("-H", "Authorization: Negotiate abc"), ("-u", "nobody:x")]:
        r = curl(f"{api}/whoelse", *args)
        assert r.status == 401 and r.headers["www-authenticate"] == CHALLENGE, (args, r)
    r = curl(f"{api}/login", "--json", '{"user":"nobody","password":"x"}')
    assert (r.status, r.code, r.headers["www-authenticate"]) == (401, "no_such_user", CHALLENGE)
    r = curl(f"{api}/login", "--json", '{"user":"leia","password":"wrong"}')
    assert (r.status, r.code) == (401, "bad_password") and r.json()["error"]["attemptsLeft"] == 2
    curl(f"{api}/login", "--json", '{"user":"leia","password":"alder"}')  # a success resets the count


def test_403_self_and_blocked(server):
    api = f"{base(server)}/api"
    r = curl(f"{api}/messages", "-u", "hans:solo", "--json", '{"to":"hans","text":"me"}')
    assert (r.status, r.code) == (403, "self")
    assert curl(f"{api}/blocks/hans", "-u", "leia:alder", "-X", "PUT").status == 204
    try:
        r = curl(f"{api}/messages", "-u", "hans:solo", "--json", '{"to":"leia","text":"hi"}')
        assert (r.status, r.code) == (403, "blocked")
        assert "blocked you" in r.json()["error"]["message"]
    finally:
        curl(f"{api}/blocks/hans", "-u", "leia:alder", "-X", "DELETE")


def test_404_unknown_path_invalid_user_and_not_blocked(server):
    api = f"{base(server)}/api"
    r = curl(f"{api}/nothing-here", "-u", "hans:solo")
    assert (r.status, r.code) == (404, "not_found")
    r = curl(f"{api}/messages", "-u", "hans:solo", "--json", '{"to":"vader","text":"hi"}')
    assert (r.status, r.code) == (404, "invalid_user")
    r = curl(f"{api}/history?with=vader", "-u", "hans:solo")
    assert (r.status, r.code) == (404, "invalid_user")
    r = curl(f"{api}/blocks/luke", "-u", "hans:solo", "-X", "DELETE")
    assert (r.status, r.code) == (404, "not_blocked")


def test_405_names_the_allowed_methods(server):
    r = curl(f"{base(server)}/api/login")
    assert r.status == 405 and r.headers["allow"] == "POST" and r.code == "method_not_allowed"
    r = curl(f"{base(server)}/api/blocks/luke", "-X", "POST", "-u", "hans:solo")
    assert r.status == 405 and r.headers["allow"] == "PUT, DELETE"
    assert curl(f"{base(server)}/healthz", "-X", "DELETE").headers["allow"] == "GET, HEAD"


def test_409_user_exists_and_already_blocked(server):
    api = f"{base(server)}/api"
    r = curl(f"{api}/register", "--json", '{"user":"hans","password":"other"}')
    assert (r.status, r.code) == (409, "user_exists")
    assert curl(f"{api}/blocks/luke", "-u", "yoda:wise", "-X", "PUT").status == 204
    try:
        r = curl(f"{api}/blocks/luke", "-u", "yoda:wise", "-X", "PUT")
        assert (r.status, r.code) == (409, "already_blocked")
    finally:
        curl(f"{api}/blocks/luke", "-u", "yoda:wise", "-X", "DELETE")


def test_201_register_then_log_in_over_tcp(server):
    r = curl(f"{base(server)}/api/register", "--json", '{"user":"rey","password":"scavenger"}')
    assert r.status == 201 and r.json()["user"] == "rey" and len(r.json()["token"]) >= 43
    with json_client(server, "rey", "scavenger"):
        pass


def test_413_body_over_one_mebibyte(server, tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"text":"' + "x" * (1024 * 1024) + '"}')
    r = curl(f"{base(server)}/api/broadcasts", "-u", "hans:solo", "-H", "Content-Type: application/json",
             "--data-binary", f"@{big}")
    assert r.status == 413 and r.code == "content_too_large"
    assert curl(f"{base(server)}/healthz").status == 200


def test_415_body_not_declared_as_json(server):
    r = curl(f"{base(server)}/api/login", "-d", "user=hans&password=solo")  # curl's default form encoding
    assert (r.status, r.code) == (415, "unsupported_media_type")
    r = curl(f"{base(server)}/api/messages", "-u", "hans:solo", "-H", "Content-Type: text/plain",
             "--data-binary", '{"to":"luke","text":"hi"}')
    assert r.status == 415


def test_423_lockout_is_shared_with_the_tcp_door():
    s = ParleyServer(block=2, timeout=60, credentials=CREDENTIALS).start()
    try:
        api = f"{base(s)}/api"
        # Two wrong passwords over REST (login and Basic), the third over TCP: the counts are one.
        assert curl(f"{api}/login", "--json", '{"user":"yoda","password":"x"}').json()["error"]["attemptsLeft"] == 2
        assert curl(f"{api}/blocks", "-u", "yoda:y").json()["error"]["attemptsLeft"] == 1
        with json_client(s) as c:
            assert c.login("yoda", "z")["attemptsLeft"] == 0
        r = curl(f"{api}/login", "--json", '{"user":"yoda","password":"wise"}')
        assert (r.status, r.code) == (423, "locked") and 1 <= int(r.headers["retry-after"]) <= 2
        r = curl(f"{api}/whoelse", "-u", "yoda:wise")
        assert r.status == 423 and "retry-after" in r.headers
        with json_client(s) as c:
            assert c.login("yoda", "wise")["code"] == "locked"
        time.sleep(2.1)  # block_duration is 2 s here; waiting it out is the behaviour under test
        assert curl(f"{api}/whoelse", "-u", "yoda:wise").status == 200
    finally:
        s.stop()


def test_429_when_password_checks_pile_up():
    """Basic auth runs a slow hash per request; past the hasher's backlog the server says busy, not later."""
    s = ParleyServer(block=2, timeout=60, credentials=CREDENTIALS).start()
    try:
        url = f"{base(s)}/api/whoelse"

        def call(_):
            r = requests.get(url, auth=("luke", "sky"), timeout=60)
            return r.status_code, r.headers.get("Retry-After"), r.text

        busy = []
        for _ in range(5):
            with concurrent.futures.ThreadPoolExecutor(max_workers=160) as pool:
                results = list(pool.map(call, range(320)))
            assert {status for status, _, _ in results} <= {200, 429}, results[:3]
            busy = [r for r in results if r[0] == 429]
            if busy:
                break
        assert busy, "no request was refused with 429"
        status, retry_after, body = busy[0]
        assert int(retry_after) >= 1 and '"code":"busy"' in body
        # The refusals cost nothing: the account is not locked and the server answers normally.
        time.sleep(1)
        assert requests.get(url, auth=("luke", "sky"), timeout=30).status_code == 200
    finally:
        s.stop()


@pytest.mark.per_node  # /metrics counts what this node saw
def test_healthz_metrics_and_openapi(server):
    r = curl(f"{base(server)}/healthz")
    assert (r.status, r.body) == (200, "ok\n")
    with json_client(server, "yoda", "wise"):
        text = curl(f"{base(server)}/metrics").body
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    assert samples['parley_connections_open{door="tcp"}'] >= 1
    for door in ("text", "ws", "http"):
        assert f'parley_connections_open{{door="{door}"}}' in samples
    for name in ("parley_lockouts_total", "parley_messages_total", "parley_broadcasts_total",
                 "parley_deliveries_total", "parley_offline_stored_total", "parley_offline_delivered_total",
                 "parley_slow_consumer_disconnects_total"):
        assert name in samples, name
    assert samples['parley_logins_total{outcome="success"}'] >= 1
    assert any(k.startswith("parley_http_request_duration_seconds_bucket{") for k in samples)
    doc = curl(f"{base(server)}/openapi.yaml")
    assert doc.status == 200 and doc.headers["content-type"] == "application/yaml"
    with open(os.path.join(os.path.dirname(__file__), "../../docs/openapi.yaml")) as f:
        assert doc.body == f.read()


def test_garbage_never_hurts_the_server(server):
    api = f"{base(server)}/api"
    bodies = [b"", b"\x00\xff\xfe", b"[" * 5000, b'{"user":' * 100, b'{"to":"luke","text":"\xed\xa0\x80"}',
              b'{"text":' + b'"' + b"\\u0000" * 100 + b'"}']
    for path in ("login", "register", "messages", "broadcasts"):
        for body in bodies:
            r = requests.post(f"{api}/{path}", data=body, auth=("hans", "solo"),
                              headers={"Content-Type": "application/json"}, timeout=10)
            assert r.status_code in (201, 400, 401, 404), (path, body[:20], r.status_code, r.text)
    for target in ("/api/blocks/%zz", "/api/history?with=%ff", "/api/whoelsesince?seconds=99999999999999999999"):
        assert requests.get(base(server) + target, auth=("hans", "solo"), timeout=10).status_code in (400, 404, 405)
    assert curl(f"{base(server)}/healthz").status == 200
