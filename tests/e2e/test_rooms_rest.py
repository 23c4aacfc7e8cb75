"""Rooms on the REST door, from outside (docs/PROTOCOL.md §12): every route with curl against the real server,
the error codes and their statuses, a curl long poll woken by a WebSocket member, history paging, the room
limits of `parley serve` with their /metrics counters, and rooms kept across a restart."""
import json
import subprocess
import time
from urllib.parse import quote

import pytest
from websockets.sync.client import connect as ws_connect

from parley_harness import PARLEY_BIN, ParleyServer
from rest_client import curl

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\n"
PASSWORDS = {"hans": "solo", "luke": "sky", "leia": "alder", "yoda": "wise"}


@pytest.fixture
def server():
    s = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS).start()
    yield s
    s.stop()


def url(server, path):
    return f"http://127.0.0.1:{server.http_port}{path}"


class Caller:
    """One user's curl calls, with Basic credentials (each call is checked like a login)."""

    def __init__(self, server, user):
        self.server, self.user = server, user
        self.auth = ["-u", f"{user}:{PASSWORDS[user]}"]

    def get(self, path):
        return curl(url(self.server, path), *self.auth)

    def put(self, path):
        return curl(url(self.server, path), *self.auth, "-X", "PUT")

    def delete(self, path):
        return curl(url(self.server, path), *self.auth, "-X", "DELETE")

    def post(self, path, body):
        return curl(url(self.server, path), *self.auth, "--json", body if isinstance(body, str) else json.dumps(body))

    def say(self, room, text):
        response = self.post(f"/api/rooms/{room}/messages", {"text": text})
        assert response.status == 201, response
        return response.json()


def assert_error(response, status, code, message=None):
    assert (response.status, response.code) == (status, code), response
    assert response.headers["content-type"] == "application/json", response.headers
    if message is not None:
        assert response.json()["error"]["message"] == message, response


def metric(server, name):
    """The value of one sample line of /metrics, or None."""
    text = curl(url(server, "/metrics")).body
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


# -- every route ----------------------------------------------------------------------------------------------

def test_every_room_route_succeeds(server):
    hans, luke, yoda = Caller(server, "hans"), Caller(server, "luke"), Caller(server, "yoda")
    created = hans.put("/api/rooms/general")
    assert (created.status, created.json()) == (201, {"room": "general", "created": True, "owner": "hans"}), created
    joined = luke.put("/api/rooms/general")
    assert (joined.status, joined.json()) == (200, {"room": "general", "created": False, "owner": "hans"}), joined
    assert yoda.put("/api/rooms/general").status == 200
    assert hans.get("/api/rooms").json() == {"rooms": [{"room": "general", "members": 3, "owner": "hans"}]}
    assert Caller(server, "leia").get("/api/rooms").json() == {"rooms": []}

    sent = hans.say("general", "welcome, all")
    assert set(sent) == {"id", "seq", "partial"} and (sent["seq"], sent["partial"]) == (1, False), sent
    page = luke.get("/api/rooms/general/messages")
    assert page.status == 200 and page.headers["content-type"] == "application/json"
    message = page.json()["messages"][0]
    assert page.json() == {"room": "general", "last": 1, "messages": [
        {"id": sent["id"], "seq": 1, "from": "hans", "text": "welcome, all", "at": message["at"]}]}
    assert abs(message["at"] / 1000 - time.time()) < 60
    assert luke.post("/api/rooms/general/ack", {"seq": 1}).status == 204
    assert luke.get("/api/rooms/general/messages").json() == {"room": "general", "messages": [], "last": 1}

    members = hans.get("/api/rooms/general/members")
    assert (members.status, members.json()) == (200, {"users": ["hans", "luke", "yoda"], "online": []}), members
    history = luke.get("/api/history?room=general")
    assert history.status == 200 and history.json()["room"] == "general" and history.json()["next"] is None
    assert [m["text"] for m in history.json()["messages"]] == ["welcome, all"]

    kicked = hans.delete("/api/rooms/general/members/yoda")
    assert (kicked.status, kicked.body) == (204, ""), kicked
    assert hans.put("/api/rooms/general/bans/yoda").status == 204
    assert_error(yoda.put("/api/rooms/general"), 403, "banned", "Error. You are banned from #general")
    assert hans.delete("/api/rooms/general/bans/yoda").status == 204
    assert yoda.put("/api/rooms/general").status == 200
    left = luke.delete("/api/rooms/general")
    assert (left.status, left.body) == (204, ""), left
    assert [r["members"] for r in hans.get("/api/rooms").json()["rooms"]] == [2]


