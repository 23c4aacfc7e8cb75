"""WebSocket at /ws and the HTTP port, against clients nobody here wrote: Autobahn's cases (through kosoku),
Python `websockets`, `websocat`, and raw sockets for the shapes well-behaved libraries refuse to send."""
import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile

import pytest
import websockets

from parley_harness import ParleyServer, json_client

VENV_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv", "bin")


@pytest.fixture(scope="module")
def server():
    s = ParleyServer(block=2, timeout=60, credentials="hans solo\nluke sky\nleia alder\nyoda wise\n", extra=["--ws-echo"]).start()
    yield s
    s.stop()


def ws_url(server, path="/ws"):
    return f"ws://127.0.0.1:{server.http_port}{path}"


def test_autobahn_cases_pass_outside_compression(server):
    out = tempfile.mkdtemp(prefix="autobahn-")
    result = subprocess.run([os.path.join(VENV_BIN, "kosoku"), "-p", "2", "-x", "12.*", "-x", "13.*", "-o", out,
                             ws_url(server, "/ws/echo")], capture_output=True, text=True, timeout=600, cwd=out)
    print(result.stdout[-2000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "301 cases passed" in result.stdout


def test_websockets_client_chats_with_a_tcp_client(server):
    async def run():
        tcp = json_client(server, "luke", "sky")
        async with websockets.connect(ws_url(server)) as ws:
            await ws.send(json.dumps({"type": "login", "user": "hans", "password": "solo", "id": 1}))
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome" and welcome["re"] == 1
            assert tcp.wait_for(lambda e: e["type"] == "presence")["user"] == "hans"
            await ws.send(json.dumps({"type": "message", "to": "luke", "text": "from the web", "id": 2}))
            assert json.loads(await ws.recv())["type"] == "ok"
            assert tcp.wait_for(lambda e: e["type"] == "message")["text"] == "from the web"
            tcp.request({"type": "message", "to": "hans", "text": "from the terminal"})
            got = json.loads(await ws.recv())
            assert got["type"] == "message" and got["text"] == "from the terminal" and got["from"] == "luke"
            await ws.send(json.dumps({"type": "logout", "id": 3}))
            assert json.loads(await ws.recv())["type"] == "bye"
        tcp.close()
    asyncio.run(run())


def test_websocat_chats_through_the_hub(server):
    tcp = json_client(server, "leia", "alder")
    script = "\n".join([
        json.dumps({"type": "login", "user": "yoda", "password": "wise", "id": 1}),
        json.dumps({"type": "message", "to": "leia", "text": "via websocat", "id": 2}),
    ]) + "\n"
    proc = subprocess.Popen([os.path.join(VENV_BIN, "websocat"), "--no-close", ws_url(server)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(script)
    proc.stdin.flush()
    assert tcp.wait_for(lambda e: e["type"] == "message")["text"] == "via websocat"
    tcp.request({"type": "message", "to": "yoda", "text": "back to websocat"})
    lines = []
    while True:
        line = proc.stdout.readline()
        lines.append(json.loads(line))
        if lines[-1].get("text") == "back to websocat":
            break
    assert [l["type"] for l in lines[:2]] == ["welcome", "ok"]
    proc.terminate()
    proc.wait(5)
    tcp.close()


def raw_handshake(server, extra="", path="/ws", version="13", origin=None):
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    host = f"127.0.0.1:{server.http_port}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", f"Sec-WebSocket-Version: {version}"]
    if origin:
        lines.append(f"Origin: {origin}")
    s.sendall(("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head.decode(errors="replace")


def masked_frame(opcode, payload, fin=True, mask=True):
    header = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        header += bytes([m | n])
    elif n < 65536:
        header += bytes([m | 126]) + struct.pack(">H", n)
    else:
        header += bytes([m | 127]) + struct.pack(">Q", n)
    if not mask:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_close_code(s):
    data = b""
    s.settimeout(5)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    # Find the close frame (opcode 8) at the end of what the server sent.
    i = data.rfind(b"\x88")
    assert i >= 0, data[:200]
    return struct.unpack(">H", data[i + 2:i + 4])[0]


@pytest.mark.per_node  # the Origin names the port it connects to
def test_handshake_accept_value_and_refusals(server):
    s, head = raw_handshake(server)
    assert head.startswith("HTTP/1.1 101")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    s.close()
    s, head = raw_handshake(server, version="8")
    assert head.startswith("HTTP/1.1 426") and "Sec-WebSocket-Version: 13" in head
    s.close()
    s, head = raw_handshake(server, origin="http://evil.example")
    assert head.startswith("HTTP/1.1 403")
    s.close()
    s, head = raw_handshake(server, origin=f"http://127.0.0.1:{server.http_port}")
    assert head.startswith("HTTP/1.1 101")
    s.close()


def test_message_limit_is_inclusive_and_larger_closes_1009(server):
    s, head = raw_handshake(server)
    assert "101" in head
    # 64 KiB is the limit after login; before it, 4 KiB (docs/SECURITY.md, tests/e2e/test_abuse_limits.py).
    s.sendall(masked_frame(1, json.dumps({"type": "register", "user": "bigframes", "password": "pw"}).encode()))
    body = json.dumps({"type": "whoelse", "id": "pad", "pad": ""})
    payload = (body[:-2] + "x" * (65536 - len(body)) + '"}').encode()
    assert len(payload) == 65536
    s.settimeout(5)
    reply = b""
    while b"welcome" not in reply:
        reply += s.recv(4096)
    s.sendall(masked_frame(1, payload))
    while b'"re":"pad"' not in reply:
        reply += s.recv(4096)  # accepted and answered: the limit is inclusive
    s.sendall(masked_frame(1, b"x" * 65537))
    assert read_close_code(s) == 1009


def test_unmasked_frames_and_bad_utf8_are_refused(server):
    s, _ = raw_handshake(server)
    s.sendall(masked_frame(1, b'{"type":"whoelse"}', mask=False))
    assert read_close_code(s) == 1002
    s, _ = raw_handshake(server)
    s.sendall(masked_frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"))
    assert read_close_code(s) == 1007


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
])
def test_http_smuggling_shapes_and_limits(server, request_bytes, status):
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    s.sendall(request_bytes)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break  # and the server closed the connection
        data += chunk
    assert data.startswith(f"HTTP/1.1 {status}".encode()), data[:120]
    assert b"\nHTTP/1.1 " not in data, "no smuggled second response"


def test_keep_alive_pipelining_head_etag_and_traversal(server):
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    responses = data.split(b"HTTP/1.1 ")[1:]
    assert [r[:3] for r in responses] == [b"200", b"200", b"404"]
    assert b"Content-Security-Policy" in responses[1] and b"<!doctype" not in responses[1].lower()
    etag = [l for l in responses[1].split(b"\r\n") if l.lower().startswith(b"etag:")][0].split(b": ", 1)[1]
    s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + b"\r\nConnection: close\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 304")
    for path in [b"/../credentials.txt", b"/%2e%2e/%2e%2e/etc/passwd", b"/.git/config", b"/js/..%2f..%2fREADME.md"]:
        s = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = s.recv(65536)
        assert reply.startswith(b"HTTP/1.1 404") or reply.startswith(b"HTTP/1.1 400"), (path, reply[:60])
