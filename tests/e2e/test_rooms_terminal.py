"""`parley connect` and group rooms (docs/PROTOCOL.md §12), against the real server, in a pseudo-terminal.

Every room command and its lines on every side: create and join, `say` seen by the others as `#room sender: text`,
`rooms`, `members`, kick and ban (the owner's line, the removed member's line, the others' line), unban, leaving
with the room handed to the longest-standing member; room messages missed while away replayed at the next login
exactly once, and after a crash only what the screen never showed (each room's cursor is acknowledged); a member
who blocked the sender; bad names, non-members and wrong arguments; and a room message arriving while a line is
half typed.
"""
import os
import re
import signal
import time

import pytest

from parley_harness import ParleyServer
from terminal_client import TerminalClient, assert_printed_above_the_typing, login_fixture

WELCOME = "Welcome to the greatest messaging application ever!"

CREDENTIALS = "alice wonder\nbob builder\ncarol singer\ndave diver\n"
PASSWORDS = {"alice": "wonder", "bob": "builder", "carol": "singer", "dave": "diver"}
INVALID = "Error. Invalid command"
LOGGED_OUT = 0
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def server():
    s = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    yield s
    s.stop()


login = login_fixture(PASSWORDS)


def printed_lines(client, command):
    """The lines a command prints (`members`, `rooms`). A second command whose reply is known (`message` to an
    unknown user) marks where they end, since replies come back in order."""
    client.enter(command)
    client.enter("message nobody .")
    printed = ESCAPES.sub("", client.expect("Error. Invalid user"))
    lines = [line.strip() for line in re.split(r"[\r\n]", printed)]
    return [line for line in lines if line and not line.startswith(">")]


def room_of_three(server, login, room="general"):
    """alice creates `room`, then bob and carol join, in that order (so bob is the longest-standing after alice)."""
    alice, bob, carol = login(server, "alice"), login(server, "bob"), login(server, "carol")
    alice.command(f"join #{room}", f"You created #{room}")
    bob.command(f"join {room}", f"You joined #{room}")
    alice.expect(f"bob joined #{room}")
    carol.command(f"join #{room}", f"You joined #{room}")
    alice.expect(f"carol joined #{room}")
    bob.expect(f"carol joined #{room}")
    return alice, bob, carol


def test_create_join_say_rooms_members_and_leave_with_handover(server, login):
    alice, bob, carol = room_of_three(server, login)
    alice.command("say general hi")
    bob.expect("#general alice: hi")
    carol.expect("#general alice: hi")
    carol.command("say #general hello  back, with spaces ")
    alice.expect("#general carol: hello  back, with spaces ")
    bob.expect("#general carol: hello  back, with spaces ")

    assert printed_lines(alice, "rooms") == ["#general (3 members)"]
    assert "#general alice: hi" not in alice.transcript, "the sender sees nothing of its own message"
    assert sorted(printed_lines(bob, "members #general")) == ["alice", "bob", "carol"]
    bob.command("join general", "Error. You are already in #general")
    bob.command("join side", "You created #side")
    assert sorted(printed_lines(bob, "rooms")) == ["#general (3 members)", "#side (1 members)"]

    # The owner leaves: the others see it, and the room passes to bob, who joined before carol.
    alice.command("leave #general", "You left #general")
    bob.expect("alice left #general")
    carol.expect("alice left #general")
    carol.command("kick general bob", "Error. Only the owner of #general can do that")
    bob.command("kick general alice", "Error. alice is not in #general")
    assert printed_lines(alice, "rooms") == ["You are in no rooms"]
    alice.command("say general still there?", "Error. You are not in #general")
    alice.command("leave general", "Error. You are not in #general")
    alice.command("members general", "Error. You are not in #general")
    assert "still there?" not in bob.transcript + carol.transcript


def test_kick_ban_and_unban_seen_from_every_side(server, login):
    alice, bob, carol = room_of_three(server, login, room="r")
    bob.command("kick r carol", "Error. Only the owner of #r can do that")
    bob.command("ban #r carol", "Error. Only the owner of #r can do that")
    alice.command("kick r alice", "Error. Cannot remove self")
    alice.command("ban r alice", "Error. Cannot ban self")
    alice.command("ban r nobody", "Error. Invalid user")

    alice.command("kick #r carol", "carol was removed from #r")
    carol.expect("You were removed from #r by alice")
    bob.expect("carol left #r")
    alice.command("kick r carol", "Error. carol is not in #r")
    carol.command("say r hello?", "Error. You are not in #r")

    # A kick is not a ban: carol may come back.
    carol.command("join r", "You joined #r")
    alice.expect("carol joined #r")
    bob.expect("carol joined #r")

    alice.command("ban r carol", "carol is banned from #r")
    carol.expect("You were banned from #r by alice")
    bob.expect("carol left #r")
    carol.command("join #r", "Error. You are banned from #r")
    assert sorted(printed_lines(bob, "members r")) == ["alice", "bob"]

    alice.command("unban r carol", "carol is unbanned from #r")
    carol.command("join r", "You joined #r")
    bob.expect("carol joined #r")
    carol.command("say r back again")
    alice.expect("#r carol: back again")
    bob.expect("#r carol: back again")


