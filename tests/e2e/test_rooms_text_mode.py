"""Group rooms in the server's plain-text mode over a raw socket, the way `nc localhost <port>` users meet them
(docs/PROTOCOL.md §12): the same commands and the same lines as the terminal client, with JSON clients in the
same rooms.
"""
import pytest

from parley_harness import ParleyServer, json_client
from test_text_mode import RawText

CREDENTIALS = "alice wonder\nbob builder\ncarol singer\n"
WELCOME = "Welcome to the greatest messaging application ever!\n"


@pytest.fixture
def server():
    s = ParleyServer(block=2, timeout=30, credentials=CREDENTIALS).start()
    yield s
    s.stop()


def text_login(server, user, password):
    nc = RawText(server.tcp_port)
    nc.type(user)
    nc.expect("Password: ")
    nc.type(password)
    nc.expect(WELCOME)
    return nc


def test_rooms_over_a_raw_socket_with_a_json_member(server):
    alice = text_login(server, "alice", "wonder")
    bob = text_login(server, "bob", "builder")
    carol = json_client(server, "carol", "singer")

    alice.type("rooms")
    alice.expect("You are in no rooms\n")
    alice.type("join #general")
    alice.expect("You created #general\n")
    bob.type("join general")
    bob.expect("You joined #general\n")
    alice.expect("bob joined #general\n")
    reply = carol.request({"type": "join", "room": "general"})
    assert reply["type"] == "ok" and reply["created"] is False and reply["owner"] == "alice", reply
    alice.expect("carol joined #general\n")
    bob.expect("carol joined #general\n")

    alice.type("say general hello  from nc ")
    bob.expect("#general alice: hello  from nc \n")
    event = carol.wait_for(lambda e: e["type"] == "room_message")
    assert (event["room"], event["from"], event["text"]) == ("general", "alice", "hello  from nc ")
    assert carol.request({"type": "say", "room": "general", "text": "from json"})["type"] == "ok"
    before = alice.expect("#general carol: from json\n")
    assert "#general alice" not in before, "the sender sees nothing of its own message"
    bob.expect("#general carol: from json\n")

    bob.type("rooms")
    bob.expect("#general (3 members)\n")
    bob.type("members #general")
    bob.type("message nobody .")  # its known reply marks where the list ends, since replies come in order
    assert sorted(bob.expect("Error. Invalid user\n").splitlines()) == ["alice", "bob", "carol"]


def test_moderation_and_errors_over_a_raw_socket(server):
    alice = text_login(server, "alice", "wonder")
    bob = text_login(server, "bob", "builder")
    alice.type("join r")
    alice.expect("You created #r\n")
    bob.type("join r")
    bob.expect("You joined #r\n")

    bob.type("kick r alice")
    bob.expect("Error. Only the owner of #r can do that\n")
    alice.type("kick #r bob")
    alice.expect("bob was removed from #r\n")
    bob.expect("You were removed from #r by alice\n")
    alice.type("kick r bob")
    alice.expect("Error. bob is not in #r\n")
    bob.type("say r hello?")
    bob.expect("Error. You are not in #r\n")
    bob.type("join r")
    bob.expect("You joined #r\n")
    alice.expect("bob joined #r\n")

    alice.type("ban r bob")
    alice.expect("bob is banned from #r\n")
    bob.expect("You were banned from #r by alice\n")
    bob.type("join #r")
    bob.expect("Error. You are banned from #r\n")
    alice.type("ban r alice")
    alice.expect("Error. Cannot ban self\n")
    alice.type("unban r nobody")
    alice.expect("Error. Invalid user\n")
    alice.type("unban r bob")
    alice.expect("bob is unbanned from #r\n")
    bob.type("join r")
    bob.expect("You joined #r\n")

    bob.type("join bad.name")
    bob.expect("Error. Invalid room\n")
    bob.type("members nowhere")
    bob.expect("Error. You are not in #nowhere\n")
    for line in ["join", "say r", "kick r", "rooms now", "unban r a b"]:
        bob.type(line)
        bob.expect("Error. Invalid command\n")

    # The owner leaves: bob, the only one left, owns the room now.
    alice.type("leave r")
    alice.expect("You left #r\n")
    bob.expect("alice left #r\n")
    bob.type("kick r alice")
    bob.expect("Error. alice is not in #r\n")


def test_blocks_and_the_replay_at_login_over_a_raw_socket(server):
    alice = text_login(server, "alice", "wonder")
    bob = text_login(server, "bob", "builder")
    carol = text_login(server, "carol", "singer")
    for nc, line in [(alice, "You created #r\n"), (bob, "You joined #r\n"), (carol, "You joined #r\n")]:
        nc.type("join r")
        nc.expect(line)
    carol.type("block alice")
    carol.expect("alice is blocked\n")
    alice.type("say r not for carol")
    alice.expect("Your message could not be delivered to some recipients\n")
    bob.expect("#r alice: not for carol\n")

    bob.type("logout")
    assert bob.closed()
    alice.type("say r one")
    alice.type("say r two")
    alice.type("rooms")
    alice.expect("#r (3 members)\n")  # a round trip: both are stored
    bob = text_login(server, "bob", "builder")
    bob.expect("#r alice: one\n#r alice: two\n")
    bob.type("logout")
    assert bob.closed()
    bob = text_login(server, "bob", "builder")
    bob.type("rooms")
    assert bob.expect("#r (3 members)\n") == "", "the replay came once"
    carol.type("rooms")
    assert "not for carol" not in carol.expect("#r (3 members)\n")
