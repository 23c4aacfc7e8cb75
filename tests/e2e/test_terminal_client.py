"""`parley connect`, the terminal client, against the real server, in a pseudo-terminal (and through a pipe).

Covers the login dialogue in every branch (docs/PROTOCOL.md §8.1), a session using every command and error line
of docs/PROTOCOL.md §8.2, offline delivery at the next login, typing while messages arrive, line editing, and how the
client ends: logout, ^D, ^C, lockout, idle timeout, lost connection.
"""
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from parley_harness import PARLEY_BIN, ParleyServer, json_client
from terminal_client import (BACKSPACE, CTRL_C, CTRL_D, LEFT, UP, TerminalClient, assert_printed_above_the_typing,
                             run_piped)

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\nrey jakku\n"
WELCOME = "Welcome to the greatest messaging application ever!"
INVALID = "Error. Invalid command"

# Exit statuses of `parley connect` (its --help says the same).
LOGGED_OUT, LOCKED_OUT, TIMED_OUT, CONNECTION_LOST, QUIT_BEFORE_LOGIN = 0, 1, 2, 3, 4


def listed(client, command):
    """The names a whoelse/whoelsesince command prints. A second command that needs the server
    (`message` to an unknown user) marks where the list ends, since replies come back in order."""
    client.enter(command)
    client.enter("message nobody .")
    printed = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", client.expect("Error. Invalid user"))
    names = [line.strip() for line in re.split(r"[\r\n]", printed)]
    return [name for name in names if name and not name.startswith(">")]


@pytest.fixture
def server():
    s = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    yield s
    s.stop()


@pytest.fixture
def clients():
    started = []

    def start(server, *args):
        client = TerminalClient(*(args or (server.tcp_port,)))
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


# -- The login dialogue (docs/PROTOCOL.md §8.1) ----------------------------------------------------------------

def test_new_user_is_created_welcomed_and_can_log_in_again(server, clients):
    neo = clients(server).login("neo", "matrix", new=True)
    neo.command("logout")
    assert neo.exit_status() == LOGGED_OUT
    again = clients(server).login("neo", "matrix")
    # The new account is at once a valid target of commands.
    hans = clients(server).login("hans", "solo")
    again.expect("hans logged in")
    hans.command("message neo hi neo")
    again.expect("hans: hi neo")


def test_wrong_password_asks_again_then_right_one_works(server, clients):
    yoda = clients(server)
    yoda.expect("Username: ")
    yoda.enter("yoda")
    yoda.expect("Password: ")
    yoda.enter("nope")
    yoda.expect("Invalid Password. Please try again")
    yoda.expect("Password: ")
    yoda.enter("wise")
    yoda.expect(WELCOME)


def test_third_wrong_password_locks_then_already_blocked_then_expires(server, clients):
    leia = clients(server)
    leia.expect("Username: ")
    leia.enter("leia")
    for _ in range(2):
        leia.expect("Password: ")
        leia.enter("wrong")
        leia.expect("Invalid Password. Please try again")
    leia.expect("Password: ")
    leia.enter("wrong")
    leia.expect("Invalid Password. Your account has been blocked. Please try again later")
    assert leia.exit_status() == LOCKED_OUT

    # Even the right password is refused while locked, and the client exits.
    again = clients(server)
    again.expect("Username: ")
    again.enter("leia")
    again.expect("Password: ")
    again.enter("alder")
    again.expect("Your account is blocked due to multiple login failures. Please try again later")
    assert again.exit_status() == LOCKED_OUT

    # A lockout of one user never affects another.
    clients(server).login("luke", "sky")

    # After block_duration (3 s here) a normal login works.
    deadline = time.monotonic() + 8
    while True:
        result = run_piped(server.tcp_port, "leia\nalder\nlogout\n")
        if result.returncode == LOGGED_OUT:
            assert WELCOME in result.stdout
            break
        assert "blocked due to multiple login failures" in result.stdout, result.stdout
        assert time.monotonic() < deadline, "the lockout never expired"
        time.sleep(0.3)


def test_user_already_online_is_asked_for_a_username_again(server, clients):
    clients(server).login("hans", "solo")
    second = clients(server)
    second.expect("Username: ")
    second.enter("hans")
    second.expect("Password: ")
    second.enter("solo")
    second.expect("hans is already logged in")
    second.expect("Username: ")
    # The password is checked first: a wrong one for an online user is an ordinary failure.
    second.enter("hans")
    second.expect("Password: ")
    second.enter("wrong")
    second.expect("Invalid Password. Please try again")
    second.expect("Password: ")
    second.enter("solo")
    second.expect("hans is already logged in")
    second.expect("Username: ")
    second.enter("luke")
    second.expect("Password: ")
    second.enter("sky")
    second.expect(WELCOME)


