"""Peer-to-peer private chat between real `parley connect` clients in pseudo-terminals (docs/PROTOCOL.md §9).

The whole story: ask, accept or decline, private lines both ways, stop from either side, logout and idle timeout
concluding the chat, a block after the start leaving it alone, a peer that vanishes, several sessions at once,
server commands throughout, `no_p2p` for a text-mode user. Then the listener's rules, driven by a script posing
as the asker (tokens are one-time and bound to the user; bad input closes only that link), and the proof that
private text never passes through the server: the server runs under strace and its every read is searched.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from parley_harness import PARLEY_BIN, ParleyNode, ParleyServer, json_client
from terminal_client import login_fixture

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\n"
PASSWORDS = dict(line.split() for line in CREDENTIALS.splitlines())
TIMED_OUT, LOGGED_OUT = 2, 0


@pytest.fixture
def server():
    s = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    yield s
    s.stop()


login = login_fixture(PASSWORDS)


def expect_lines(client, *lines, timeout=10):
    """Waits until every one of `lines` has been printed as a whole line, in any order, after the last match."""
    deadline = time.monotonic() + timeout
    patterns = [re.compile(r"(?:^|[\r\n]|\x1b\[[0-9;]*[A-Za-z])" + re.escape(line) + r"\r?\n") for line in lines]
    while True:
        found = [p.search(client.transcript, max(0, client.position - 1)) for p in patterns]
        if all(found):
            client.position = max(m.end() for m in found)
            return
        if time.monotonic() > deadline or not client._read(0.5) and client.ended:
            missing = [line for line, m in zip(lines, found) if not m]
            raise AssertionError(f"{client.name} never printed {missing!r}; after the last match:\n"
                                 f"{client.transcript[client.position:]!r}")


def start_session(asker, target):
    """`asker` asks, `target` answers y, and a first private line crosses the new link."""
    asker.command(f"startprivate {target.name}", f"Start private messaging with {target.name}")
    target.expect(f"{asker.name} would like to private message, enter y or n: ")
    target.enter("y")
    asker.expect(f"{target.name} accepts private messaging")
    asker.command(f"private {target.name} hello from {asker.name}")
    target.expect(f"{asker.name}(private): hello from {asker.name}")


# -- The whole story -------------------------------------------------------------------------------------------

def test_accept_then_private_lines_both_ways(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    hans.expect("luke logged in")
    hans.command("startprivate luke", "Start private messaging with luke")
    # The question takes the place of the prompt on luke's screen.
    luke.wait_screen(lambda lines: any(line == "hans would like to private message, enter y or n:" for line in lines))
    luke.enter("y")
    hans.expect("luke accepts private messaging")
    hans.command("private luke are you there, luke?")
    luke.expect("hans(private): are you there, luke?")
    luke.command("private hans   yes, with  spaces kept")
    hans.expect("luke(private):   yes, with  spaces kept")
    # The sender sees nothing of their own private lines.
    assert "hans(private)" not in hans.transcript


def test_decline_and_the_errors_that_ask_no_one(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    hans.command("startprivate luke", "Start private messaging with luke")
    luke.expect("hans would like to private message, enter y or n: ")
    luke.enter("n")
    hans.expect("luke declines private messaging")
    hans.command("private luke still there?", "Error. Private messaging to luke not enabled")
    # The order of checks of docs/PROTOCOL.md §9.2; in none of them is luke asked.
    hans.command("startprivate hans", "Error. Cannot start private messaging with self")
    hans.command("startprivate nobody", "Error. Invalid user")
    hans.command("startprivate yoda", "Error. yoda is offline")
    luke.command("block hans", "hans is blocked")
    since_block = luke.position
    hans.command("startprivate luke", "Error. luke has blocked you")
    luke.command("whoelse", "hans")
    assert "would like to private message" not in luke.transcript[since_block:]
    # Anything but y or n runs as a command and the question is asked again.
    luke.command("unblock hans", "hans is unblocked")
    hans.command("startprivate luke", "Start private messaging with luke")
    luke.expect("hans would like to private message, enter y or n: ")
    luke.enter("whoelse")
    expect_lines(luke, "hans")
    luke.expect("hans would like to private message, enter y or n: ")
    luke.enter("N")
    hans.expect("luke declines private messaging")


def test_stop_from_the_side_that_did_not_start_then_start_again(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    start_session(hans, luke)
    luke.command("stopprivate hans")
    hans.expect("luke stopped private messaging")
    hans.command("private luke hello?", "Error. Private messaging to luke not enabled")
    luke.command("stopprivate hans", "Error. No private messaging session with hans")
    hans.command("stopprivate luke", "Error. No private messaging session with luke")
    # After a session ends a new one can start; this time the asker stops it.
    start_session(luke, hans)
    luke.command("stopprivate hans")
    hans.expect("luke stopped private messaging")


def test_logout_concludes_the_private_chat(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    start_session(hans, luke)
    luke.command("logout")
    assert luke.exit_status() == LOGGED_OUT
    expect_lines(hans, "luke logged out, private chat concluding", "luke logged out")
    hans.command("private luke bye", "Error. Private messaging to luke not enabled")


def test_idle_timeout_concludes_and_private_commands_are_activity(login):
    s = ParleyServer(block=3, timeout=3, credentials=CREDENTIALS).start()
    try:
        hans, luke = login(s, "hans"), login(s, "luke")
        start_session(hans, luke)
        # hans sends nothing more and times out; luke only uses P2P commands, each of which tells the server.
        deadline = time.monotonic() + 15
        n = 0
        while "You have been logged out due to inactivity" not in hans.transcript:
            assert time.monotonic() < deadline, "hans never timed out"
            n += 1
            luke.command(f"private hans ping {n}")
            hans._read(0.7)  # paces the pings while watching for hans's timeout
        assert hans.exit_status() == TIMED_OUT
        expect_lines(luke, "hans logged out, private chat concluding", "hans logged out")
        assert "inactivity" not in luke.transcript, "luke's private commands were not counted as activity"
        luke.command("stopprivate hans", "Error. No private messaging session with hans")
    finally:
        s.stop()


def test_a_block_after_the_start_keeps_the_session(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    start_session(hans, luke)
    luke.command("block hans", "hans is blocked")
    hans.command("message luke through the server?", "Your message could not be delivered as the recipient has blocked you")
    hans.command("private luke but this still works")
    luke.expect("hans(private): but this still works")
    luke.command("private hans and back")
    hans.expect("luke(private): and back")


def test_a_peer_that_vanishes_is_no_longer_reachable(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    start_session(hans, luke)
    os.kill(luke.child.pid, signal.SIGKILL)
    expect_lines(hans, "Error. luke is no longer reachable", "luke logged out")
    # docs/PROTOCOL.md §9.3: the next `private` to the lost peer says it too; then the session is simply gone.
    hans.command("private luke anyone?", "Error. luke is no longer reachable")
    hans.command("private luke anyone?", "Error. Private messaging to luke not enabled")
    hans.command("whoelse")
    hans.command("broadcast still here")


def test_several_sessions_at_once_and_server_commands_throughout(server, login):
    hans, luke, leia = login(server, "hans"), login(server, "luke"), login(server, "leia")
    start_session(hans, luke)
    start_session(leia, hans)
    start_session(luke, leia)
    hans.command("private luke to luke")
    hans.command("private leia to leia")
    luke.expect("hans(private): to luke")
    leia.expect("hans(private): to leia")
    leia.command("private luke leia to luke")
    luke.expect("leia(private): leia to luke")
    # Server commands keep working, on both ends of a session.
    hans.command("message luke via the server")
    luke.expect("hans: via the server")
    luke.command("broadcast to all")
    expect_lines(hans, "luke: to all")
    expect_lines(leia, "luke: to all")
    # Ending one session leaves the others.
    hans.command("stopprivate luke")
    luke.expect("hans stopped private messaging")
    hans.command("private leia still on")
    leia.expect("hans(private): still on")
    luke.command("private leia and us too")
    leia.expect("luke(private): and us too")


def test_the_question_keeps_what_was_being_typed(server, login):
    hans, luke = login(server, "hans"), login(server, "luke")
    luke.type("message hans are you")
    luke.wait_screen(lambda lines: any(line.endswith("> message hans are you") for line in lines))
    hans.command("startprivate luke", "Start private messaging with luke")
    luke.wait_screen(lambda lines: any(
        line == "hans would like to private message, enter y or n: message hans are you" for line in lines))
    # Not an answer: the line runs as the command it is, and the question comes back.
    luke.enter(" there")
    hans.expect("luke: are you there")
    luke.wait_screen(lambda lines: lines[luke.cursor()[0]] == "hans would like to private message, enter y or n:")
    luke.enter("y")
    hans.expect("luke accepts private messaging")
    luke.wait_screen(lambda lines: lines[luke.cursor()[0]] == ">")


# -- Mixed pairs -----------------------------------------------------------------------------------------------

class RawText:
    """A text-mode user over a raw socket, like `nc`."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.seen = ""

    def type(self, line):
        self.sock.sendall((line + "\n").encode())

    def expect(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(4096)
            assert chunk, f"closed before {text!r}; saw {self.seen!r}"
            self.seen += chunk.decode()
        self.seen = self.seen.partition(text)[2]


def test_text_mode_and_browser_users_cannot_pair_with_a_terminal(server, login):
    hans = login(server, "hans")
    leia = RawText(server.tcp_port)
    leia.type("leia")
    leia.expect("Password: ")
    leia.type("alder")
    leia.expect("Welcome to the greatest messaging application ever!")
    hans.expect("leia logged in")
    hans.command("startprivate leia", "Error. Private messaging with leia is not possible from this client")
    leia.type("startprivate hans")
    leia.expect("Error. Private messaging with hans is not possible from this client")
    leia.sock.close()
    # A browser (WebRTC) and a terminal (TCP) can't pair either.
    with json_client(server) as yoda:
        assert yoda.login("yoda", "wise", webrtc=True)["type"] == "welcome"
        hans.expect("yoda logged in")
        hans.command("startprivate yoda", "Error. Private messaging with yoda is not possible from this client")
        reply = yoda.request({"type": "startprivate", "user": "hans"})
        assert (reply["type"], reply["code"]) == ("error", "no_p2p"), reply


# -- The listener's rules, with a script posing as the asker -----------------------------------------------

def read_line(sock, timeout=10):
    """One line the peer sent, or None when it closed the link."""
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = sock.recv(1)
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return json.loads(data)


def closed_by_peer(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


def test_the_listener_takes_only_its_token_once_and_survives_bad_input(server, login):
    luke = login(server, "luke")
    with json_client(server) as hans:
        assert hans.login("hans", "solo", p2pPort=9)["type"] == "welcome"
        assert hans.request({"type": "startprivate", "user": "luke"})["type"] == "ok"
        luke.expect("hans would like to private message, enter y or n: ")
        luke.enter("y")
        accepted = hans.wait_for(lambda e: e["type"] == "private_accepted")
        address, token = (accepted["host"], accepted["port"]), accepted["token"]

        def connect(*lines):
            sock = socket.create_connection(address, timeout=10)
            try:
                for line in lines:
                    sock.sendall(line if isinstance(line, bytes) else (json.dumps(line) + "\n").encode())
            except OSError:
                pass  # closed by luke half-way through: what the over-long line is meant to get
            return sock

        hello = {"type": "p2p_hello", "from": "hans", "token": token}
        # Each of these is closed; the wrong tokens after the 5 s hold, so they all wait at once.
        hostile = [
            connect(b"not json at all\n"),
            connect({"type": "private", "text": "no hello first"}),
            connect(b"{" + b"x" * 70_000),
            connect({"type": "p2p_hello", "from": "hans", "token": "forged"}),
            connect({"type": "p2p_hello", "from": "leia", "token": token}),
        ]
        started = time.monotonic()
        for sock in hostile:
            assert closed_by_peer(sock)
            sock.close()
        assert time.monotonic() - started < 9

        # The real hello works, once.
        link = connect(hello, {"type": "private", "text": "hi from a script"})
        luke.expect("hans(private): hi from a script")
        # Control characters can't reach luke's terminal.
        link.sendall(b'{"type":"private","text":"\\u001b[2Jno screen tricks\\r"}\n')
        luke.expect("hans(private): \ufffd[2Jno screen tricks\ufffd")
        luke.command("private hans hi yourself")
        assert read_line(link) == {"type": "private", "text": "hi yourself"}
        replay = connect(hello)
        assert closed_by_peer(replay)
        replay.close()

        # A broken line from an authenticated peer closes its link, and only that.
        link.sendall(b"{broken\n")
        assert closed_by_peer(link)
        link.close()
        luke.expect("Error. hans is no longer reachable")
        luke.command("whoelse", "hans")
        assert hans.request({"type": "message", "to": "luke", "text": "server still fine"})["type"] == "ok"
        luke.expect("hans: server still fine")


def test_stopprivate_reaches_a_script_peer(server, login):
    luke = login(server, "luke")
    with json_client(server) as hans:
        assert hans.login("hans", "solo", p2pPort=9)["type"] == "welcome"
        hans.request({"type": "startprivate", "user": "luke"})
        luke.expect("hans would like to private message, enter y or n: ")
        luke.enter("y")
        accepted = hans.wait_for(lambda e: e["type"] == "private_accepted")
        link = socket.create_connection((accepted["host"], accepted["port"]), timeout=10)
        link.sendall((json.dumps({"type": "p2p_hello", "from": "hans", "token": accepted["token"]}) + "\n").encode())
        link.sendall(b'{"type":"private","text":"ready"}\n')
        luke.expect("hans(private): ready")
        luke.command("stopprivate hans")
        assert read_line(link) == {"type": "stopprivate"}
        assert read_line(link) is None
        link.close()


# -- Private text never passes through the server ---------------------------------------------------------

class TracedServer(ParleyNode):
    """The server under strace, recording every read(2)-family call with its whole buffer."""

    def start(self):
        self.trace = os.path.join(self.dir, "reads.trace")
        cmd = ["strace", "-f", "-qq", "-s", "1000000", "-e", "trace=read,readv,recvfrom,recvmsg", "-o", self.trace,
               PARLEY_BIN, "serve", "0", *self.args, "--http-port", "0", "--data-dir", self.data_dir,
               "--credentials", self.credentials, *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.dir, "server.log"), "ab"), text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("parley listening"), line
        self.tcp_port = int(re.search(r"tcp=(\d+)", line).group(1))
        return self

    def stop(self, sig=signal.SIGTERM, wait=20):
        # SIGTERM to strace would only detach it: stop the traced server, and strace ends with it.
        if self.proc.poll() is None:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                for child in f.read().split():
                    os.kill(int(child), sig)
            self.proc.wait(wait)

    def everything_read(self):
        with open(self.trace, errors="replace") as f:
            return f.read()

    def full_log(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return f.read()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/bootstrap")
@pytest.mark.single_node  # traces the one server process
def test_private_text_never_reaches_the_server(login):
    s = TracedServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    secrets = ["s3cretfromhans" + os.urandom(6).hex(), "s3cretfromluke" + os.urandom(6).hex()]
    control = "publicmarker" + os.urandom(6).hex()
    try:
        hans, luke = login(s, "hans"), login(s, "luke")
        start_session(hans, luke)
        hans.command(f"private luke {secrets[0]}")
        luke.expect(f"hans(private): {secrets[0]}")
        luke.command(f"private hans {secrets[1]}")
        hans.expect(f"luke(private): {secrets[1]}")
        # The control: a line that does go through the server must show up in what the server read.
        hans.command(f"message luke {control}")
        luke.expect(f"hans: {control}")
        hans.command("stopprivate luke")
        luke.expect("hans stopped private messaging")
    finally:
        s.stop()
    read = s.everything_read()
    assert control in read, "the trace did not capture the server's reads"
    assert '\\"type\\":\\"activity\\"' in read, "the P2P commands did not tell the server about activity"
    for secret in secrets:
        assert secret not in read, "private text was read by the server"
        assert secret not in s.full_log(), "private text is in the server's log"
    # Nor is it stored anywhere in the server's data folder.
    for folder, _, files in os.walk(s.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            assert all(secret.encode() not in data for secret in secrets), name
