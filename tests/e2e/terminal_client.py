"""Drive `parley connect` in a pseudo-terminal, the way a person at a keyboard would.

Each client's output is read with pexpect and also fed to a pyte screen, so a test can assert both on the
stream ("this line was printed") and on what the terminal actually shows ("the half-typed input was redrawn
under the incoming line").
"""
import subprocess
import time

import pexpect
import pyte
import pytest

from parley_harness import PARLEY_BIN

COLUMNS, ROWS = 100, 30
CTRL_C, CTRL_D = "\x03", "\x04"
LEFT, RIGHT, UP, DOWN = "\x1b[D", "\x1b[C", "\x1b[A", "\x1b[B"
BACKSPACE = "\x7f"


class TerminalClient:
    def __init__(self, *args, timeout=10):
        self.child = pexpect.spawn(PARLEY_BIN, ["connect", *map(str, args)], encoding="utf-8",
                                   codec_errors="replace", timeout=timeout, dimensions=(ROWS, COLUMNS))
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.transcript = ""  # everything printed, escape sequences included
        self.position = 0  # where the next expect() starts looking
        self.ended = False

    # -- reading --------------------------------------------------------------------------------------------
    def _read(self, timeout):
        """Reads what the client printed (waiting up to `timeout`); False at the end of its output."""
        if self.ended:
            return False
        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            self.ended = True
            return False
        self.transcript += chunk
        self.stream.feed(chunk)
        return True

    def expect(self, text, timeout=10):
        """Waits until `text` is printed after the previous match; returns what was printed in between."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.transcript.find(text, self.position)
            if found >= 0:
                before = self.transcript[self.position:found]
                self.position = found + len(text)
                return before
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)) and self.ended:
                raise AssertionError(f"never printed {text!r}; after the last match it printed:\n"
                                     f"{self.transcript[self.position:]!r}")

    def expect_no_more(self, text):
        """`text` was not printed since the last match (nothing is waited for)."""
        assert text not in self.transcript[self.position:], self.transcript[self.position:]

    def wait_screen(self, predicate, timeout=10):
        """Reads output until the screen satisfies `predicate(lines)`; returns the screen lines."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if predicate(lines):
                return lines
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)) and self.ended:
                raise AssertionError("screen never matched:\n" + "\n".join(lines))

    def lines(self):
        return [line.rstrip() for line in self.screen.display]

    def cursor(self):
        return self.screen.cursor.y, self.screen.cursor.x

    # -- typing ---------------------------------------------------------------------------------------------
    def type(self, text):
        """Keys without Enter."""
        self.child.send(text)

    def enter(self, line=""):
        """A line and Enter (a terminal sends CR)."""
        self.child.send(line + "\r")

    # -- the dialogue ---------------------------------------------------------------------------------------
    def login(self, user, password, new=False):
        self.expect("Username: ")
        self.enter(user)
        self.expect("This is a new user. Enter a password: " if new else "Password: ")
        self.enter(password)
        self.expect("Welcome to the greatest messaging application ever!")
        return self

    def command(self, line, *expected):
        """Types a command and waits for each expected line in turn; returns the text before the first."""
        self.enter(line)
        before = None
        for text in expected:
            got = self.expect(text)
            before = got if before is None else before
        return before

    def exit_status(self, timeout=10):
        """Waits for the client to end and returns its exit status."""
        deadline = time.monotonic() + timeout
        while self._read(0.5):
            if time.monotonic() > deadline:
                raise AssertionError("the client did not exit; it printed:\n" + self.transcript[self.position:])
        self.child.wait()
        self.child.close()
        return self.child.exitstatus

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)


def run_piped(port, text, timeout=15):
    """`parley connect` with standard input from a pipe (a script), not a terminal."""
    return subprocess.run([PARLEY_BIN, "connect", str(port)], input=text, capture_output=True, text=True,
                          timeout=timeout)


def login_fixture(passwords):
    """A `login(server, user)` fixture for a test module: a terminal client logged in with the password from
    `passwords`, named after its user, closed after the test."""
    @pytest.fixture
    def login():
        started = []

        def start(server, user):
            client = TerminalClient(server.tcp_port).login(user, passwords[user])
            client.name = user
            started.append(client)
            return client

        yield start
        for client in started:
            client.close()

    return login


def assert_printed_above_the_typing(typist, partial, incoming, send):
    """`typist` has typed `partial` without Enter; `send()` makes the line `incoming` arrive. It must be printed
    above the input line, which still holds `partial` with the cursor at its end."""
    typist.type(partial)
    typist.wait_screen(lambda lines: any(line == f"> {partial}" for line in lines))
    send()
    lines = typist.wait_screen(lambda lines: any(line == incoming for line in lines))
    text = [line for line in lines if line]
    assert text[-2:] == [incoming, f"> {partial}"], lines
    row, column = typist.cursor()
    assert lines[row] == f"> {partial}" and column == len(f"> {partial}")