def test_a_path_name_is_percent_decoded(server):
    hans = Caller(server, "hans")
    assert hans.put("/api/rooms/dash-and_under").status == 201
    # %2D is `-`: the same room, so already a member.
    assert_error(hans.put("/api/rooms/dash%2Dand_under"), 409, "already_member")
    assert_error(hans.put("/api/rooms/%ZZ"), 400, "bad_request")


# -- error codes ----------------------------------------------------------------------------------------------

def test_room_error_codes_and_their_statuses(server):
    hans, luke, yoda = Caller(server, "hans"), Caller(server, "luke"), Caller(server, "yoda")
    for name in ["a b", "#general", "x" * 33, "café", "dot.dot"]:
        assert_error(hans.put(f"/api/rooms/{quote(name, safe='')}"), 400, "invalid_room", "Error. Invalid room")
    assert hans.put("/api/rooms/general").status == 201
    assert luke.put("/api/rooms/general").status == 200
    hans.say("general", "one")
    assert_error(hans.put("/api/rooms/general"), 409, "already_member", "Error. You are already in #general")

    # No such room, and a room the caller is not in, read alike: not_member.
    for room in ["nowhere", "general"]:
        assert_error(yoda.get(f"/api/rooms/{room}/messages"), 404, "not_member", f"Error. You are not in #{room}")
        assert_error(yoda.get(f"/api/rooms/{room}/messages?wait=5"), 404, "not_member")
        assert_error(yoda.post(f"/api/rooms/{room}/ack", {"seq": 0}), 404, "not_member")
        assert_error(yoda.post(f"/api/rooms/{room}/messages", {"text": "hi"}), 404, "not_member")
        assert_error(yoda.get(f"/api/rooms/{room}/members"), 404, "not_member")
        assert_error(yoda.get(f"/api/history?room={room}"), 404, "not_member")
        assert_error(yoda.delete(f"/api/rooms/{room}"), 404, "not_member")

    # Moderation is the owner's; a room that does not exist has no owner.
    only_owner = "Error. Only the owner of #general can do that"
    assert_error(luke.delete("/api/rooms/general/members/hans"), 403, "not_owner", only_owner)
    assert_error(luke.put("/api/rooms/general/bans/yoda"), 403, "not_owner", only_owner)
    assert_error(luke.delete("/api/rooms/general/bans/yoda"), 403, "not_owner", only_owner)
    assert_error(hans.delete("/api/rooms/nowhere/members/luke"), 403, "not_owner")
    assert_error(hans.delete("/api/rooms/general/members/hans"), 403, "self", "Error. Cannot remove self")
    assert_error(hans.put("/api/rooms/general/bans/hans"), 403, "self", "Error. Cannot ban self")
    assert_error(hans.delete("/api/rooms/general/bans/hans"), 403, "self")
    assert_error(hans.delete("/api/rooms/general/members/yoda"), 404, "not_member", "Error. yoda is not in #general")
    assert_error(hans.delete("/api/rooms/general/members/nobody"), 404, "invalid_user", "Error. Invalid user")
    assert_error(hans.put("/api/rooms/general/bans/nobody"), 404, "invalid_user")

    # An ack beyond the room's newest seq.
    assert_error(luke.post("/api/rooms/general/ack", {"seq": 2}), 400, "bad_request",
                 "ack beyond #general: last seq is 1")
    # Bad bodies and queries.
    for body in ["{", "[]", "{}", '{"text":""}', '{"text":7}']:
        assert_error(luke.post("/api/rooms/general/messages", body), 400, "bad_request")
    for body in ['{"seq":-1}', '{"seq":"1"}', '{"seq":1.5}', "{}"]:
        assert_error(luke.post("/api/rooms/general/ack", body), 400, "bad_request")
    for query in ["limit=0", "limit=201", "wait=61", "after=x", "after=1&after=2"]:
        assert_error(luke.get(f"/api/rooms/general/messages?{query}"), 400, "bad_request")
    assert_error(luke.get("/api/history?room=general&with=hans"), 400, "bad_request")
    # Nothing is judged for a stranger: 401 first, with the challenge.
    anonymous = curl(url(server, "/api/rooms/general/messages?limit=0"))
    assert anonymous.status == 401 and "Bearer" in anonymous.headers["www-authenticate"]
    wrong = curl(url(server, "/api/rooms/general/messages"), "-X", "PUT", "-u", "hans:solo")
    assert (wrong.status, wrong.headers["allow"]) == (405, "GET, POST, HEAD")


