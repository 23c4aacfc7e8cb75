"""Inboxes with seq and acks, from outside: a curl long poll woken by a WebSocket sender, acks on every door,
replay after a reconnect for an acking client and version-1 delivery for the others, login history across a
restart, a thousand waiting polls that cost the server no thread, and polls that end early (docs/PROTOCOL.md
§4, §5, §7 and §10)."""
import contextlib
import json
import selectors
import socket
import subprocess
import threading
import time

import pytest
from websockets.sync.client import connect as ws_connect

from parley_harness import ParleyServer, eventually, json_client
from rest_client import curl

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\n"


@pytest.fixture
def server():
    s = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS).start()
    yield s
    s.stop()


def api(server, path):
    return f"http://127.0.0.1:{server.http_port}/api{path}"


def token(server, user, password):
    response = curl(api(server, "/login"), "--json", json.dumps({"user": user, "password": password}))
    assert response.status == 200, response
    return response.json()["token"]


def bearer(value):
    return ["-H", f"Authorization: Bearer {value}"]


def start_poll(server, auth, query, max_time):
    """A `curl` long poll in the background: (process, start time)."""
    process = subprocess.Popen(["curl", "-sS", "--max-time", str(max_time), "-w", "\n%{http_code}", *auth,
                                api(server, f"/inbox?{query}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, time.monotonic()


def finish_poll(process, timeout):
    """(status, page) of a poll started with start_poll."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"curl failed ({process.returncode}): {err.decode()}"
    body, _, status = out.decode().rpartition("\n")
    return int(status), json.loads(body)


@contextlib.contextmanager
def ws_login(server, user, password, **extra):
    """A logged-in WebSocket client (Python `websockets`)."""
    with ws_connect(f"ws://127.0.0.1:{server.http_port}/ws") as ws:
        ws.send(json.dumps({"type": "login", "user": user, "password": password, "id": 1, **extra}))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        yield ws


def ws_request(ws, request, timeout=10):
    """Sends a request with an id and returns its reply, skipping events."""
    ws.send(json.dumps(request))
    while True:
        reply = json.loads(ws.recv(timeout=timeout))
        if reply.get("re") == request["id"]:
            return reply


def events_until_reply(client, request):
    """Every event a JSON-lines client receives before the reply to `request`, and the reply."""
    rid = client.send(request)
    events = []
    while True:
        line = client.recv()
        assert line is not None, "the server closed the connection"
        if line.get("re") == rid:
            return events, line
        events.append(line)


# -- (a) a curl long poll is woken by a WebSocket sender -------------------------------------------------------

def test_a_curl_long_poll_receives_a_message_sent_over_websocket_while_it_waits(server):
    poll, started = start_poll(server, bearer(token(server, "luke", "sky")), "wait=20", max_time=25)
    time.sleep(1.0)
    assert poll.poll() is None, "the poll answered before anything arrived"
    with ws_login(server, "hans", "solo") as hans:
        sent = ws_request(hans, {"type": "message", "to": "luke", "text": "wake up", "id": 2})
    assert sent["type"] == "ok" and sent["stored"] is True, sent
    status, page = finish_poll(poll, timeout=25)
    elapsed = time.monotonic() - started
    assert status == 200
    assert page == {"messages": [{"id": sent["id"], "seq": 1, "from": "hans", "text": "wake up",
                                  "at": page["messages"][0]["at"]}], "last": 1}, page
    assert elapsed < 10, f"the poll took {elapsed:.1f} s, not until the message"


def test_an_empty_poll_answers_after_its_wait_with_an_empty_page(server):
    poll, started = start_poll(server, ["-u", "luke:sky"], "wait=2", max_time=15)
    status, page = finish_poll(poll, timeout=15)
    elapsed = time.monotonic() - started
    assert (status, page) == (200, {"messages": [], "last": 0})
    assert 1.5 <= elapsed < 8, elapsed


# -- (b) an ack beyond the inbox ------------------------------------------------------------------------------

def test_an_ack_beyond_the_inbox_is_bad_request_on_every_door(server):
    with json_client(server, "hans", "solo") as hans:
        assert hans.request({"type": "message", "to": "luke", "text": "one"})["type"] == "ok"
    with json_client(server, "luke", "sky") as tcp:
        reply = tcp.request({"type": "ack", "seq": 2})
        assert (reply["type"], reply["code"]) == ("error", "bad_request"), reply
        assert reply["message"] == "ack beyond the inbox: last seq is 1"
        assert tcp.request({"type": "ack", "seq": 1}) == {"type": "ok", "re": tcp.next_id - 1}
        assert tcp.request({"type": "ack", "seq": 0})["type"] == "ok"  # at or below the cursor: a no-op
        for bad in ({"type": "ack"}, {"type": "ack", "seq": -1}, {"type": "ack", "seq": "1"},
                    {"type": "ack", "seq": 1.5}):
            assert tcp.request(bad)["code"] == "bad_request", bad
        tcp.request({"type": "logout"})
    with ws_login(server, "luke", "sky", acks=True) as ws:
        reply = ws_request(ws, {"type": "ack", "seq": 7, "id": 9})
    assert (reply["type"], reply["code"], reply["message"]) == ("error", "bad_request",
                                                              "ack beyond the inbox: last seq is 1"), reply
    auth = bearer(token(server, "luke", "sky"))
    beyond = curl(api(server, "/inbox/ack"), *auth, "--json", '{"seq":2}')
    assert (beyond.status, beyond.code) == (400, "bad_request"), beyond
    assert curl(api(server, "/inbox/ack"), *auth, "--json", '{"seq":1}').status == 204


def test_an_ack_before_login_is_not_logged_in(server):
    with json_client(server) as anonymous:
        assert anonymous.request({"type": "ack", "seq": 0})["code"] == "not_logged_in"


# -- (c) replay for an acking client, version-1 delivery for the others ------------------------------------------

def test_unacked_messages_come_again_after_a_reconnect_with_the_same_seqs(server):
    luke = json_client(server)
    assert luke.login("luke", "sky", acks=True)["type"] == "welcome"
    with json_client(server, "hans", "solo") as hans:
        sent = [hans.request({"type": "message", "to": "luke", "text": f"live {n}"}) for n in (1, 2, 3)]
    live = [luke.wait_for(lambda e: e.get("type") == "message") for _ in sent]
    assert [(m["id"], m["seq"], m["text"]) for m in live] == [(s["id"], n, f"live {n}")
                                                              for n, s in zip((1, 2, 3), sent)]
    assert all("offline" not in m for m in live)
    assert luke.request({"type": "ack", "seq": 2})["type"] == "ok"
    luke.close()

    again = json_client(server)
    assert again.login("luke", "sky", acks=True)["type"] == "welcome"
    replayed, _ = events_until_reply(again, {"type": "whoelse"})
    messages = [e for e in replayed if e["type"] == "message"]
    assert [(m["id"], m["seq"], m["text"], m["offline"]) for m in messages] == [(sent[2]["id"], 3, "live 3", True)]
    # Not acked yet, so it comes once more at the next login; acked, never again.
    again.close()
    third = json_client(server)
    assert third.login("luke", "sky", acks=True)["type"] == "welcome"
    replayed, _ = events_until_reply(third, {"type": "whoelse"})
    assert [m["seq"] for m in replayed if m["type"] == "message"] == [3]
    assert third.request({"type": "ack", "seq": 3})["type"] == "ok"
    third.close()
    fourth = json_client(server)
    assert fourth.login("luke", "sky", acks=True)["type"] == "welcome"
    replayed, _ = events_until_reply(fourth, {"type": "whoelse"})
    assert [e for e in replayed if e["type"] == "message"] == []
    fourth.close()


def test_a_client_without_acks_gets_offline_messages_once(server):
    with json_client(server, "hans", "solo") as hans:
        sent = [hans.request({"type": "message", "to": "leia", "text": f"away {n}"}) for n in (1, 2)]
        assert all(s["stored"] for s in sent)
    leia = json_client(server)
    assert leia.login("leia", "alder")["type"] == "welcome"
    replayed, _ = events_until_reply(leia, {"type": "whoelse"})
    assert [(m["id"], m["seq"], m["offline"]) for m in replayed if m["type"] == "message"] == \
        [(sent[0]["id"], 1, True), (sent[1]["id"], 2, True)]
    with json_client(server, "hans", "solo") as hans:
        live = hans.request({"type": "message", "to": "leia", "text": "live"})
    event = leia.wait_for(lambda e: e.get("type") == "message")
    assert (event["id"], event["seq"], "offline" in event) == (live["id"], 3, False)
    leia.request({"type": "logout"})
    leia.close()
    again = json_client(server)
    assert again.login("leia", "alder")["type"] == "welcome"
    replayed, _ = events_until_reply(again, {"type": "whoelse"})
    assert [e for e in replayed if e["type"] == "message"] == [], "handed over once means acknowledged"
    again.close()


# -- (d) login history survives a restart ----------------------------------------------------------------------

def test_whoelsesince_answers_the_same_after_a_restart(server):
    with json_client(server, "hans", "solo") as hans:
        hans.request({"type": "logout"})
    leia = json_client(server, "leia", "alder")
    with json_client(server, "luke", "sky") as luke:
        before = luke.request({"type": "whoelsesince", "seconds": 3600})["users"]
        luke.request({"type": "logout"})
    assert before == ["hans", "leia"]
    leia.close()
    server.restart()
    with json_client(server, "luke", "sky") as luke:
        after = luke.request({"type": "whoelsesince", "seconds": 3600})["users"]
    assert after == before
    response = curl(api(server, "/whoelsesince?seconds=3600"), "-u", "yoda:wise")
    assert response.json() == {"users": ["hans", "leia", "luke"]}


def test_a_user_online_at_the_stop_was_online_until_the_stop(server):
    leia = json_client(server, "leia", "alder")
    time.sleep(5)
    with json_client(server, "luke", "sky") as luke:
        before = luke.request({"type": "whoelsesince", "seconds": 3})["users"]
        luke.request({"type": "logout"})
    assert before == ["leia"]
    server.restart()
    leia.close()
    with json_client(server, "luke", "sky") as luke:
        after = luke.request({"type": "whoelsesince", "seconds": 3})["users"]
    assert after == before, "leia logged in 5 s before the stop and stayed online until it"


# -- (e) a thousand waiting polls cost no thread -----------------------------------------------------------------

def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


class RawPolls:
    """Many HTTP long polls on raw sockets, read with one selector: the test itself holds no thread per poll."""

    def __init__(self, port, bearer_token, query, count):
        self.selector = selectors.DefaultSelector()
        self.responses = {}
        request = (f"GET /api/inbox?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Authorization: Bearer {bearer_token}\r\n\r\n").encode()
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(request)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, n)
            self.responses[n] = b""
        self.sockets = count

    def complete(self, n):
        head, sep, body = self.responses[n].partition(b"\r\n\r\n")
        if not sep:
            return None
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        if len(body) < length:
            return None
        return int(head.split(b" ", 2)[1]), json.loads(body[:length])

    def answered(self):
        return sum(1 for n in self.responses if self.complete(n) is not None)

    def collect(self, deadline):
        """Reads until every poll is answered or the deadline passes; returns {n: (status, page)}."""
        done = {}
        while len(done) < self.sockets and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.2):
                chunk = key.fileobj.recv(65536)
                self.responses[key.data] += chunk
                result = self.complete(key.data)
                if result is not None or not chunk:
                    done[key.data] = result
                    self.selector.unregister(key.fileobj)
                    key.fileobj.close()
        return done

    def pending_for(self, seconds):
        """Nothing may arrive for `seconds`: the polls are waiting."""
        return not self.selector.select(timeout=seconds)

    def close(self):
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def test_a_thousand_waiting_polls_change_the_thread_count_by_zero(server):
    luke = token(server, "luke", "sky")
    pid = server.proc.pid
    # Warm up every path the polls take (a bearer check, a page, a message), so nothing starts lazily later.
    assert curl(api(server, "/inbox?wait=0"), *bearer(luke)).status == 200
    with json_client(server, "hans", "solo") as hans:
        assert hans.request({"type": "message", "to": "yoda", "text": "warm-up"})["type"] == "ok"
        before = thread_count(pid)
        polls = RawPolls(server.http_port, luke, "wait=20", 1000)
        try:
            assert polls.pending_for(1.0), "a poll answered before anything arrived"
            waiting = thread_count(pid)
            sent = hans.request({"type": "message", "to": "luke", "text": "for everyone"})
            done = polls.collect(time.monotonic() + 15)
        finally:
            polls.close()
    assert waiting - before == 0, f"{before} threads before, {waiting} with 1000 polls waiting"
    assert len(done) == 1000 and all(done.values()), "every poll got a whole response"
    expected = {"id": sent["id"], "seq": 1, "from": "hans", "text": "for everyone"}
    for status, page in done.values():
        assert status == 200 and page["last"] == 1 and len(page["messages"]) == 1, page
        assert {k: v for k, v in page["messages"][0].items() if k != "at"} == expected, page
    assert thread_count(pid) - before == 0

    # And a thousand that nothing wakes: each ends with its wait, with an empty page.
    started = time.monotonic()
    polls = RawPolls(server.http_port, luke, "after=1&wait=3", 1000)
    try:
        assert polls.pending_for(1.0), "a poll answered before its wait was over"
        waiting = thread_count(pid)
        done = polls.collect(started + 20)
    finally:
        polls.close()
    assert waiting - before == 0, f"{before} threads before, {waiting} with 1000 polls waiting"
    assert len(done) == 1000 and all(result == (200, {"messages": [], "last": 1}) for result in done.values())
    assert 2.5 <= time.monotonic() - started < 20
    assert thread_count(pid) - before == 0


# -- (f) a poll ends early when its token is revoked or the server stops -------------------------------------------

def test_a_poll_ends_early_with_an_empty_page_when_its_token_is_revoked(server):
    luke = token(server, "luke", "sky")
    poll, started = start_poll(server, bearer(luke), "wait=30", max_time=40)
    time.sleep(1.0)
    assert poll.poll() is None
    assert curl(api(server, "/logout"), *bearer(luke), "-X", "POST").status == 204
    status, page = finish_poll(poll, timeout=40)
    assert (status, page) == (200, {"messages": [], "last": 0})
    assert time.monotonic() - started < 10
    # On a cluster the next request may reach another node, which hears of the revocation one bus hop after the
    # logout's reply (docs/SCALING.md, "Propagation"); on one node the first request is refused.
    eventually(lambda: curl(api(server, "/inbox"), *bearer(luke)).status == 401, 5, "the revoked token is refused")


def test_a_poll_ends_early_with_an_empty_page_when_the_server_stops(server):
    poll, started = start_poll(server, bearer(token(server, "luke", "sky")), "wait=30", max_time=40)
    time.sleep(1.0)
    assert poll.poll() is None
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    status, page = finish_poll(poll, timeout=40)
    stopper.join(20)
    assert (status, page) == (200, {"messages": [], "last": 0})
    assert time.monotonic() - started < 10
