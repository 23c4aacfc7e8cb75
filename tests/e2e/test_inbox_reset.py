"""A recipient with acks whose connection is reset with thousands of messages still queued loses none of them
and is sent none twice (docs/PROTOCOL.md §11.2), over native TCP and over WebSocket.

The recipient reads a few messages, acks some of them, then stops reading while a sender floods it; its socket
is then closed with SO_LINGER 0 (an RST), so whatever the server had queued for it, or the kernel had buffered,
is gone. After the next login with acks it must get every seq it never read exactly once, in seq order; only
the ones it had read but not acked (the unacked window) may come again, and it drops those by seq as a client
does. Its coalesced acks then bring the login after that to a clean welcome: no replay at all.
"""
import asyncio
import json
import socket
import struct
import time

import pytest
import websockets

from parley_harness import ParleyServer, json_client

TOTAL = 3000
READ_FIRST = 20  # read before the recipient stops reading
ACK_FIRST = 10  # of those, acked (with an id, so the cursor has moved before the flood)
ACK_INTERVAL = 0.1
SMALL_BUFFER = 4096  # the recipient's receive buffer, so most of the flood stays queued on the server's side


@pytest.fixture(scope="module")
def server():
    # The flood is on purpose: the per-user message limit (docs/SECURITY.md) is switched off for it.
    s = ParleyServer(block=60, timeout=600, credentials="rx pwrx\ntx pwtx\nwx pwwx\n",
                     extra=["--limit", "messages=off"]).start()
    yield s
    s.stop()


def flood(sender, to, first, last):
    """Sends messages `first`…`last` to `to`, pipelined in batches; returns the id of every `ok`."""
    ids = []
    for start in range(first, last + 1, 200):
        batch = range(start, min(start + 200, last + 1))
        sender.send_raw(b"".join(json.dumps({"type": "message", "to": to, "text": f"m{n}", "id": 10_000 + n})
                                 .encode() + b"\n" for n in batch))
        while len(ids) < batch[-1] - first + 1:
            reply = sender.recv(30)
            if "re" in reply:  # presence events pass by
                assert reply["type"] == "ok" and reply["re"] == 10_000 + first + len(ids), reply
                ids.append(reply["id"])
    return ids


class Arrivals:
    """What a recipient was sent after the reset, the client's way: seqs it had shown already are dropped."""

    def __init__(self, read_before):
        self.read_before = dict(read_before)  # seq -> id, read before the reset
        self.count = {}  # seq -> times sent after the reset
        self.ids = {}
        self.order = []
        self.acked = 0
        self.last_ack_at = 0.0

    def take(self, event):
        if event.get("type") != "message":
            return
        seq = event["seq"]
        self.count[seq] = self.count.get(seq, 0) + 1
        self.ids[seq] = event["id"]
        self.order.append(seq)

    def shown_top(self):
        shown = set(self.read_before) | set(self.count)
        top = 0
        while top + 1 in shown:
            top += 1
        return top

    def ack_due(self, trailing=False):
        """The seq to ack after a batch of input (coalesced: at most one per ACK_INTERVAL), or None."""
        top = self.shown_top()
        if top > self.acked and (trailing or time.monotonic() - self.last_ack_at >= ACK_INTERVAL):
            self.acked, self.last_ack_at = top, time.monotonic()
            return top
        return None

    def check(self, ok_ids):
        never_read = set(range(1, TOTAL + 1)) - set(self.read_before)
        twice = [s for s in never_read if self.count.get(s, 0) > 1]
        missing = [s for s in never_read if s not in self.count]
        acked_again = [s for s in self.count if s <= ACK_FIRST]
        window_again = [s for s in self.count if s in self.read_before and s > ACK_FIRST]
        assert missing == [] and twice == [] and acked_again == [], (len(missing), twice[:5], acked_again[:5])
        assert all(self.count[s] == 1 for s in window_again), window_again
        assert self.order == sorted(self.order), "sent out of seq order"
        assert {**self.read_before, **self.ids} == dict(zip(range(1, TOTAL + 1), ok_ids))
        return len(never_read), len(window_again)


# MARK: native TCP

