"""docs/PROTOCOL.md stays true: every error code, request type, reply and event type, and terminal text of the
code is documented, and every runnable (`jsonl`) example is played against a real server and must match.

A runnable block (```jsonl or ```text-session) holds lines `NAME> JSON` (the client NAME sends a line on its own
TCP connection, opened at its first line) and `NAME< JSON` (the next line NAME's connection receives must match).
`(close)` closes a client's connection and `(closed)` expects the server to close it. A string `"<name>"` matches
whatever the server sent and binds it: the same name later in the block must be the same value, and in a sent
line it is replaced by that value. A text-session block adds one text-mode connection: `C: line` is typed on it,
`S: text` is what the server must write next, exactly (followed by a line end unless the text ends in a space,
as prompts do). After the last line no connection may hold unread output.
"""
import json
import os
import re
import select
import shutil
import socket
import time

import pytest

from parley_harness import cluster_mode, ParleyServer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PROTOCOL_MD = os.path.join(ROOT, "docs", "PROTOCOL.md")
PROTOCOL_SOURCES = os.path.join(ROOT, "Sources", "ChatCore", "Protocol")
CLIENT_SESSION = os.path.join(ROOT, "Sources", "CLI", "Connect", "ClientSession.swift")
CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\n"
PLACEHOLDER = re.compile(r"^<([a-z][a-z0-9-]*)>$")
STEP = re.compile(r"^([a-z][a-z0-9]*)([<>]) (.*)$")
TEXT_STEP = re.compile(r"^([CS]):(?: (.*))?$")
REPLY_TIMEOUT = 5.0
QUIET_PERIOD = 0.1


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def doc():
    return read(PROTOCOL_MD)


