"""Start the real `parley` binary on free ports and talk to it like any outside client would.

Used by the end-to-end tests; nothing here knows the server's internals.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

PARLEY_BIN = os.environ.get("PARLEY_BIN", os.path.join(os.path.dirname(__file__), "../../.build/debug/parley"))


class ParleyServer:
    """One server process on ephemeral ports with its own data folder (kept across restart())."""

    def __init__(self, block=3, timeout=30, credentials="", extra=()):
        self.dir = tempfile.mkdtemp(prefix="parley-e2e-")
        self.data_dir = os.path.join(self.dir, "data")
        self.credentials = os.path.join(self.dir, "credentials.txt")
        with open(self.credentials, "w") as f:
            f.write(credentials)
        self.args = [str(block), str(timeout)]
        self.extra = list(extra)
        self.proc = None
        self.tcp_port = self.http_port = None

    def start(self):
        cmd = [PARLEY_BIN, "serve", "0", *self.args, "--http-port", "0", "--data-dir", self.data_dir,
               "--credentials", self.credentials, *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(os.path.join(self.dir, "server.log"), "ab"),
                                     text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("parley listening"):
            raise RuntimeError(f"server did not start: {line!r}; log: {self.log()}")
        fields = dict(part.split("=") for part in line.split()[2:])
        self.tcp_port = int(fields["tcp"])
        self.http_port = None if fields["http"] == "off" else int(fields["http"])
        return self

    def stop(self, sig=signal.SIGTERM, wait=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(wait)
        return self.proc.returncode if self.proc else None

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""


class JsonClient:
    """A native-TCP JSON-lines client with a line buffer and request ids."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.next_id = 1

    def send(self, obj, with_id=True):
        if with_id and "id" not in obj:
            obj = dict(obj, id=self.next_id)
            self.next_id += 1
        self.sock.sendall((json.dumps(obj) + "\n").encode())
        return obj.get("id")

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def recv(self, timeout=10):
        """The next event or reply, or None if the server closed the connection."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line from the server")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj, timeout=10):
        """Sends a request and returns its reply, collecting events that arrive meanwhile in self.events."""
        rid = self.send(obj)
        while True:
            msg = self.recv(timeout)
            if msg is None:
                raise ConnectionError("closed before the reply")
            if msg.get("re") == rid:
                return msg
            self.events.append(msg)

    def wait_for(self, predicate, timeout=10):
        for i, e in enumerate(self.events):
            if predicate(e):
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg is None:
                raise ConnectionError("closed while waiting")
            if predicate(msg):
                return msg
            self.events.append(msg)

    events: list

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def login(self, user, password, **extra):
        self.events = []
        for _ in range(200):
            reply = self.request({"type": "login", "user": user, "password": password, **extra})
            if reply.get("code") != "busy":
                return reply
            time.sleep(reply.get("retryAfter", 1) * 0.1)
        return reply

    def register(self, user, password):
        self.events = []
        for _ in range(200):
            reply = self.request({"type": "register", "user": user, "password": password})
            if reply.get("code") != "busy":
                return reply
            time.sleep(reply.get("retryAfter", 1) * 0.1)
        return reply

    def closed(self, timeout=10):
        """True once the server has closed the connection (draining whatever was still sent)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.recv(deadline - time.monotonic()) is None:
                    return True
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            return True
        return False


def json_client(server, user=None, password=None):
    c = JsonClient(server.tcp_port)
    c.events = []
    if user:
        reply = c.login(user, password)
        assert reply["type"] == "welcome", reply
    return c
