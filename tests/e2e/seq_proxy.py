"""A forwarder between the browser and the server that plays an inbox of its own on the page's WebSocket, so
the page's side can be tested in cases the server does not make on demand (repeats, lost acks, a version-1
server without seq). When it plays its own inbox (or a version-1 server) it logs the page in without acks, so the server keeps version
1's behaviour under it; otherwise the server's own inbox passes through untouched.

Every `message` event to a user signed in with `"acks": true` gets the next `seq` of that user's inbox; the
page's `ack` requests are recorded and not passed on (the server does not know them); after each `welcome`
the messages above the user's acknowledged cursor are sent again with `"offline": true`, as the server will.
Everything else (the page itself, REST, other frames) passes through unchanged. `add_seq=False` leaves the
events as they are and only records what the page sends. `repeat` sends every message event twice (the second
time under another id, so only its seq tells). `stalled` stops passing anything from the server on, like a page
that stopped reading. `cut()` drops every connection at once.
"""
import json
import socket
import threading
import time


def parse_frame(buf):
    """(length, first byte, payload) of the first complete WebSocket frame in `buf`, or None."""
    if len(buf) < 2:
        return None
    size, at = buf[1] & 0x7F, 2
    if size == 126:
        if len(buf) < 4:
            return None
        size, at = int.from_bytes(buf[2:4], "big"), 4
    elif size == 127:
        if len(buf) < 10:
            return None
        size, at = int.from_bytes(buf[2:10], "big"), 10
    mask = None
    if buf[1] & 0x80:
        if len(buf) < at + 4:
            return None
        mask, at = buf[at:at + 4], at + 4
    if len(buf) < at + size:
        return None
    payload = bytes(buf[at:at + size])
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return at + size, buf[0], payload


def read_frames(sock, buf, pause=lambda: None):
    """Yields (the frame's bytes, its first byte, its payload) from `buf`, then from `sock` until it closes.
    `pause` runs before each frame is handed on (a stalled forwarder waits there)."""
    buf = bytearray(buf)
    while True:
        frame = parse_frame(buf)
        pause()
        if frame is None:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            continue
        length, first, payload = frame
        raw = bytes(buf[:length])
        del buf[:length]
        yield raw, first, payload


def text_frame(obj, masked=False):
    payload = json.dumps(obj).encode()
    head = bytearray([0x81])
    mask_bit = 0x80 if masked else 0
    if len(payload) < 126:
        head.append(mask_bit | len(payload))
    elif len(payload) < 1 << 16:
        head += bytes([mask_bit | 126]) + len(payload).to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + len(payload).to_bytes(8, "big")
    if masked:
        head += b"\0\0\0\0"  # a zero mask leaves the payload as it is
    return bytes(head) + payload


