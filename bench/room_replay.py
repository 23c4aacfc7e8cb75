#!/usr/bin/env python3
"""What a login costs when the user was away from busy rooms: the room replay figure for bench/run.sh
(mode `room-replay`), against a running server.

    room_replay.py --port HTTP_PORT --pid SERVER_PID [--rooms 20] [--messages 50] [--runs 5] [--label L]
                   [--reader u0] [--writer u1] [--password benchpw1] [--resume password|token] [--cap 50]

A reader and a writer join ROOMS rooms (`replay0`, `replay1`, ...; a room they are already in is fine). Then,
RUNS times: the reader goes away (`logout`, or with `--resume token` a dropped connection), the writer says
MESSAGES messages in every room and waits for every `ok` (each is stored before it is answered), and the reader
logs in again over WebSocket, with its password or with the token of its last `welcome`. Timed from the moment
the `login` is sent to the moment the last of the ROOMS x MESSAGES `room_message` events is read:

  wall_ms      the reader's wait (it includes this script reading 1000 frames, a few ms of Python);
  cpu_ms       the server's utime+stime over that wait (/proc/PID/stat, all threads; clock ticks, so 10 ms steps
               on most kernels);
  sched_ms     the same CPU from the kernel's scheduler counters (/proc/PID/task/*/schedstat, nanoseconds);
  welcome_*    the part up to the moment this script reads `welcome`: with a password, mostly the argon2id check
               (on a worker thread); with a token the replay often arrives in the same read, so the split says little.

Prints one ROOM_REPLAY line per run and one summary line with the median and maximum of each. The server replays
at most --cap messages per room (its default, 50), so MESSAGES above that measures a capped replay.

Standard library only: the WebSocket client below is the least RFC 6455 a client needs (masked text frames out,
unmasked frames in, pings answered).
"""
import argparse
import base64
import glob
import json
import os
import socket
import statistics
import sys
import time


class WebSocket:
    """One blocking WebSocket connection to the server's /ws, speaking the protocol's JSON objects."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SystemExit("room_replay: the server closed the connection during the WebSocket upgrade")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"room_replay: WebSocket upgrade refused: {head.splitlines()[0].decode(errors='replace')}")
        self.pending = []  # complete messages (bytes) not yet taken

    def send(self, obj):
        self.sock.sendall(self.frame(0x1, json.dumps(obj).encode()))

    def send_many(self, objs):
        self.sock.sendall(b"".join(self.frame(0x1, json.dumps(o).encode()) for o in objs))

    @staticmethod
    def frame(opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
        return head + mask + masked

    def recv(self):
        """The next message's bytes, or None once the server closed the connection."""
        while not self.pending:
            if not self.parse():
                chunk = self.sock.recv(262144)
                if not chunk:
                    return None
                self.buffer += chunk
        return self.pending.pop(0)

    def parse(self):
        """Moves every complete frame in the buffer to `pending`; False when none was complete."""
        found, data, at = False, self.buffer, 0
        while len(data) - at >= 2:
            opcode, n, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
            if n == 126:
                if len(data) - at < 4:
                    break
                n, start = int.from_bytes(data[at + 2:at + 4], "big"), at + 4
            elif n == 127:
                if len(data) - at < 10:
                    break
                n, start = int.from_bytes(data[at + 2:at + 10], "big"), at + 10
            if len(data) < start + n:
                break
            payload, at, found = data[start:start + n], start + n, True
            if opcode == 0x9:
                self.sock.sendall(self.frame(0xA, payload))
            elif opcode == 0x8:
                self.pending.append(None)
            elif opcode in (0x1, 0x0):  # the server does not fragment its messages
                self.pending.append(payload)
        self.buffer = data[at:]
        return found

    def request(self, obj, accept=("ok",)):
        """Sends one request and returns the first reply of a type in `accept` (events before it are skipped)."""
        self.send(obj)
        while True:
            message = self.recv()
            if message is None:
                raise SystemExit(f"room_replay: the server closed the connection after {obj}")
            reply = json.loads(message)
            if reply["type"] in accept or reply["type"] == "error":
                return reply

    def close(self):
        self.sock.close()


def login(port, user, password=None, token=None):
    ws = WebSocket(port)
    welcome = ws.request({"type": "login", "user": user, **({"token": token} if token else {"password": password})},
                         accept=("welcome",))
    if welcome["type"] != "welcome":
        raise SystemExit(f"room_replay: {user} could not log in: {welcome}")
    return ws, welcome["token"]