def test_missed_room_messages_come_at_the_next_login_exactly_once(server, login):
    alice, bob = login(server, "alice"), login(server, "bob")
    alice.command("join r", "You created #r")
    bob.command("join r", "You joined #r")
    alice.expect("bob joined #r")
    bob.command("logout")
    assert bob.exit_status() == LOGGED_OUT
    alice.expect("bob logged out")
    for text in ["one", "two", "three"]:
        alice.command(f"say r {text}")
    assert printed_lines(alice, "rooms") == ["#r (2 members)"]  # a round trip: the messages are stored

    back = login(server, "bob")
    for text in ["one", "two", "three"]:
        back.expect(f"#r alice: {text}")
    # Live messages follow the replay, so this one marks its end.
    alice.command("say r four")
    back.expect("#r alice: four")
    for text in ["one", "two", "three", "four"]:
        assert back.transcript.count(f"#r alice: {text}") == 1
    back.command("logout")
    assert back.exit_status() == LOGGED_OUT

    again = login(server, "bob")
    alice.command("say r five")
    again.expect("#r alice: five")
    for text in ["one", "two", "three", "four"]:
        assert f"#r alice: {text}" not in again.transcript, "room messages are replayed exactly once"


def log_in_while_the_old_session_lingers(client, user, tries=30):
    """Logs in, asking again while the server has not yet seen a killed client's connection go."""
    for _ in range(tries):
        client.expect("Username: ")
        client.enter(user)
        client.expect("Password: ")
        client.enter(PASSWORDS[user])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rest = client.transcript[client.position:]
            if WELCOME in rest:
                client.expect(WELCOME)
                return client
            if f"{user} is already logged in" in rest:
                client.expect(f"{user} is already logged in")
                time.sleep(0.2)
                break
            client._read(0.2)
        else:
            raise AssertionError("no answer to the login")
    raise AssertionError(f"{user} stayed logged in")


def test_a_killed_client_gets_again_only_what_it_never_acknowledged(server, login):
    alice, bob = login(server, "alice"), login(server, "bob")
    alice.command("join r", "You created #r")
    bob.command("join r", "You joined #r")
    alice.command("say r seen before")
    bob.expect("#r alice: seen before")
    time.sleep(0.5)  # well past the coalesced ack of what bob's screen showed
    # Stopped, bob reads nothing: these reach its socket but are never shown, so never acknowledged.
    os.kill(bob.child.pid, signal.SIGSTOP)
    alice.command("say r unseen 1")
    alice.command("say r unseen 2")
    assert "#r (2 members)" in printed_lines(alice, "rooms")  # a round trip: both are stored and sent
    os.kill(bob.child.pid, signal.SIGKILL)
    bob.child.close(force=True)

    again = TerminalClient(server.tcp_port)
    try:
        log_in_while_the_old_session_lingers(again, "bob")
        again.expect("#r alice: unseen 1")
        again.expect("#r alice: unseen 2")
        alice.command("say r live")
        again.expect("#r alice: live")
        assert "#r alice: seen before" not in again.transcript, "what was shown and acknowledged stays shown"
        assert again.transcript.count("#r alice: unseen 1") == 1
    finally:
        again.close()


def test_a_member_who_blocked_the_sender_does_not_get_it(server, login):
    alice, bob, carol = room_of_three(server, login, room="r")
    carol.command("block alice", "alice is blocked")
    alice.command("say r only for bob", "Your message could not be delivered to some recipients")
    bob.expect("#r alice: only for bob")
    bob.command("say r from bob")
    carol.expect("#r bob: from bob")
    assert "only for bob" not in carol.transcript
    # Nobody blocked bob: his message reached everyone, so he was told nothing.
    alice.expect("#r bob: from bob")
    assert "could not be delivered" not in bob.transcript


def test_bad_room_names_non_members_and_wrong_arguments(server, login):
    alice = login(server, "alice")
    for name in ["bad.name", "#", "sp@ce", "x" * 33]:
        alice.command(f"join {name}", "Error. Invalid room")
    for command in ["say nowhere hi", "members #nowhere", "leave nowhere"]:
        alice.command(command, "Error. You are not in #nowhere")
    alice.command("kick nowhere bob", "Error. Only the owner of #nowhere can do that")
    for command in ["join", "join a b", "say r", "rooms r", "members", "kick r", "ban r bob extra", "unban"]:
        alice.command(command, INVALID)
    assert printed_lines(alice, "rooms") == ["You are in no rooms"]


def test_a_room_message_is_printed_above_the_half_typed_input(server, login):
    alice, bob = login(server, "alice"), login(server, "bob")
    alice.command("join r", "You created #r")
    bob.command("join r", "You joined #r")
    alice.expect("bob joined #r")
    assert_printed_above_the_typing(bob, "say r half-ty", "#r alice: incoming while you type",
                                    lambda: alice.command("say r incoming while you type"))
    bob.enter("ped")
    alice.expect("#r bob: half-typed")