class RawRecipient:
    """A JSON-lines recipient on its own socket, with a small receive buffer."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.queued = []  # events read but not taken yet

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def read_batch(self, timeout):
        """The events of one read (empty on a timeout), after any read earlier and not taken yet."""
        if self.queued:
            batch, self.queued = self.queued, []
            return batch
        self.sock.settimeout(max(0.001, timeout))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return []
        assert chunk, "the server closed the connection"
        *lines, self.buf = (self.buf + chunk).split(b"\n")
        return [json.loads(line) for line in lines]

    def until(self, predicate, timeout=30):
        """Reads until an event matches; returns (it, the events before it)."""
        before, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.read_batch(deadline - time.monotonic())
            for i, event in enumerate(batch):
                if predicate(event):
                    self.queued = batch[i + 1:] + self.queued
                    return event, before
                before.append(event)
        raise TimeoutError("no matching event")

    def login(self, user):
        self.send({"type": "login", "user": user, "password": "pw" + user, "acks": True, "id": 1})
        return self.until(lambda e: e.get("re") == 1)

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def login_when_gone(port, user):
    """Logs in with acks once the server has noticed the reset (until then the user is still online)."""
    for _ in range(100):
        recipient = RawRecipient(port)
        reply, _ = recipient.login(user)
        if reply["type"] == "welcome":
            return recipient
        assert reply.get("code") == "already_online", reply
        recipient.sock.close()
        time.sleep(0.05)
    raise AssertionError("still online long after the reset")


def test_reset_with_thousands_queued_loses_nothing_and_repeats_nothing_unread_over_tcp(server):
    sender = json_client(server, "tx", "pwtx")
    recipient = RawRecipient(server.tcp_port)
    assert recipient.login("rx")[0]["type"] == "welcome"
    ok_ids = flood(sender, "rx", 1, READ_FIRST)
    read_before = {}
    while len(read_before) < READ_FIRST:
        event, _ = recipient.until(lambda e: e.get("type") == "message")
        read_before[event["seq"]] = event["id"]
    assert sorted(read_before) == list(range(1, READ_FIRST + 1))
    recipient.send({"type": "ack", "seq": ACK_FIRST, "id": 2})
    assert recipient.until(lambda e: e.get("re") == 2)[0] == {"type": "ok", "re": 2}

    ok_ids += flood(sender, "rx", READ_FIRST + 1, TOTAL)  # nobody reads meanwhile
    recipient.reset()

    again = login_when_gone(server.tcp_port, "rx")
    arrivals = Arrivals(read_before)
    deadline = time.monotonic() + 60
    while arrivals.shown_top() < TOTAL and time.monotonic() < deadline:
        for event in again.read_batch(ACK_INTERVAL):
            arrivals.take(event)
        if (seq := arrivals.ack_due()) is not None:
            again.send({"type": "ack", "seq": seq})
    if (seq := arrivals.ack_due(trailing=True)) is not None:
        again.send({"type": "ack", "seq": seq})
    never_read, window = arrivals.check(ok_ids)
    assert never_read >= TOTAL - READ_FIRST
    # Requests are handled in order: once whoelse is answered, the last ack has moved the cursor.
    again.send({"type": "whoelse", "id": 3})
    again.until(lambda e: e.get("re") == 3)
    again.sock.close()

    clean = login_when_gone(server.tcp_port, "rx")
    clean.send({"type": "whoelse", "id": 2})
    _, before = clean.until(lambda e: e.get("re") == 2)
    assert [e for e in before if e.get("type") == "message"] == []
    clean.sock.close()
    sender.close()
    print(f"tcp: {never_read} never read arrived once each; {window} of the unacked window came again")


# MARK: WebSocket

def test_reset_with_thousands_queued_loses_nothing_and_repeats_nothing_unread_over_websocket(server):
    url = f"ws://127.0.0.1:{server.http_port}/ws"

    async def login(ws, re):
        await ws.send(json.dumps({"type": "login", "user": "wx", "password": "pwwx", "acks": True, "id": re}))
        before = []
        while (event := json.loads(await ws.recv())).get("re") != re:
            before.append(event)
        return event, before

    async def connect_when_gone():
        for _ in range(100):
            ws = await websockets.connect(url)
            reply, _ = await login(ws, 1)
            if reply["type"] == "welcome":
                return ws
            assert reply.get("code") == "already_online", reply
            await ws.close()
            await asyncio.sleep(0.05)
        raise AssertionError("still online long after the reset")

    async def run():
        sender = json_client(server, "tx", "pwtx")
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        raw.connect(("127.0.0.1", server.http_port))
        raw.setblocking(False)
        # A small queue: the library stops reading the socket once a few messages wait for recv().
        ws = await websockets.connect(url, sock=raw, max_queue=4)
        assert (await login(ws, 1))[0]["type"] == "welcome"
        ok_ids = flood(sender, "wx", 1, READ_FIRST)
        read_before = {}
        while len(read_before) < READ_FIRST:
            event = json.loads(await ws.recv())
            if event.get("type") == "message":
                read_before[event["seq"]] = event["id"]
        await ws.send(json.dumps({"type": "ack", "seq": ACK_FIRST, "id": 2}))
        assert json.loads(await ws.recv()) == {"type": "ok", "re": 2}

        ok_ids += flood(sender, "wx", READ_FIRST + 1, TOTAL)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.transport.abort()

        again = await connect_when_gone()
        arrivals = Arrivals(read_before)
        deadline = time.monotonic() + 60
        while arrivals.shown_top() < TOTAL and time.monotonic() < deadline:
            try:
                # One onmessage burst: everything already received, then the ack decision.
                arrivals.take(json.loads(await asyncio.wait_for(again.recv(), ACK_INTERVAL)))
                while True:
                    arrivals.take(json.loads(await asyncio.wait_for(again.recv(), 0.001)))
            except TimeoutError:
                pass
            if (seq := arrivals.ack_due()) is not None:
                await again.send(json.dumps({"type": "ack", "seq": seq}))
        if (seq := arrivals.ack_due(trailing=True)) is not None:
            await again.send(json.dumps({"type": "ack", "seq": seq}))
        never_read, window = arrivals.check(ok_ids)
        assert never_read >= TOTAL - READ_FIRST
        await again.send(json.dumps({"type": "whoelse", "id": 3}))
        while json.loads(await again.recv()).get("re") != 3:
            pass
        await again.close()

        clean = await connect_when_gone()
        await clean.send(json.dumps({"type": "whoelse", "id": 2}))
        before = []
        while (event := json.loads(await clean.recv())).get("re") != 2:
            before.append(event)
        assert [e for e in before if e.get("type") == "message"] == []
        await clean.close()
        sender.close()
        print(f"websocket: {never_read} never read arrived once each; {window} of the unacked window came again")

    asyncio.run(run())
