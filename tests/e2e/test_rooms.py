"""Rooms from outside over the JSON protocol (native TCP and WebSocket): a conversation across doors, missed
messages at login, acks, and everything surviving a restart and a kill -9 (docs/PROTOCOL.md, rooms)."""
import json
import signal

import pytest
from websockets.sync.client import connect as ws_connect

from parley_harness import ParleyServer, json_client

CREDENTIALS = "hans solo\nluke sky\nleia alder\n"


@pytest.fixture
def server():
    s = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS).start()
    yield s
    s.stop()


def room_messages(client, count, timeout=10):
    return [client.wait_for(lambda e: e.get("type") == "room_message", timeout) for _ in range(count)]


def test_a_room_across_tcp_and_websocket(server):
    port = server.http_port  # read once: on a cluster every read names a node at random
    with json_client(server, "hans", "solo") as hans, \
            ws_connect(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}") as ws:
        created = hans.request({"type": "join", "room": "deck"})
        assert created["type"] == "ok" and created["created"] is True and created["owner"] == "hans", created
        ws.send(json.dumps({"type": "login", "user": "luke", "password": "sky", "id": 1}))
        assert json.loads(ws.recv(10))["type"] == "welcome"
        ws.send(json.dumps({"type": "join", "room": "deck", "id": 2}))
        replies = [json.loads(ws.recv(10)) for _ in range(1)]
        assert replies[0]["type"] == "ok" and replies[0]["created"] is False, replies
        assert hans.wait_for(lambda e: e.get("type") == "room_join")["user"] == "luke"

        ok = hans.request({"type": "say", "room": "deck", "text": "hello over there"})
        assert ok["type"] == "ok" and ok["seq"] == 1 and ok["partial"] is False, ok
        event = json.loads(ws.recv(10))
        assert event["type"] == "room_message" and event["room"] == "deck" and event["from"] == "hans"
        assert event["text"] == "hello over there" and event["seq"] == 1

        ws.send(json.dumps({"type": "members", "room": "deck", "id": 3}))
        members = json.loads(ws.recv(10))
        assert members["type"] == "users" and sorted(members["users"]) == ["hans", "luke"]
        assert sorted(members["online"]) == ["hans", "luke"]
        assert hans.request({"type": "join", "room": "bad name"})["code"] == "invalid_room"
        assert hans.request({"type": "say", "room": "elsewhere", "text": "x"})["code"] == "not_member"
        assert hans.request({"type": "ack", "room": "deck", "seq": 99})["code"] == "bad_request"


def test_missed_messages_come_once_at_login_after_the_direct_ones(server):
    with json_client(server, "hans", "solo") as hans:
        hans.request({"type": "join", "room": "deck"})
        with json_client(server, "luke", "sky") as luke:
            luke.request({"type": "join", "room": "deck"})
        for i in range(3):
            assert hans.request({"type": "say", "room": "deck", "text": f"missed {i}"})["type"] == "ok"
        assert hans.request({"type": "message", "to": "luke", "text": "direct"})["type"] == "ok"
    with json_client(server) as luke:
        reply = luke.login("luke", "sky")
        assert reply["type"] == "welcome"
        direct = luke.wait_for(lambda e: e.get("type") == "message")
        assert direct["text"] == "direct"
        missed = room_messages(luke, 3)
        assert [m["text"] for m in missed] == ["missed 0", "missed 1", "missed 2"]
        assert all(m.get("offline") is True for m in missed)
        assert luke.events == [] or all(e.get("type") != "room_message" for e in luke.events)
    with json_client(server, "luke", "sky") as luke:
        luke.request({"type": "rooms"})  # a round trip: anything replayed would have come before its reply
        assert [e for e in luke.events if e.get("type") == "room_message"] == [], "handed over once already"


def test_an_acking_client_gets_what_it_did_not_ack_again(server):
    with json_client(server, "hans", "solo") as hans:
        hans.request({"type": "join", "room": "deck"})
        luke = json_client(server)
        assert luke.login("luke", "sky", acks=True)["type"] == "welcome"
        luke.request({"type": "join", "room": "deck"})
        for i in range(4):
            hans.request({"type": "say", "room": "deck", "text": f"m{i}"})
        got = room_messages(luke, 4)
        luke.send({"type": "ack", "room": "deck", "seq": got[1]["seq"]}, with_id=False)
        assert luke.request({"type": "rooms"})["type"] == "rooms"
        luke.close()
    with json_client(server) as luke:
        assert luke.login("luke", "sky", acks=True)["type"] == "welcome"
        again = room_messages(luke, 2)
        assert [m["text"] for m in again] == ["m2", "m3"]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_rooms_members_bans_and_messages_survive_a_restart(server, how):
    with json_client(server, "hans", "solo") as hans, json_client(server, "luke", "sky") as luke:
        hans.request({"type": "join", "room": "deck"})
        luke.request({"type": "join", "room": "deck"})
        assert hans.request({"type": "ban", "room": "deck", "user": "leia"})["type"] == "ok"
        for i in range(5):
            assert hans.request({"type": "say", "room": "deck", "text": f"kept {i}"})["type"] == "ok"
    server.restart(how)
    with json_client(server, "luke", "sky") as luke, json_client(server, "leia", "alder") as leia:
        rooms = luke.request({"type": "rooms"})
        assert rooms["rooms"] == [{"room": "deck", "members": 2, "owner": "hans"}], rooms
        history = luke.request({"type": "history", "room": "deck", "limit": 3})
        assert [m["text"] for m in history["messages"]] == ["kept 4", "kept 3", "kept 2"]
        older = luke.request({"type": "history", "room": "deck", "before": history["next"]})
        assert [m["text"] for m in older["messages"]] == ["kept 1", "kept 0"] and older["next"] is None
        assert leia.request({"type": "join", "room": "deck"})["code"] == "banned"
        ok = luke.request({"type": "say", "room": "deck", "text": "after"})
        assert ok["seq"] == 6, ok
