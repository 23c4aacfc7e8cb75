#!/usr/bin/env python3
"""Presence across nodes, timed from outside: two probes for bench/run.sh (modes `presence` and `death`).

    cluster_probe.py presence --login-port A --watch-port B [--rounds 200] [--label L]
        A watcher logs in on node B; a subject logs in on node A and out again, ROUNDS times. For each round:
        the time from the subject's `welcome` to the watcher's presence `in`, and from the subject's `bye` to the
        watcher's presence `out`. Prints one PRESENCE line with p50/p99/max of both.
    cluster_probe.py death --watch-port A --victim-port V --victim-pid PID [--victim-user U] [--label L]
        A watcher on node A, the victim user on node V (process PID); once the watcher has seen the victim `in`,
        the node is killed with SIGKILL, and the time until the watcher sees the victim `out` is printed as one
        DEATH line.

Both speak the native TCP door's JSON lines (docs/PROTOCOL.md) with the benchmark accounts (password benchpw1).
Times are CLOCK_MONOTONIC in this one process, taken when a line is read, so there is no clock skew between
the sockets; both are read from one selector, whichever is ready first.
"""
import argparse
import json
import os
import selectors
import signal
import socket
import sys
import time

PASSWORD = "benchpw1"


class Client:
    """One JSON-lines connection; every line read is stamped with the time it was read."""

    def __init__(self, port, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request is one small write
        self.sock.setblocking(False)
        self.buffer = b""
        self.lines = []  # (time, message) not yet taken
        self.next_id = 1
        self.closed = False

    def send(self, **request):
        request["id"] = self.next_id
        self.next_id += 1
        self.sock.setblocking(True)
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        self.sock.setblocking(False)
        return request["id"]

    def read_ready(self, now):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.closed = True
            return
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        self.lines += [(now, json.loads(line)) for line in complete if line.strip()]

    def close(self):
        self.sock.close()


class Probe:
    """The clients of one probe, read together; `wait` returns the first line a predicate accepts."""

    def __init__(self):
        self.selector = selectors.DefaultSelector()

    def add(self, client):
        self.selector.register(client.sock, selectors.EVENT_READ, client)
        return client

    def remove(self, client):
        if not client.closed:
            self.selector.unregister(client.sock)
        client.close()

    def wait(self, client, accept, deadline_s=30.0):
        deadline = time.monotonic() + deadline_s
        while True:
            for i, (at, message) in enumerate(client.lines):
                if accept(message):
                    del client.lines[: i + 1]
                    return at, message
            client.lines.clear()
            if client.closed:
                raise ConnectionError(f"{client.name}: the server closed the connection")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{client.name}: nothing matching within {deadline_s} s")
            for key, _ in self.selector.select(left):
                key.data.read_ready(time.monotonic())
                if key.data.closed:  # a logged-out subject, a killed node: nothing more will come
                    self.selector.unregister(key.fileobj)

    def login(self, port, user):
        client = self.add(Client(port, user))
        request = client.send(type="login", user=user, password=PASSWORD)
        at, reply = self.wait(client, lambda m: m.get("re") == request)
        if reply.get("type") != "welcome":
            raise RuntimeError(f"login of {user} on port {port} failed: {reply}")
        return client, at


def presence_of(user, state):
    return lambda m: m.get("type") == "presence" and m.get("user") == user and m.get("state") == state


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(name, values_s):
    ms = [v * 1000 for v in values_s]
    return f"{name}_p50_ms={percentile(ms, 50):.2f} {name}_p99_ms={percentile(ms, 99):.2f} {name}_max_ms={max(ms):.2f}"


def presence(args):
    probe = Probe()
    watcher, _ = probe.login(args.watch_port, "u4900")
    subject_name = "u4901"
    ins, outs = [], []
    for _ in range(args.rounds):
        subject, welcomed = probe.login(args.login_port, subject_name)
        seen_in, _ = probe.wait(watcher, presence_of(subject_name, "in"))
        ins.append(seen_in - welcomed)
        request = subject.send(type="logout")
        bye, _ = probe.wait(subject, lambda m: m.get("re") == request and m.get("type") == "bye")
        seen_out, _ = probe.wait(watcher, presence_of(subject_name, "out"))
        outs.append(seen_out - bye)
        probe.remove(subject)
    print(f"PRESENCE label={args.label} rounds={len(ins)} {summary('in', ins)} {summary('out', outs)} "
          f"in_mean_ms={sum(ins) / len(ins) * 1000:.2f}", flush=True)


def death(args):
    probe = Probe()
    watcher, _ = probe.login(args.watch_port, "u4902")
    victim, _ = probe.login(args.victim_port, args.victim_user)
    probe.wait(watcher, presence_of(args.victim_user, "in"))
    killed = time.monotonic()
    os.kill(args.victim_pid, signal.SIGKILL)
    probe.remove(victim)
    seen_out, _ = probe.wait(watcher, presence_of(args.victim_user, "out"), deadline_s=60)
    print(f"DEATH label={args.label} user={args.victim_user} kill_to_out_s={seen_out - killed:.2f}", flush=True)
    probe.remove(watcher)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["presence", "death"])
    parser.add_argument("--login-port", type=int)
    parser.add_argument("--watch-port", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--victim-port", type=int)
    parser.add_argument("--victim-pid", type=int)
    parser.add_argument("--victim-user", default="u4001")
    parser.add_argument("--label", default="probe")
    args = parser.parse_args()
    if args.mode == "presence" and not args.login_port:
        parser.error("presence needs --login-port")
    if args.mode == "death" and not (args.victim_port and args.victim_pid):
        parser.error("death needs --victim-port and --victim-pid")
    if args.mode == "presence" and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    presence(args) if args.mode == "presence" else death(args)


if __name__ == "__main__":
    sys.exit(main())
