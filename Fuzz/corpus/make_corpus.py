#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets: Fuzz/corpus/frame and Fuzz/corpus/http.

Every seed starts with the control byte the targets read first (limits and chunking), followed
by the bytes a client would send. Run from anywhere: python3 Fuzz/corpus/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length_form=None):
    """A client frame; length_form 16 or 64 forces a non-minimal length encoding."""
    first = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if length_form is None and n < 126:
        head = first + bytes([bit | n])
    elif length_form in (None, 16) and n < 65536:
        head = first + bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head = first + bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    return head + MASK + bytes(b ^ MASK[i & 3] for i, b in enumerate(payload))


FRAME_SEEDS = {
    "text-hello": frame(1, b"Hello"),
    "binary-16bit": frame(2, bytes(range(256)) * 2),
    "binary-64bit-nonminimal": frame(2, b"abc", length_form=64),
    "fragmented-with-ping": frame(1, b"Hel", fin=False) + frame(9, b"p") + frame(0, b"lo"),
    "utf8-across-fragments": frame(1, "κόσμε".encode()[:3], fin=False) + frame(0, "κόσμε".encode()[3:]),
    "invalid-utf8": frame(1, b"\xce\xba\xed\xa0\x80edited"),
    "close-1000-reason": frame(8, struct.pack("!H", 1000) + b"bye"),
    "close-empty-then-text": frame(8) + frame(1, b"late"),
    "close-1-byte": frame(8, b"\x03"),
    "ping-125": frame(9, b"x" * 125),
    "unmasked": frame(1, b"Hello", mask=False),
    "rsv1": frame(1, b"x", rsv=4),
    "reserved-opcode": frame(3, b"x"),
    "orphan-continuation": frame(0, b"x"),
    "length-2-63": bytes([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + MASK,
}

HTTP_SEEDS = {
    "get": b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n"
                 b"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
    "chunked-trailers": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    "websocket-upgrade": b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                         b"Origin: http://h\r\n\r\n" + frame(1, b"hi"),
    "h2c-upgrade": b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
                   b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n",
    "connect": b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\ntunnel",
    "http10-keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "cl-and-te": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: h\n\n",
    "http2-version": b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
    "double-space": b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "long-header": b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n",
}


def write(folder, seeds, controls):
    path = os.path.join(HERE, folder)
    os.makedirs(path, exist_ok=True)
    for index, (name, body) in enumerate(sorted(seeds.items())):
        with open(os.path.join(path, name), "wb") as out:
            out.write(bytes([controls[index % len(controls)]]) + body)


if __name__ == "__main__":
    # Control bytes: low bits pick the limit/configuration, the rest the chunk sizes.
    write("frame", FRAME_SEEDS, [0x02, 0x13, 0x26, 0x0A, 0xF0, 0x01])
    write("http", HTTP_SEEDS, [0x00, 0x11, 0x24, 0x01, 0xF0])