# -- a curl long poll woken by a WebSocket member -------------------------------------------------------------

def ws_request(ws, request, timeout=10):
    ws.send(json.dumps(request))
    while True:
        reply = json.loads(ws.recv(timeout=timeout))
        if reply.get("re") == request["id"]:
            return reply


def test_a_curl_long_poll_on_a_room_receives_what_a_websocket_member_says(server):
    luke, hans = Caller(server, "luke"), Caller(server, "hans")
    assert hans.put("/api/rooms/general").status == 201
    assert luke.put("/api/rooms/general").status == 200
    token = curl(url(server, "/api/login"), "--json", '{"user":"luke","password":"sky"}').json()["token"]
    poll = subprocess.Popen(["curl", "-sS", "--max-time", "25", "-w", "\n%{http_code}", "-H",
                             f"Authorization: Bearer {token}", url(server, "/api/rooms/general/messages?wait=20")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.monotonic()
    time.sleep(1.0)
    assert poll.poll() is None, "the poll answered before anything was said"
    with ws_connect(f"ws://127.0.0.1:{server.http_port}/ws") as ws:
        ws.send(json.dumps({"type": "login", "user": "hans", "password": "solo", "id": 1}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        sent = ws_request(ws, {"type": "say", "room": "general", "text": "wake up", "id": 2})
        assert (sent["type"], sent["seq"], sent["partial"]) == ("ok", 1, False), sent
        out, err = poll.communicate(timeout=25)
        elapsed = time.monotonic() - started
        body, _, status = out.decode().rpartition("\n")
        assert (poll.returncode, status) == (0, "200"), err
        page = json.loads(body)
        assert page == {"room": "general", "last": 1, "messages": [
            {"id": sent["id"], "seq": 1, "from": "hans", "text": "wake up", "at": page["messages"][0]["at"]}]}, page
        assert elapsed < 10, f"the poll took {elapsed:.1f} s, not until the message"
        # And the other way: what curl says reaches the WebSocket member at once.
        said = luke.say("general", "awake")
        while True:
            event = json.loads(ws.recv(timeout=10))
            if event.get("type") == "room_message":
                break
        assert event == {"type": "room_message", "room": "general", "id": said["id"], "seq": 2, "from": "luke",
                         "text": "awake", "at": event["at"]}, event


def test_an_empty_room_poll_answers_after_its_wait(server):
    luke = Caller(server, "luke")
    assert luke.put("/api/rooms/quiet").status == 201
    started = time.monotonic()
    page = luke.get("/api/rooms/quiet/messages?wait=2")
    elapsed = time.monotonic() - started
    assert (page.status, page.json()) == (200, {"room": "quiet", "messages": [], "last": 0})
    assert 1.5 <= elapsed < 8, elapsed


# -- history paging -------------------------------------------------------------------------------------------

def test_room_history_pages_newest_first_by_id(server):
    hans, luke = Caller(server, "hans"), Caller(server, "luke")
    assert hans.put("/api/rooms/general").status == 201
    assert luke.put("/api/rooms/general").status == 200
    ids = [(hans if i % 2 else luke).say("general", f"m{i}")["id"] for i in range(1, 6)]
    texts, pages, before = [], [], ""
    while True:
        page = luke.get(f"/api/history?room=general&limit=2{before}")
        assert page.status == 200, page
        body = page.json()
        assert body["room"] == "general"
        pages.append([m["seq"] for m in body["messages"]])
        texts += [m["text"] for m in body["messages"]]
        if body["next"] is None:
            break
        assert body["next"] == body["messages"][-1]["id"]
        before = f"&before={body['next']}"
    assert pages == [[5, 4], [3, 2], [1]]
    assert texts == ["m5", "m4", "m3", "m2", "m1"]
    assert luke.get(f"/api/history?room=general&before={ids[2]}").json()["messages"][0]["id"] == ids[1]
    # A member who joins later reads the room's past through history, not as missed messages.
    leia = Caller(server, "leia")
    assert leia.put("/api/rooms/general").status == 200
    assert leia.get("/api/rooms/general/messages").json() == {"room": "general", "messages": [], "last": 5}
    assert len(leia.get("/api/history?room=general").json()["messages"]) == 5


# -- limits ---------------------------------------------------------------------------------------------------

@pytest.mark.per_node
def test_the_room_limits_refuse_joins_with_409_and_count_them():
    s = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS,
                     extra=["--max-rooms-per-user", "2", "--max-room-members", "2"]).start()
    try:
        hans, luke, yoda = Caller(s, "hans"), Caller(s, "luke"), Caller(s, "yoda")
        assert metric(s, 'parley_room_joins_refused_total{code="room_full"}') == 0
        assert metric(s, 'parley_room_joins_refused_total{code="too_many_rooms"}') == 0
        assert hans.put("/api/rooms/one").status == 201
        assert hans.put("/api/rooms/two").status == 201
        assert_error(hans.put("/api/rooms/three"), 409, "too_many_rooms")
        assert_error(hans.put("/api/rooms/four"), 409, "too_many_rooms")
        assert luke.put("/api/rooms/one").status == 200
        assert_error(yoda.put("/api/rooms/one"), 409, "room_full", "Error. #one is full")
        # A place that frees up can be taken.
        assert hans.delete("/api/rooms/two").status == 204
        assert hans.put("/api/rooms/three").status == 201
        hans.say("one", "hi")
        luke.say("one", "hello")
        assert metric(s, 'parley_room_joins_refused_total{code="room_full"}') == 1
        assert metric(s, 'parley_room_joins_refused_total{code="too_many_rooms"}') == 2
        assert metric(s, "parley_room_messages_total") == 2
    finally:
        s.stop()


@pytest.mark.single_node
def test_room_limit_options_are_checked_at_start(tmp_path):
    for option in ["--max-rooms-per-user", "--max-room-members", "--max-rooms"]:
        out = subprocess.run([PARLEY_BIN, "serve", "0", "1", "1", "--no-http", "--data-dir", str(tmp_path),
                              option, "0"], capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and f"{option} must be 1 or more" in out.stderr, out.stderr
    # Help wraps its lines; compare with whitespace collapsed.
    help_text = " ".join(subprocess.run([PARLEY_BIN, "serve", "--help"], capture_output=True, text=True,
                                        timeout=30).stdout.split())
    for option, default in [("--max-rooms-per-user", "500"), ("--max-room-members", "5000"),
                            ("--max-rooms", "100000")]:
        assert f"{option} <" in help_text and f"(default: {default})" in help_text, help_text


# -- durability -----------------------------------------------------------------------------------------------

def test_rooms_members_bans_and_messages_survive_a_restart(server):
    hans, luke, yoda = Caller(server, "hans"), Caller(server, "luke"), Caller(server, "yoda")
    assert hans.put("/api/rooms/general").status == 201
    assert luke.put("/api/rooms/general").status == 200
    assert hans.put("/api/rooms/general/bans/yoda").status == 204
    sent = hans.say("general", "kept")
    assert luke.post("/api/rooms/general/ack", {"seq": 1}).status == 204
    server.restart()
    assert hans.get("/api/rooms").json() == {"rooms": [{"room": "general", "members": 2, "owner": "hans"}]}
    assert_error(yoda.put("/api/rooms/general"), 403, "banned")
    assert [m["id"] for m in luke.get("/api/history?room=general").json()["messages"]] == [sent["id"]]
    assert luke.get("/api/rooms/general/messages").json() == {"room": "general", "messages": [], "last": 1}
    assert hans.say("general", "after")["seq"] == 2
