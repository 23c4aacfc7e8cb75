#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets: Fuzz/corpus/{frame,http,utf8,lines,json,text,auth,index}.

Every seed of frame, http, utf8, lines and auth starts with the control byte the target reads first
(limits, chunking, mode), followed by the bytes a client would send; index seeds start with theirs too, followed
by an index row as the store writes it (or a damaged one); json seeds are the request as is; text
seeds are lines whose first byte picks who types them. Run from anywhere: python3 Fuzz/corpus/make_corpus.py
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


UTF8_SEEDS = {
    "ascii": b"Hello, world",
    "greek": "κόσμε".encode(),
    "four-byte": "𝄞 and 😀".encode(),
    "boundaries": "\u0080\u07ff\u0800\uffff\U00010000\U0010ffff".encode(),
    "noncharacter": "\ufffe\uffff".encode(),
    "surrogate": b"\xed\xa0\x80",
    "overlong": b"\xc0\xaf\xe0\x80\xaf",
    "above-max": b"\xf4\x90\x80\x80",
    "truncated": b"ok \xe2\x82",
    "lone-continuation": b"\x80abc",
    "five-byte": b"\xf8\x88\x80\x80\x80",
}

LINE_SEEDS = {
    "json-lines": b'{"type":"login","user":"hans","password":"solo"}\n{"type":"whoelse"}\n',
    "crlf-telnet": b"hans\r\nsolo\r\nmessage luke hi\r\n",
    "empty-lines": b"\n\n\r\n",
    "cr-only": b"a\rb\r\r\n",
    "tail": b"one\ntwo\nunterminated",
    "long": b"x" * 40 + b"\n" + b"y" * 5000 + b"\n",
}

JSON_SEEDS = {
    "login": b'{"type":"login","user":"hans","password":"solo","id":1}',
    "login-token": b'{"type":"login","user":"hans","token":"abc","p2pPort":40000,"id":"x"}',
    "register-webrtc": b'{"type":"register","user":"rey","password":"jakku","webrtc":true}',
    "message": b'{"type":"message","to":"luke","text":"hi \\u00e9 \\ud83d\\ude00 \\n","id":2}',
    "history": b'{"type":"history","with":"luke","before":99,"limit":200}',
    "whoelsesince": b'{"type":"whoelsesince","seconds":2147483647}',
    "privatereply": b'{"type":"privatereply","user":"hans","accept":false}',
    "signal": b'{"type":"signal","to":"luke","data":{"sdp":"v=0","candidates":[1,2.5e-3,null,true]}}',
    "numbers": b'[0,-0,1e308,-1.5E+2,123456789012345678901234567890,0.1]',
    "nested": b"[" * 60 + b"]" * 60,
    "too-deep": b"[" * 70 + b"]" * 70,
    "duplicate-keys": b'{"type":"whoelse","type":"logout"}',
    "bad-escape": b'{"type":"message","to":"luke","text":"\\ud800"}',
}

TEXT_SEEDS = {
    # selector bytes: 0x00/0x01 text clients, 0x02 the JSON client, 0x03|(s<<2) a clock jump of s seconds.
    "login-and-commands": b"\x00hans\n\x00solo\n\x00message luke hi there\n\x00broadcast all\n\x00whoelse\n"
                          b"\x00whoelsesince 60\n\x00block luke\n\x00unblock luke\n\x00logout\n",
    "register": b"\x01rey\n\x01jakku\n\x01startprivate hans\n\x01private hans x\n\x01stopprivate hans\n",
    "lockout": b"\x00hans\n\x00a\n\x00b\n\x00c\n\x01hans\n\x01solo\n\x17\n\x01hans\n\x01solo\n",
    "json-and-text": b"\x00hans\n\x00solo\n\x02{\"type\":\"message\",\"to\":\"hans\",\"text\":\"yo\"}\n"
                     b"\x00message luke back\n\xff\n\x00whoelse\n",
    "junk": b"\x00\n\x00   \n\x00hans\n\x00\n\x00message\n\x00whoelsesince -1\n\x00\xff\xfe\n",
}

AUTH_SEEDS = {
    "basic": b"Basic aGFuczpzb2xv",
    "basic-unpadded-colon": b"basic dTpwOjp4",
    "bearer": b"Bearer 0123456789abcdef",
    "credentials-user-pass": b"hans:s\xc3\xb6lo:x",
    "bad-base64": b"Basic a-b_",
    "no-colon": b"Basic aGFucw==",
    "scheme-only": b"Bearer",
    "other-scheme": b"Digest x=1",
}



def varint(value):
    """Unsigned LEB128 of a 64-bit two's complement value, as the store's index rows hold them."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def index_row(entries):
    """(id, partner, seq) per entry, ids rising: the id's step from the previous, the partner, the seq."""
    row, previous = b"", 0
    for ident, partner, seq in entries:
        row += varint(ident - previous) + varint(partner) + varint(seq)
        previous = ident
    return row


INDEX_SEEDS = {
    # A run of 300 entries, more than a row's target: received ones with rising seqs, every fifth one sent.
    "run-300": index_row([(10 + 3 * i, i % 7, 0 if i % 5 == 0 else i + 1) for i in range(300)]),
    "one-received": index_row([(42, 2, 1)]),
    "one-sent": index_row([(42, 2, 0)]),
    "ten-byte-varints": index_row([(2**63 - 1, 2**63 - 1, 2**63 - 1)]),
    "negative-step": varint(-5) + varint(1) + varint(1),
    "ends-inside-an-entry": index_row([(1, 2, 3)]) + varint(4) + varint(5),
    "endless-varint": b"\xff" * 12,
    "overlong-zero": b"\x80\x80\x00\x00\x00",
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
    write("utf8", UTF8_SEEDS, [0x00, 0x05, 0x2A, 0xFF])
    write("lines", LINE_SEEDS, [0x00, 0x05, 0x06, 0x0B, 0xFC])
    write("auth", AUTH_SEEDS, [0x00, 0x15, 0x0A])
    write("index", INDEX_SEEDS, [0x00, 0x01])
    for folder, seeds in (("json", JSON_SEEDS), ("text", TEXT_SEEDS)):
        os.makedirs(os.path.join(HERE, folder), exist_ok=True)
        for name, body in seeds.items():
            with open(os.path.join(HERE, folder, name), "wb") as out:
                out.write(body)