def section(text, heading_prefix):
    """The text of the `## ` section whose heading starts with heading_prefix, up to the next `## `."""
    match = re.search(rf"^## {re.escape(heading_prefix)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/PROTOCOL.md has no section '## {heading_prefix}'"
    return match.group(1)


# -- (a) every code, request, reply and event of the code is documented ---------------------------------------

def error_codes():
    source = read(os.path.join(PROTOCOL_SOURCES, "ErrorCode.swift"))
    body = re.search(r"enum ErrorCode\b[^{]*\{(.*?)\n\}", source, re.S).group(1)
    codes = []
    for name, raw in re.findall(r"case\s+`?(\w+)`?(?:\s*=\s*\"([^\"]+)\")?", body):
        codes.append(raw or name)
    assert len(codes) >= 20, codes
    return codes


def request_types():
    source = read(os.path.join(PROTOCOL_SOURCES, "RequestDecoder.swift"))
    types = re.findall(r'case\s+"(\w+)"\s*:', source)
    assert len(types) >= 15, types
    return types


def server_types():
    source = read(os.path.join(PROTOCOL_SOURCES, "ServerEvent.swift"))
    types = re.findall(r'w\.field\("type",\s*"(\w+)"\)', source)
    assert len(types) >= 14, types
    return types


def test_every_error_code_is_in_the_error_table():
    table = section(doc(), "6. Error codes")
    listed = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    missing = [code for code in error_codes() if code not in listed]
    assert not missing, f"error codes missing from PROTOCOL.md §6: {missing}"
    stale = sorted(listed - set(error_codes()))
    assert not stale, f"PROTOCOL.md §6 lists codes the server does not have: {stale}"


def test_every_request_type_is_documented_with_an_example():
    text = doc()
    table = section(text, "4. Requests and replies")
    for request in request_types():
        assert f"`{request}`" in table, f"request {request} is not described in PROTOCOL.md §4"
        assert f'"type":"{request}"' in text, f"request {request} has no JSON example in PROTOCOL.md"


def test_every_reply_and_event_type_is_documented():
    text = doc()
    for kind in server_types():
        assert f'"type":"{kind}"' in text, f"{kind} has no JSON example in PROTOCOL.md"
    events = section(text, "5. Events")
    for kind in server_types():
        # Replies, not events; `inbox` answers only the REST inbox (docs/PROTOCOL.md §4.1 says so).
        if kind not in ("ok", "users", "history", "welcome", "error", "bye", "inbox"):
            assert f"| `{kind}` |" in events, f"event {kind} is missing from PROTOCOL.md §5"


# -- (b) every terminal text appears verbatim ---------------------------------------------------------------

def swift_texts(path, enum):
    """Fixed texts (`static let x = "..."`) and templates (`static func x(_ user: String) -> String { "\\(user) ..." }`
    with each interpolation written `<name>`) of one Swift enum."""
    source = read(path)
    body = re.search(rf"enum {enum}\b[^{{]*\{{(.*?)\n\}}", source, re.S).group(1)
    fixed = re.findall(r'static let \w+ = "((?:[^"\\]|\\.)*)"', body)
    templates = []
    for literal in re.findall(r'static func \w+\([^)]*\) -> String \{\s*"((?:[^"\\]|\\.)*)"\s*\}', body, re.S):
        templates.append(re.sub(r"\\\((\w+)\)", r"<\1>", literal))
    return fixed, templates


def test_every_fixed_terminal_text_appears_verbatim():
    text = doc()
    fixed, _ = swift_texts(os.path.join(PROTOCOL_SOURCES, "Texts.swift"), "Texts")
    assert len(fixed) >= 15, fixed
    client_fixed, _ = swift_texts(CLIENT_SESSION, "ClientTexts")
    missing = [t for t in fixed + client_fixed if f"`{t}`" not in text]
    assert not missing, f"terminal texts missing from PROTOCOL.md (as `code`): {missing}"


def test_every_terminal_text_template_appears_with_its_placeholders():
    text = doc()
    _, templates = swift_texts(os.path.join(PROTOCOL_SOURCES, "Texts.swift"), "Texts")
    assert len(templates) >= 20, templates
    _, client_templates = swift_texts(CLIENT_SESSION, "ClientTexts")
    missing = [t for t in templates + client_templates if t not in text]
    assert not missing, f"terminal texts missing from PROTOCOL.md: {missing}"


# -- citations of the docs point at sections that exist ------------------------------------------------------

def test_every_cited_section_exists():
    """`docs/PROTOCOL.md §9.3` in a comment anywhere in the repository must name a heading of that document."""
    headings = {}
    for name in ("PROTOCOL.md", "ARCHITECTURE.md"):
        text = read(os.path.join(ROOT, "docs", name))
        headings[name] = set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", text, re.M))
    cited = []
    for folder in ("Sources", "Tests", "tests", "public", "docs", "Fuzz", "scripts", "bench"):
        for directory, _, files in os.walk(os.path.join(ROOT, folder)):
            for file in files:
                if not file.endswith((".swift", ".py", ".js", ".md", ".yaml", ".sh")):
                    continue
                path = os.path.join(directory, file)
                for name, section in re.findall(r"docs/(PROTOCOL\.md|ARCHITECTURE\.md),? §(\d+(?:\.\d+)*)", read(path)):
                    if section not in headings[name]:
                        cited.append(f"{os.path.relpath(path, ROOT)}: docs/{name} §{section}")
    assert not cited, f"citations of sections that do not exist: {cited}"


# -- (c) the runnable examples hold against a live server ---------------------------------------------------

def runnable_blocks():
    """(name, lines) for every ```jsonl block, named after the heading above it."""
    blocks = []
    heading = "top"
    counts = {}
    lines = doc().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = re.sub(r"[^a-z0-9]+", "-", line.lstrip("#").strip().lower()).strip("-")
        if line.strip() in ("```jsonl", "```text-session"):
            body = []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            counts[heading] = counts.get(heading, 0) + 1
            blocks.append((f"{heading}-{counts[heading]}", body))
        i += 1
    return blocks


BLOCKS = runnable_blocks()


def test_the_document_has_runnable_examples():
    assert len(BLOCKS) >= 12, [name for name, _ in BLOCKS]


class Peer:
    """One client connection of an example: raw lines in and out."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT)
        self.buf = b""
        self.closed = False

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def expect_bytes(self, expected):
        """Exactly `expected` must come next (a text-mode connection: no framing to split on)."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while len(self.buf) < len(expected) and self.buf == expected[:len(self.buf)]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        got, self.buf = self.buf[:len(expected)], self.buf[len(expected):]
        assert got == expected, f"the server wrote {got!r} instead of {expected!r}"

    def expect_close(self):
        self.sock.settimeout(REPLY_TIMEOUT)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except ConnectionResetError:
            pass
        assert not self.buf, f"expected the server to close, got {self.buf!r}"

    def next_line(self):
        """The next line, or None once the server has closed the connection."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no line from the server in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def unread(self):
        """Whatever arrived and was not expected (empty when the connection is quiet)."""
        if self.closed:
            return b""
        pending = self.buf
        self.sock.setblocking(False)
        try:
            while select.select([self.sock], [], [], 0)[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                pending += chunk
        except OSError:
            pass
        return pending

    def close(self):
        self.closed = True
        self.sock.close()


def matches(expected, actual, bound, path="$"):
    """Raises AssertionError naming the first difference; binds placeholders as it goes."""
    if isinstance(expected, str) and PLACEHOLDER.match(expected):
        name = PLACEHOLDER.match(expected).group(1)
        if name in bound:
            assert bound[name] == actual, f"{path}: <{name}> was {bound[name]!r}, now {actual!r}"
        else:
            assert actual is not None, f"{path}: <{name}> stands for a value, got null"
            bound[name] = actual
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert sorted(expected) == sorted(actual), f"{path}: fields {sorted(actual)} instead of {sorted(expected)}"
        for key in expected:
            matches(expected[key], actual[key], bound, f"{path}.{key}")
        return
    if isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} instead of {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, bound, f"{path}[{i}]")
        return
    assert type(expected) is type(actual) and expected == actual, f"{path}: {actual!r} instead of {expected!r}"


def substitute(line, bound):
    def value(match):
        name = match.group(1)
        assert name in bound, f"<{name}> is used in a request before any reply gave it a value"
        return json.dumps(bound[name], separators=(",", ":"))
    return re.sub(r'"<([a-z][a-z0-9-]*)>"', value, line)


@pytest.fixture(scope="module")
def seeded_data_dir():
    """A data folder holding the document's accounts. Importing credentials.txt hashes every password, which is
    most of a server's start-up; each example copies this folder instead, so it starts with the accounts at once."""
    seed = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS).start()
    seed.stop()
    yield seed.data_dir
    shutil.rmtree(seed.dir, ignore_errors=True)