class SeqProxy:
    def __init__(self, target_port, add_seq=True, version1=False):
        self.target = target_port
        self.add_seq = add_seq
        # Stand in for a version-1 server: the page's `acks` is not passed on and the server's `seq` is taken off.
        # With neither this nor add_seq, the server's own inbox reaches the page untouched.
        self.version1 = version1
        self.repeat = False  # send every message event twice
        self.lose_acks = False  # record acks without moving the cursor, as if they were lost in a drop
        self.stalled = False  # stop reading from the server: what it sends piles up here and dies with cut()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.sockets = []
        self.inboxes = {}  # user -> {"messages": [event with seq], "cursor": acknowledged seq}
        self.sent = []  # (monotonic time, request) for every request the page sent on a WebSocket
        self.delivered = []  # (monotonic time, user, event) for every message event the page was sent
        threading.Thread(target=self._accept, daemon=True).start()

    def requests(self, kind):
        with self.lock:
            return [(t, r) for t, r in self.sent if r.get("type") == kind]

    def inbox(self, user):
        return self.inboxes.setdefault(user, {"messages": [], "cursor": 0})

    def _accept(self):
        while True:
            try:
                page, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            with self.lock:
                self.sockets += [page, server]
            link = {"ws": False, "user": None, "acks": {}, "page": page, "server": server}
            threading.Thread(target=self._upstream, args=(link,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(link,), daemon=True).start()

    def _wait_while_stalled(self):
        while self.stalled:
            time.sleep(0.01)

    @staticmethod
    def _head(sock, buf):
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise OSError("closed")
            buf += data
        end = buf.index(b"\r\n\r\n") + 4
        return buf[:end], buf[end:]

    def _upstream(self, link):
        """Page to server: the upgrade request, then frames (acks kept here, the rest passed on)."""
        page, server = link["page"], link["server"]
        try:
            head, buf = self._head(page, b"")
            link["ws"] = head.startswith(b"GET /ws")
            server.sendall(head)
            if not link["ws"]:
                self._pipe(page, server, buf)
                return
            for raw, first, payload in read_frames(page, buf):
                if first & 0x0F == 1:
                    request = json.loads(payload)
                    with self.lock:
                        self.sent.append((time.monotonic(), request))
                        if request.get("type") == "login" or request.get("type") == "register":
                            link["acks"][request.get("id")] = request.get("acks") is True
                            # The server itself serves the inbox now: asked without acks, it keeps version 1's
                            # behaviour, and the forwarder alone plays the inbox the test controls.
                            if "acks" in request and (self.add_seq or self.version1):
                                raw = text_frame({k: v for k, v in request.items() if k != "acks"}, masked=True)
                        if self.add_seq and request.get("type") == "ack" and link["user"]:
                            inbox = self.inbox(link["user"])
                            if not self.lose_acks:
                                inbox["cursor"] = max(inbox["cursor"], request["seq"])
                            continue
                server.sendall(raw)
        except OSError:
            return

    def _downstream(self, link):
        """Server to page: the upgrade answer, then frames (message events numbered, replay after welcome)."""
        page, server = link["page"], link["server"]
        try:
            head, buf = self._head(server, b"")
            page.sendall(head)
            if not link["ws"] or b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._pipe(server, page, buf)
                return
            for out, first, payload in read_frames(server, buf, pause=self._wait_while_stalled):
                if first & 0x0F == 1:
                    out = self._rewrite(link, json.loads(payload)) or out
                page.sendall(out)
        except OSError:
            return

    def _rewrite(self, link, event):
        """The frames to send the page instead of `event`, or None to send it as it is."""
        with self.lock:
            if event.get("type") == "welcome" and link["acks"].get(event.get("re")):
                link["user"] = event["user"]
                if not self.add_seq:
                    return None
                inbox = self.inbox(link["user"])
                replay = [dict(m, offline=True) for m in inbox["messages"] if m["seq"] > inbox["cursor"]]
                for m in replay:
                    self.delivered.append((time.monotonic(), link["user"], m))
                return b"".join(text_frame(e) for e in [event, *replay])
            if event.get("type") == "message" and link["user"]:
                if self.add_seq:
                    inbox = self.inbox(link["user"])
                    event = dict(event, seq=len(inbox["messages"]) + 1)
                    inbox["messages"].append(event)
                if self.version1:
                    event = {k: v for k, v in event.items() if k != "seq"}
                self.delivered.append((time.monotonic(), link["user"], event))
                if not self.add_seq:
                    return text_frame(event) if self.version1 else None
                if self.repeat:
                    # The same inbox place again under another id: only its seq tells it is a repeat.
                    return text_frame(event) + text_frame(dict(event, id=event["id"] + 10**9, offline=True))
                return text_frame(event)
        return None

    @staticmethod
    def _pipe(a, b, buf):
        if buf:
            b.sendall(buf)
        while True:
            data = a.recv(65536)
            if not data:
                b.shutdown(socket.SHUT_WR)
                return
            b.sendall(data)

    def cut(self):
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.listener.close()
        self.cut()