def test_password_is_not_echoed(server, clients):
    hans = clients(server)
    hans.expect("Username: ")
    hans.enter("hans")
    hans.expect("Password: ")
    hans.enter("solo")
    hans.expect(WELCOME)
    hans.wait_screen(lambda lines: any(WELCOME in line for line in lines))
    assert not any("solo" in line for line in hans.lines())
    assert any(line == "Password:" for line in hans.lines())


def test_end_of_input_before_login_exits(server, clients):
    client = clients(server)
    client.expect("Username: ")
    client.type(CTRL_D)
    assert client.exit_status() == QUIT_BEFORE_LOGIN


def test_host_and_port_form_and_refused_connection(server, clients):
    clients(server, "127.0.0.1", server.tcp_port).login("hans", "solo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = clients(server, "127.0.0.1", closed_port)
    assert refused.exit_status() == CONNECTION_LOST
    assert "cannot connect" in refused.transcript


# -- Every command and error line (docs/PROTOCOL.md §8.2), two users at terminals (and a third over JSON) ------

def test_two_users_every_command_and_error_line(server, clients):
    hans = clients(server).login("hans", "solo")
    luke = clients(server).login("luke", "sky")
    hans.expect("luke logged in")

    # message: the recipient sees it, the sender sees nothing.
    hans.command("message luke hello there, luke", )
    luke.expect("hans: hello there, luke")
    hans.command("message nobody hi", "Error. Invalid user")
    hans.command("message hans hi", "Error. Cannot message self")

    # block, and its errors.
    luke.command("block hans", "hans is blocked")
    luke.command("block hans", "Error. hans is already blocked")
    luke.command("block luke", "Error. Cannot block self")
    luke.command("block nobody", "Error. Invalid user")
    hans.command("message luke are you there", "Your message could not be delivered as the recipient has blocked you")

    # broadcast: leia (a JSON client) gets it, luke (who blocked hans) does not, hans is told.
    with json_client(server, "leia", "alder") as leia:
        hans.expect("leia logged in")
        luke.expect("leia logged in")
        hans.command("broadcast hello everyone", "Your message could not be delivered to some recipients")
        got = leia.wait_for(lambda e: e["type"] == "broadcast")
        assert (got["from"], got["text"]) == ("hans", "hello everyone")

        # whoelse / whoelsesince: luke blocked hans, so hans doesn't see luke; luke sees both.
        assert listed(hans, "whoelse") == ["leia"]
        assert listed(hans, "whoelsesince 60") == ["leia"]
        assert sorted(listed(luke, "whoelse")) == ["hans", "leia"]

        # unblock, and its errors; afterwards messages flow again.
        luke.command("unblock hans", "hans is unblocked")
        luke.command("unblock hans", "Error. hans was not blocked")
        luke.command("unblock luke", "Error. Cannot unblock self")
        luke.command("unblock nobody", "Error. Invalid user")
        hans.command("broadcast hi again")
        luke.expect("hans: hi again")
        assert sorted(listed(hans, "whoelse")) == ["leia", "luke"]

        leia.send({"type": "message", "to": "hans", "text": "from the JSON door"})
        hans.expect("leia: from the JSON door")
        leia.send({"type": "logout"})
        hans.expect("leia logged out")
        luke.expect("leia logged out")

    # whoelsesince keeps a user who logged out inside the window; whoelse doesn't.
    assert sorted(listed(hans, "whoelsesince 60")) == ["leia", "luke"]
    assert listed(hans, "whoelse") == ["luke"]
    hans.command("whoelsesince x", INVALID)
    hans.command("whoelsesince -1", INVALID)

    # Private messaging without a session, and startprivate's errors (the whole P2P story: test_p2p.py).
    hans.command("private luke psst", "Error. Private messaging to luke not enabled")
    hans.command("stopprivate luke", "Error. No private messaging session with luke")
    hans.command("startprivate hans", "Error. Cannot start private messaging with self")
    hans.command("startprivate nobody", "Error. Invalid user")

    # Anything else, and known commands with missing or extra arguments.
    for line in ["whatsthetime", "message", "message luke", "broadcast", "block", "unblock a b",
                 "whoelse now", "whoelsesince", "logout now", "startprivate"]:
        hans.command(line, INVALID)

    # logout: the other sees it, the client exits with 0.
    hans.command("logout")
    assert hans.exit_status() == LOGGED_OUT
    luke.expect("hans logged out")


def test_offline_messages_arrive_at_next_login_in_order_once(server, clients):
    hans = clients(server).login("hans", "solo")
    for text in ["first", "second", "third"]:
        hans.command(f"message rey {text}")
    hans.command("broadcast not stored for anyone offline")
    assert listed(hans, "whoelse") == []  # a round trip: the messages above are stored by now
    rey = clients(server).login("rey", "jakku")
    rey.expect("hans: first")
    rey.expect("hans: second")
    rey.expect("hans: third")
    hans.expect("rey logged in")
    rey.command("logout")
    assert rey.exit_status() == LOGGED_OUT
    assert "not stored" not in rey.transcript

    again = clients(server).login("rey", "jakku")
    assert listed(again, "whoelse") == ["hans"]
    assert "hans: first" not in again.transcript, "offline messages are delivered exactly once"


# -- Typing is never garbled -----------------------------------------------------------------------------------

def test_incoming_line_is_printed_above_the_half_typed_input(server, clients):
    luke = clients(server).login("luke", "sky")
    hans = clients(server).login("hans", "solo")
    luke.expect("hans logged in")
    assert_printed_above_the_typing(luke, "message hans half-ty", "hans: incoming while you type",
                                    lambda: hans.command("message luke incoming while you type"))

    # Finish the line: what was typed before the interruption is all there.
    luke.enter("ped")
    hans.expect("luke: half-typed")


def test_line_editing_backspace_arrows_and_history(server, clients):
    luke = clients(server).login("luke", "sky")
    hans = clients(server).login("hans", "solo")
    # "message hans helo" → left, insert "l" → "hello"; a typo fixed with backspace.
    luke.type("message hans helo" + LEFT + "l")
    luke.type("!x" + BACKSPACE)
    luke.wait_screen(lambda lines: "> message hans hell!o" in lines)
    luke.enter()
    hans.expect("luke: hell!o")
    # Up brings the last line back; editing it and sending works.
    luke.type(UP)
    luke.wait_screen(lambda lines: lines.count("> message hans hell!o") == 2)
    luke.type(BACKSPACE * 6 + "again")
    luke.enter()
    hans.expect("luke: again")


def test_a_long_line_that_wraps_is_redrawn_whole(server, clients):
    luke = clients(server).login("luke", "sky")
    hans = clients(server).login("hans", "solo")
    long_text = "message hans " + "word " * 30  # wider than the 100-column screen
    luke.type(long_text)
    hans.command("message luke ping")

    def typed_rows(lines):
        return "".join(line.ljust(100) for line in lines[lines.index("hans: ping") + 1:]).rstrip()

    # The message and the redrawn input may reach the screen in separate writes: wait until both are there
    # (a screen that never shows the whole input whole fails with the screen printed).
    expected = ("> " + long_text).rstrip()
    lines = luke.wait_screen(lambda lines: "hans: ping" in lines and typed_rows(lines) == expected)
    assert typed_rows(lines) == expected, lines


# -- How the client ends ---------------------------------------------------------------------------------------

def test_ctrl_d_logs_out(server, clients):
    hans = clients(server).login("hans", "solo")
    luke = clients(server).login("luke", "sky")
    hans.type(CTRL_D)
    assert hans.exit_status() == LOGGED_OUT
    luke.expect("hans logged out")


def test_ctrl_c_logs_out_cleanly_even_mid_line(server, clients):
    hans = clients(server).login("hans", "solo")
    luke = clients(server).login("luke", "sky")
    hans.type("message luke never sent")
    hans.type(CTRL_C)
    assert hans.exit_status() == LOGGED_OUT
    luke.expect("hans logged out")
    assert "never sent" not in luke.transcript


def test_idle_timeout_exits_non_zero_with_the_notice(clients):
    s = ParleyServer(block=3, timeout=3, credentials=CREDENTIALS).start()
    try:
        hans = clients(s).login("hans", "solo")
        started = time.monotonic()
        hans.expect("You have been logged out due to inactivity", timeout=10)
        assert hans.exit_status() == TIMED_OUT
        assert time.monotonic() - started < 6
    finally:
        s.stop()


def test_invalid_commands_are_not_activity_but_valid_ones_are(clients):
    s = ParleyServer(block=3, timeout=3, credentials=CREDENTIALS).start()
    try:
        hans = clients(s).login("hans", "solo")
        started = time.monotonic()
        # A valid command (even a failing one) every second keeps hans in for longer than the timeout.
        while time.monotonic() - started < 4.5:
            hans.command("message nobody hi", "Error. Invalid user")
            time.sleep(1)  # pacing the keep-alive commands, not waiting for an outcome
        hans.expect_no_more("inactivity")
        # Invalid commands don't count.
        hans.command("whatsthetime", INVALID)
        hans.expect("You have been logged out due to inactivity", timeout=6)
        assert hans.exit_status() == TIMED_OUT
    finally:
        s.stop()


def test_lost_connection_exits_non_zero(clients):
    s = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    hans = clients(s).login("hans", "solo")
    s.stop()
    hans.expect("Connection to the server was lost")
    assert hans.exit_status() == CONNECTION_LOST


# -- Not a terminal: a pipe or a script ------------------------------------------------------------------------

def test_piped_input_works_line_by_line(server):
    with json_client(server, "luke", "sky") as luke:
        result = run_piped(server.tcp_port,
                           "hans\nsolo\nwhoelse\nmessage luke hi from a script\nfoo\nblock luke\nlogout\n")
        assert result.returncode == LOGGED_OUT, result
        got = luke.wait_for(lambda e: e["type"] == "message")
        assert got["text"] == "hi from a script"
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Username: ", "Password: ", WELCOME], lines
    assert lines[3:] == ["luke", INVALID, "luke is blocked"], lines
    assert "\x1b" not in result.stdout, "no terminal control sequences when the output is not a terminal"


def test_piped_input_ending_logs_out(server):
    with json_client(server, "luke", "sky") as luke:
        result = run_piped(server.tcp_port, "hans\nsolo\nmessage luke bye now")  # no logout, no final newline
        assert result.returncode == LOGGED_OUT, result
        assert luke.wait_for(lambda e: e["type"] == "message")["text"] == "bye now"
        assert luke.wait_for(lambda e: e["type"] == "presence" and e["state"] == "out")["user"] == "hans"


def test_interrupt_when_not_a_terminal_logs_out(server):
    with json_client(server, "luke", "sky") as luke:
        proc = subprocess.Popen([PARLEY_BIN, "connect", str(server.tcp_port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        proc.stdin.write("hans\nsolo\n")
        proc.stdin.flush()
        assert luke.wait_for(lambda e: e["type"] == "presence" and e["state"] == "in")["user"] == "hans"
        # The client has the welcome too (the server tells luke first, maybe before hans's client reads it).
        while WELCOME not in proc.stdout.readline():
            pass
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == LOGGED_OUT
        assert luke.wait_for(lambda e: e["type"] == "presence" and e["state"] == "out")["user"] == "hans"
        proc.stdin.close()
        proc.stdout.close()


def test_piped_lockout_exits_non_zero(server):
    result = run_piped(server.tcp_port, "yoda\na\nb\nc\n")
    assert result.returncode == LOCKED_OUT
    assert result.stdout.count("Invalid Password. Please try again") == 2
    assert "Invalid Password. Your account has been blocked. Please try again later" in result.stdout


# -- A login dialogue outlives the server's login deadline -----------------------------------------------------

def test_connection_closed_at_the_username_prompt_is_reopened(clients):
    """The server closes connections that have not logged in after a while; the person at the prompt goes on.
    A stand-in server closes the first connection at once and answers `lookup` on the second."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def serve():
        first, _ = listener.accept()
        first.close()
        second, _ = listener.accept()
        with second, second.makefile("rwb") as stream:
            request = json.loads(stream.readline())
            seen["request"] = request
            stream.write(json.dumps({"type": "ok", "re": request["id"], "exists": True}).encode() + b"\n")
            stream.flush()
            stream.readline()  # the login; then the stand-in goes away

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = clients(None, port)
        client.expect("Username: ")
        client.enter("hans")
        client.expect("Password: ")
        assert seen["request"]["type"] == "lookup" and seen["request"]["user"] == "hans"
        client.enter("solo")
        client.expect("Connection to the server was lost")
        assert client.exit_status() == CONNECTION_LOST
    finally:
        listener.close()