# Each example is one timeline across its clients, every step right after the reply before it. On a cluster, what
# one client did reaches the other nodes a bus hop later (docs/SCALING.md §2), so a step that races it (whoelse
# right after another client's logout) could see the state just before: the examples run on one node there.
@pytest.mark.per_node
@pytest.mark.parametrize("lines", [lines for _, lines in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_runnable_example(seeded_data_dir, lines):
    if cluster_mode():
        # A cluster keeps its accounts in a fresh PostgreSQL database: they come from the credentials file.
        example_server = ParleyServer(block=60, timeout=600, credentials=CREDENTIALS)
    else:
        example_server = ParleyServer(block=60, timeout=600)
        shutil.copytree(seeded_data_dir, example_server.data_dir)
    example_server.start()
    try:
        play(example_server, lines)
    finally:
        example_server.stop()
        shutil.rmtree(example_server.dir, ignore_errors=True)


def play(example_server, lines):
    peers = {}
    bound = {}
    try:
        for number, raw in enumerate(lines, 1):
            if not raw.strip() or raw.startswith("#"):
                continue
            typed = TEXT_STEP.match(raw)
            if typed:
                side, text = typed.groups()
                if "text" not in peers:
                    assert side == "C", f"line {number}: the text client receives before it typed anything"
                    peers["text"] = Peer(example_server.tcp_port)
                text_peer = peers["text"]
                try:
                    if side == "C":
                        text_peer.send(text or "")
                    elif text == "(closed)":
                        text_peer.expect_close()
                        text_peer.close()
                    else:
                        text_peer.expect_bytes((text + ("" if text.endswith(" ") else "\n")).encode())
                except AssertionError as mismatch:
                    raise AssertionError(f"line {number} ({raw!r}): {mismatch}") from None
                continue
            step = STEP.match(raw)
            assert step, f"line {number} is not `name> ...` or `name< ...`: {raw!r}"
            name, direction, payload = step.groups()
            where = f"line {number} ({raw})"
            if name not in peers:
                assert direction == ">", f"{where}: {name} receives before it ever sent"
                peers[name] = Peer(example_server.tcp_port)
            peer = peers[name]
            if direction == ">":
                if payload == "(close)":
                    peer.close()
                else:
                    peer.send(substitute(payload, bound))
                continue
            received = peer.next_line()
            if payload == "(closed)":
                assert received is None, f"{where}: expected the server to close, got {received!r}"
                peer.close()
                continue
            assert received is not None, f"{where}: the server closed the connection instead"
            try:
                actual = json.loads(received)
            except ValueError:
                raise AssertionError(f"{where}: not JSON: {received!r}")
            try:
                matches(json.loads(payload), actual, bound)
            except AssertionError as mismatch:
                raise AssertionError(f"{where}: got {received}: {mismatch}") from None
        time.sleep(QUIET_PERIOD)
        for name, peer in peers.items():
            extra = peer.unread()
            assert not extra, f"{name} received lines the example does not show: {extra!r}"
    finally:
        for peer in peers.values():
            if not peer.closed:
                peer.close()
