"""The server's plain-text mode over a raw socket, the way `nc localhost <port>` users meet it
(docs/PROTOCOL.md §8)."""
import socket
import time

import pytest

from parley_harness import ParleyServer, json_client


class RawText:
    """A socket that sends typed lines and reads whatever text the server writes, like nc."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.seen = ""

    def type(self, line, ending="\n"):
        self.sock.sendall((line + ending).encode())

    def expect(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"closed before {text!r}; saw {self.seen!r}")
            self.seen += chunk.decode()
        before, _, self.seen = self.seen.partition(text)
        return before

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return True
                self.seen += chunk.decode()
        except socket.timeout:
            return False


@pytest.fixture
def server():
    s = ParleyServer(block=2, timeout=30, credentials="hans solo\nluke sky\n").start()
    yield s
    s.stop()


def test_a_text_client_gets_the_whole_dialogue(server):
    luke = json_client(server, "luke", "sky")
    nc = RawText(server.tcp_port)
    nc.type("")  # an empty first line asks for the username
    nc.expect("Username: ")
    nc.type("hans", "\r\n")  # telnet sends CRLF
    nc.expect("Password: ")
    nc.type("nope")
    nc.expect("Invalid Password. Please try again\nPassword: ")
    nc.type("solo")
    nc.expect("Welcome to the greatest messaging application ever!\n")
    assert luke.wait_for(lambda e: e["type"] == "presence")["user"] == "hans"
    nc.type("whoelse")
    nc.expect("luke\n")
    nc.type("message luke hi from nc")
    assert luke.wait_for(lambda e: e["type"] == "message")["text"] == "hi from nc"
    luke.request({"type": "message", "to": "hans", "text": "hi back"})
    nc.expect("luke: hi back\n")
    nc.type("broadcast to all")
    assert luke.wait_for(lambda e: e["type"] == "broadcast")["text"] == "to all"
    nc.type("whatsthetime")
    nc.expect("Error. Invalid command\n")
    nc.type("block luke")
    nc.expect("luke is blocked\n")
    nc.type("startprivate luke")
    nc.expect("Error. Private messaging with luke is not possible from this client\n")
    nc.type("unblock luke")
    nc.expect("luke is unblocked\n")
    nc.type("logout")
    assert nc.closed()
    assert luke.wait_for(lambda e: e["type"] == "presence" and e["state"] == "out")["user"] == "hans"


def test_new_user_and_lockout_in_text_mode(server):
    nc = RawText(server.tcp_port)
    nc.type("rey")
    nc.expect("This is a new user. Enter a password: ")
    nc.type("jakku")
    nc.expect("Welcome to the greatest messaging application ever!\n")
    bad = RawText(server.tcp_port)
    bad.type("hans")
    for _ in range(2):
        bad.expect("Password: ")
        bad.type("wrong")
    bad.expect("Password: ")
    bad.type("wrong")
    bad.expect("Invalid Password. Your account has been blocked. Please try again later\n")
    assert bad.closed()
    again = RawText(server.tcp_port)
    again.type("hans")
    again.expect("Password: ")
    again.type("solo")
    again.expect("Your account is blocked due to multiple login failures. Please try again later\n")
    assert again.closed()