def cpu(pid, hz):
    """(utime+stime in seconds from /proc/PID/stat, the scheduler's run time of all threads in seconds)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of the line
    ran = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                ran += int(f.read().split()[0])
        except OSError:
            pass  # a thread that ended between the listing and the read
    return ticks / hz, ran / 1e9


def wait_offline(writer, room, user):
    """Until the server no longer counts `user` online (its dropped connection or logout is processed)."""
    for _ in range(500):
        reply = writer.request({"type": "members", "room": room}, accept=("users",))
        if user not in reply.get("online", []):
            return
        time.sleep(0.01)
    raise SystemExit(f"room_replay: {user} still online 5 s after going away")


def one_run(args, writer, rooms, reader, token, hz):
    # Away: a logout (the token is revoked with it) or a dropped connection (the token stays good).
    if args.resume == "password":
        reader.request({"type": "logout"}, accept=("bye",))
    reader.close()
    wait_offline(writer, rooms[0], args.reader)
    writer.send_many({"type": "say", "room": room, "text": f"replay {i:04d} " + "x" * 50}
                     for room in rooms for i in range(args.messages))
    stored = 0
    while stored < len(rooms) * args.messages:  # every say answered: all of them are in the store
        message = writer.recv()
        if message is None:
            raise SystemExit("room_replay: the server closed the writer's connection")
        reply = json.loads(message)
        if reply["type"] == "error":
            raise SystemExit(f"room_replay: a say was refused: {reply}")
        stored += reply["type"] == "ok"
    expected = len(rooms) * min(args.messages, args.cap)
    reader = WebSocket(args.port)  # the connection is made first: the figure starts at the login
    request = {"type": "login", "user": args.reader}
    request.update({"token": token} if args.resume == "token" else {"password": args.password})
    cpu0, t0 = cpu(args.pid, hz), time.monotonic()
    reader.send(request)
    seen, welcome_at = 0, None
    while seen < expected:
        message = reader.recv()
        if message is None:
            raise SystemExit(f"room_replay: the server closed the reader's connection after {seen} of {expected} events")
        if b'"type":"room_message"' in message:
            seen += 1
        elif welcome_at is None and b'"type":"welcome"' in message:
            welcome_at = (time.monotonic(), cpu(args.pid, hz))
            token = json.loads(message)["token"]
        elif b'"type":"error"' in message:
            raise SystemExit(f"room_replay: the reader's login failed: {message.decode()}")
    t1, cpu1 = time.monotonic(), cpu(args.pid, hz)
    tw, cpuw = welcome_at
    run = {"wall_ms": (t1 - t0) * 1e3, "cpu_ms": (cpu1[0] - cpu0[0]) * 1e3, "sched_ms": (cpu1[1] - cpu0[1]) * 1e3,
           "welcome_wall_ms": (tw - t0) * 1e3, "welcome_sched_ms": (cpuw[1] - cpu0[1]) * 1e3, "events": seen}
    return run, reader, token


def summary(label, runs):
    def stat(key, f):
        return f"{f(r[key] for r in runs):.1f}"
    keys = ("wall_ms", "cpu_ms", "sched_ms", "welcome_wall_ms", "welcome_sched_ms")
    return (f"ROOM_REPLAY label={label} runs={len(runs)} events={runs[0]['events']} "
            + " ".join(f"{k}_median={stat(k, lambda v: statistics.median(list(v)))} {k}_max={stat(k, max)}" for k in keys))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="the server's HTTP port (WebSocket at /ws)")
    parser.add_argument("--pid", type=int, required=True, help="the server's process id, for its CPU time")
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50, help="messages said in every room while the reader is away")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cap", type=int, default=50, help="the server's replay limit per room")
    parser.add_argument("--label", default="room-replay")
    parser.add_argument("--reader", default="u0")
    parser.add_argument("--writer", default="u1")
    parser.add_argument("--password", default="benchpw1")
    parser.add_argument("--resume", choices=("password", "token"), default="password",
                        help="log in again with the password after a logout, or with the token after a dropped connection")
    args = parser.parse_args()
    if min(args.rooms, args.messages, args.runs, args.cap) < 1:
        parser.error("--rooms, --messages, --runs and --cap must be at least 1")
    if not os.path.exists(f"/proc/{args.pid}/stat"):
        parser.error(f"no process {args.pid}")
    hz = os.sysconf("SC_CLK_TCK")
    rooms = [f"replay{i}" for i in range(args.rooms)]
    writer, _ = login(args.port, args.writer, args.password)
    reader, token = login(args.port, args.reader, args.password)
    for ws, user in ((writer, args.writer), (reader, args.reader)):
        for room in rooms:
            reply = ws.request({"type": "join", "room": room})
            if reply["type"] == "error" and reply.get("code") != "already_member":
                raise SystemExit(f"room_replay: {user} could not join #{room}: {reply}")
    runs = []
    for n in range(args.runs):
        run, reader, token = one_run(args, writer, rooms, reader, token, hz)
        runs.append(run)
        print(f"ROOM_REPLAY_RUN label={args.label} run={n + 1} " + " ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in run.items()), flush=True)
    reader.close()
    writer.close()
    print(summary(args.label, runs), flush=True)


if __name__ == "__main__":
    main()
