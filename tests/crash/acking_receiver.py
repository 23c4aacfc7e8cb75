"""A recipient that acknowledges what it shows, the way a real client does (docs/PROTOCOL.md §11.2), for the
kill -9 harness.

It logs in with `"acks": true` on a raw TCP socket and keeps doing so for as long as it runs: when the server
dies under it, it reconnects to whatever port the server listens on now. Like `parley connect` within its
lifetime, it remembers every seq it has shown across reconnects, drops a seq it has already shown (a message
that was sent live and never acked comes again after the next login), and acks coalesced: after each read, one
ack for the highest seq shown if it is above the last acked, at most one per 100 ms, and a trailing one within
100 ms of the last message.

What it shows is kept for the harness to check: every seq once, in seq order, without gaps.
"""
import json
import re
import socket
import struct
import threading
import time

ACK_INTERVAL = 0.1
# An ack far beyond any inbox: the server answers with its inbox's last seq (the settle probe).
PROBE_SEQ = 2 ** 53
LAST_SEQ = re.compile(r"last seq is (\d+)")


class AckingReceiver(threading.Thread):
    def __init__(self, user, password, port_of):
        super().__init__(daemon=True, name=f"receiver-{user}")
        self.user, self.password = user, password
        self.port_of = port_of  # the server's TCP port now (it changes at every restart)
        self.lock = threading.Lock()
        self.shown = {}  # seq -> (id, from, text); kept for the whole run
        self.order = []  # seqs in the order they were shown
        self.top = 0  # the highest seq shown
        self.out_of_order = []  # (seq, highest seq shown before it) for a seq that was not the next one
        self.resent = 0  # messages dropped because their seq had been shown already
        self.errors = []  # error events the receiver did not ask for (an ack refused, say)
        self.logins = 0
        self.acked = 0  # the highest seq acked on the current connection
        self.inbox_last = None  # the answer to the latest settle probe
        self.quit = threading.Event()
        self.probe = threading.Event()
        self.offline_until = 0.0
        self.sock = None

    # MARK: what the harness calls

    def stop(self):
        self.quit.set()
        self.drop()
        self.join(10)

    def come_back(self):
        """Ends an absence that `drop` began."""
        with self.lock:
            self.offline_until = 0.0

    def drop(self, offline_for=0.0):
        """Resets the connection (as a client that crashes or loses its network would) and stays away a while."""
        with self.lock:
            self.offline_until = time.monotonic() + offline_for
            sock = self.sock
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def settle(self, timeout=30):
        """Waits until everything in the inbox has been shown and acked; True if it was in time."""
        with self.lock:
            self.inbox_last = None
        self.probe.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                last, top, acked = self.inbox_last, self.highest(), self.acked
            if last is not None and top >= last and acked >= top:
                return True
            time.sleep(0.02)
        return False

    def snapshot(self):
        """(shown, order, out_of_order, resent, errors, logins), copied under the lock."""
        with self.lock:
            return (dict(self.shown), list(self.order), list(self.out_of_order), self.resent, list(self.errors),
                    self.logins)

    def highest(self):
        return self.top

    # MARK: the client

    def run(self):
        while not self.quit.is_set():
            wait = self.offline_until - time.monotonic()
            if wait > 0:
                self.quit.wait(min(wait, 0.05))  # short steps: `come_back` may end the absence early
                continue
            try:
                self.connection()
            except (OSError, ValueError):
                pass  # the server died, or we reset the connection ourselves: log in again
            self.quit.wait(0.05)

    def connection(self):
        sock = socket.create_connection(("127.0.0.1", self.port_of()), timeout=2)
        with self.lock:
            self.sock, self.acked = sock, 0
        try:
            self.send(sock, {"type": "login", "user": self.user, "password": self.password, "acks": True, "id": 1})
            buf, online, last_ack_at = b"", False, 0.0
            while not self.quit.is_set() and time.monotonic() >= self.offline_until:  # a drop ends it
                if online and self.probe.is_set():
                    self.probe.clear()
                    self.send(sock, {"type": "ack", "seq": PROBE_SEQ, "id": 2})
                pending = online and self.highest() > self.acked
                sock.settimeout(max(0.001, last_ack_at + ACK_INTERVAL - time.monotonic()) if pending else 0.1)
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    chunk = None
                if chunk == b"":
                    return
                if chunk:
                    *lines, buf = (buf + chunk).split(b"\n")
                    for line in lines:
                        if not self.handle(json.loads(line)):
                            return
                        online = True
                # One ack per batch of input, at most one per ACK_INTERVAL; the timeout above makes it trailing.
                top = self.highest()
                if online and top > self.acked and time.monotonic() - last_ack_at >= ACK_INTERVAL:
                    self.send(sock, {"type": "ack", "seq": top})
                    last_ack_at = time.monotonic()
                    with self.lock:
                        self.acked = top
        finally:
            with self.lock:
                self.sock = None
            sock.close()

    def handle(self, event):
        """Takes one event in; False when this connection is over (a refused login: try again later)."""
        kind, re_ = event.get("type"), event.get("re")
        if re_ == 1:
            if kind == "welcome":
                with self.lock:
                    self.logins += 1
                return True
            return False  # busy, or still online on a connection the server has not seen close yet
        if re_ == 2 and kind == "error":
            match = LAST_SEQ.search(event.get("message", ""))
            with self.lock:
                self.inbox_last = int(match.group(1)) if match else None
            return True
        if kind == "error":
            with self.lock:
                self.errors.append(event)
        elif kind == "message":
            self.show(event)
        return True

    def show(self, event):
        seq = event.get("seq")
        with self.lock:
            if not isinstance(seq, int):
                self.errors.append(event)
            elif seq in self.shown:
                self.resent += 1
            else:
                if seq != self.top + 1:
                    self.out_of_order.append((seq, self.top))
                self.shown[seq] = (event["id"], event["from"], event["text"])
                self.order.append(seq)
                self.top = max(self.top, seq)

    @staticmethod
    def send(sock, obj):
        sock.sendall((json.dumps(obj) + "\n").encode())
