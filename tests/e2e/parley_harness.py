"""Start the real `parley` binary on free ports and talk to it like any outside client would.

Used by the end-to-end tests; nothing here knows the server's internals.
"""
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import time

PARLEY_BIN = os.environ.get("PARLEY_BIN", os.path.join(os.path.dirname(__file__), "../../.build/debug/parley"))


# The cluster switch: with PARLEY_CLUSTER_NODES=N (N > 1) and the URLs of a PostgreSQL server and a Redis server,
# every ParleyServer is N nodes sharing a fresh database, and each client connects to a node chosen at random.
CLUSTER_NODES = int(os.environ.get("PARLEY_CLUSTER_NODES", "1") or 1)
POSTGRES_URL = os.environ.get("PARLEY_TEST_POSTGRES")
REDIS_URL = os.environ.get("PARLEY_TEST_REDIS")


def cluster_mode():
    return CLUSTER_NODES > 1


# Set (by conftest.py) for a test marked `per_node`: what it tests is counted per node (per-address caps), so in
# cluster mode all its clients go to the first node.
PIN = {"first_node": False}


def eventually(check, timeout, what):
    """`check()`'s first truthy value, tried every 50 ms; fails the test if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


class ParleyServer:
    """The server under test: one node (ParleyNode) or, in cluster mode, a ParleyCluster of several."""

    def __new__(cls, *args, **kwargs):
        if cls is ParleyServer:
            if cluster_mode():
                return ParleyCluster(*args, **kwargs)
            return super().__new__(ParleyNode)  # then initialised as a ParleyNode
        return super().__new__(cls)


class ParleyNode(ParleyServer):
    """One server process on ephemeral ports with its own data folder (kept across restart())."""

    def __init__(self, block=3, timeout=30, credentials="", extra=(), env=None):
        self.env = env  # the server's environment, if not the tests' own
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
                                     text=True, env=self.env)
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


class ParleyCluster:
    """Several nodes sharing one new PostgreSQL database and one Redis database: one server to its clients.

    `tcp_port` and `http_port` name a node chosen at random on every read, so the clients of one test are spread
    over the nodes. The first node starts alone (it imports the credentials file), then the others.
    """

    _count = 0

    def __init__(self, block=3, timeout=30, credentials="", extra=(), nodes=None, redis_url=None, env=None):
        redis_url = redis_url or REDIS_URL
        if not (POSTGRES_URL and redis_url):
            raise RuntimeError("cluster mode needs PARLEY_TEST_POSTGRES and PARLEY_TEST_REDIS")
        ParleyCluster._count += 1
        self.postgres_url = create_database(f"parley_e2e_{os.getpid()}_{ParleyCluster._count}")
        # Pub/sub ignores the database number, but the nodes put it in their channel names: clusters that share a
        # Redis server are kept apart by it.
        self.redis_url = f"{redis_url.rstrip('/')}/{ParleyCluster._count % 16}"
        self.nodes = []
        for i in range(nodes or CLUSTER_NODES):
            shared = ["--postgres", self.postgres_url, "--redis", self.redis_url, "--node", f"n{i}"]
            self.nodes.append(ParleyNode(block, timeout, credentials, [*extra, *shared], env=env))
        self.dir = self.nodes[0].dir
        self.data_dir = self.nodes[0].data_dir
        self.credentials = self.nodes[0].credentials

    def _node(self):
        return self.nodes[0] if PIN["first_node"] else random.choice(self.nodes)

    @property
    def tcp_port(self):
        return self._node().tcp_port

    @property
    def http_port(self):
        return self._node().http_port

    @property
    def proc(self):
        return self.nodes[0].proc

    def start(self):
        for node in self.nodes:
            node.start()
        return self

    def stop(self, sig=signal.SIGTERM, wait=10):
        codes = [node.stop(sig, wait) for node in self.nodes]
        return codes[0]

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    def log(self):
        return "\n".join(f"--- node {i}\n{node.log()}" for i, node in enumerate(self.nodes))


def create_database(name):
    """A new empty database on the test PostgreSQL server; returns its URL."""
    subprocess.run(["psql", POSTGRES_URL, "-qc", f'CREATE DATABASE "{name}"'], check=True,
                   stdout=subprocess.DEVNULL)
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


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
