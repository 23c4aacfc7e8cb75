"""TLS on both ports (docs/SECURITY.md), against clients nobody here wrote: `openssl s_client` driving text mode,
curl with --cacert, Python `websockets` and `websocat` over wss://, Python's ssl module speaking the JSON protocol,
and an `sslyze` scan whose verdicts are asserted. Plus SIGHUP certificate swaps, --require-tls, a stalled
handshake, garbage after a handshake byte and a handshake storm beside an established conversation."""
import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest
import websockets

from parley_harness import JsonClient, ParleyServer, json_client

VENV_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv", "bin")
USERS = "hans solo\nluke sky\nleia alder\nyoda wise\nrey jakku\n"


def make_certificate(directory, common_name):
    """A self-signed P-256 certificate for 127.0.0.1 and localhost; it is its own CA for the clients."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={common_name}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def tls_server(common_name="parley-test", extra=()):
    directory = tempfile.mkdtemp(prefix="parley-tls-")
    cert, key = make_certificate(directory, common_name)
    server = ParleyServer(block=2, timeout=60, credentials=USERS,
                          extra=["--tls-cert", cert, "--tls-key", key, *extra]).start()
    server.cert, server.key, server.cert_dir = cert, key, directory
    return server


@pytest.fixture(scope="module")
def server():
    s = tls_server()
    yield s
    s.stop()


def client_context(cafile):
    context = ssl.create_default_context(cafile=cafile)
    return context


class TLSJsonClient(JsonClient):
    """The harness's JSON-lines client, its socket wrapped in Python's ssl module."""

    def __init__(self, port, cafile):
        super().__init__(port)
        self.sock = client_context(cafile).wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.events = []


def peer_common_name(port, cafile=None):
    context = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    if not cafile:
        context.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                          capture_output=True, check=True).stdout.decode()
    return re.search(r"CN\s*=\s*([^,\n]+)", text).group(1).strip()


def metrics(server):
    out = subprocess.run(["curl", "-sS", "--cacert", server.cert, f"https://127.0.0.1:{server.http_port}/metrics"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    values = {}
    for line in out.splitlines():
        if line.startswith("parley_tls"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def handshake_count(server, outcome):
    return metrics(server)[f'parley_tls_handshakes_total{{outcome="{outcome}"}}']


def client_hello_prefix():
    """The first half of a real ClientHello (made by Python's ssl on memory BIOs): a handshake that stalls."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[: len(hello) // 2]


# --- clients nobody here wrote ------------------------------------------------------------------------------


def test_openssl_s_client_drives_the_text_dialogue(server):
    luke = json_client(server, "luke", "sky")
    proc = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{server.tcp_port}", "-quiet",
                             "-nocommands", "-CAfile", server.cert, "-verify_return_error"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seen = bytearray()
    reader = threading.Thread(target=lambda: [seen.extend(chunk) for chunk in iter(lambda: proc.stdout.read1(4096), b"")],
                              daemon=True)
    reader.start()

    def expect(text, timeout=10):
        deadline = time.monotonic() + timeout
        while text.encode() not in seen:
            assert time.monotonic() < deadline, f"no {text!r}; saw {bytes(seen)!r}"
            time.sleep(0.02)

    def type_line(line):
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()

    try:
        type_line("")
        expect("Username: ")
        type_line("hans")
        expect("Password: ")
        type_line("solo")
        expect("Welcome to the greatest messaging application ever!\n")
        assert luke.wait_for(lambda e: e["type"] == "presence")["user"] == "hans"
        type_line("message luke hi through s_client")
        assert luke.wait_for(lambda e: e["type"] == "message")["text"] == "hi through s_client"
        luke.request({"type": "message", "to": "hans", "text": "hi back"})
        expect("luke: hi back\n")
        type_line("logout")
        assert proc.wait(10) == 0, "s_client ends when the server closes"
        assert luke.wait_for(lambda e: e["type"] == "presence" and e["state"] == "out")["user"] == "hans"
    finally:
        proc.kill()
        luke.close()


def test_curl_with_cacert_drives_the_rest_api(server):
    base = f"https://127.0.0.1:{server.http_port}/api"

    def curl(url, *args):
        out = subprocess.run(["curl", "-sS", "--cacert", server.cert, "-w", "\n%{http_code}", url, *args],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        body, _, status = out.stdout.rpartition("\n")
        return int(status), body

    status, body = curl(f"{base}/login", "--json", '{"user":"leia","password":"alder"}')
    assert status == 200, body
    token = json.loads(body)["token"]
    yoda = json_client(server, "yoda", "wise")
    try:
        status, body = curl(f"{base}/messages", "-H", f"Authorization: Bearer {token}", "--json",
                            '{"to":"yoda","text":"over https"}')
        assert status == 201, body
        assert yoda.wait_for(lambda e: e["type"] == "message")["text"] == "over https"
        status, body = curl(f"{base}/whoelse", "-H", f"Authorization: Bearer {token}")
        assert status == 200 and "yoda" in json.loads(body)["users"]
    finally:
        yoda.close()
    # Without the CA curl refuses the self-signed certificate: the server really presents it.
    refused = subprocess.run(["curl", "-sS", f"{base}/whoelse"], capture_output=True, text=True, timeout=10)
    assert refused.returncode == 60, refused.stderr


def test_websockets_over_wss_chat_with_a_tcp_client(server):
    async def run():
        tcp = json_client(server, "luke", "sky")
        context = client_context(server.cert)
        async with websockets.connect(f"wss://127.0.0.1:{server.http_port}/ws", ssl=context) as ws:
            await ws.send(json.dumps({"type": "login", "user": "rey", "password": "jakku", "id": 1}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(json.dumps({"type": "message", "to": "luke", "text": "from wss", "id": 2}))
            assert json.loads(await ws.recv())["type"] == "ok"
            assert tcp.wait_for(lambda e: e["type"] == "message")["text"] == "from wss"
            tcp.request({"type": "message", "to": "rey", "text": "to wss"})
            got = json.loads(await ws.recv())
            assert (got["type"], got["text"]) == ("message", "to wss")
        tcp.close()
    asyncio.run(run())


def test_websocat_over_wss(server):
    tcp = json_client(server, "leia", "alder")
    script = json.dumps({"type": "login", "user": "yoda", "password": "wise", "id": 1}) + "\n" + \
        json.dumps({"type": "message", "to": "leia", "text": "via websocat wss", "id": 2}) + "\n"
    # websocat verifies through OpenSSL's default store, which SSL_CERT_FILE points at the test CA.
    proc = subprocess.Popen([os.path.join(VENV_BIN, "websocat"), "--no-close", f"wss://127.0.0.1:{server.http_port}/ws"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, SSL_CERT_FILE=server.cert))
    try:
        proc.stdin.write(script)
        proc.stdin.flush()
        assert tcp.wait_for(lambda e: e["type"] == "message")["text"] == "via websocat wss"
        assert json.loads(proc.stdout.readline())["type"] == "welcome"
    finally:
        proc.terminate()
        proc.wait(5)
        tcp.close()


def test_json_protocol_over_tls_on_the_tcp_port(server):
    secure = TLSJsonClient(server.tcp_port, server.cert)
    plain = json_client(server, "luke", "sky")
    try:
        assert secure.request({"type": "login", "user": "hans", "password": "solo"})["type"] == "welcome"
        assert secure.request({"type": "message", "to": "luke", "text": "sealed"})["type"] == "ok"
        assert plain.wait_for(lambda e: e["type"] == "message")["text"] == "sealed"
        plain.request({"type": "message", "to": "hans", "text": "x" * 30_000})
        assert secure.wait_for(lambda e: e["type"] == "message")["text"] == "x" * 30_000
        assert secure.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        secure.close()
        plain.close()


# --- certificate reload -------------------------------------------------------------------------------------


@pytest.mark.per_node  # SIGHUP goes to one process
def test_sighup_swaps_the_certificate_while_a_client_stays_connected():
    s = tls_server("first")
    try:
        old_ca = os.path.join(s.cert_dir, "first.pem")
        subprocess.run(["cp", s.cert, old_ca], check=True)
        staying = TLSJsonClient(s.tcp_port, old_ca)
        assert staying.request({"type": "login", "user": "hans", "password": "solo"})["type"] == "welcome"
        assert peer_common_name(s.tcp_port) == "first"

        make_certificate(s.cert_dir, "second")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while peer_common_name(s.tcp_port) != "second":
            assert time.monotonic() < deadline, "the new certificate was never served"
            time.sleep(0.05)
        assert peer_common_name(s.http_port, cafile=s.cert) == "second", "both ports, verified against the new one"
        # The open connection keeps its session: it still talks, nothing was dropped.
        assert staying.request({"type": "message", "to": "luke", "text": "still here"})["type"] == "ok"
        assert metrics(s)["parley_tls_certificate_reloads_total"] == 1

        # A broken key on reload: logged, and the certificate in use stays.
        with open(s.key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "TLS reload failed" not in s.log():
            assert time.monotonic() < deadline, s.log()
            time.sleep(0.05)
        assert peer_common_name(s.tcp_port, cafile=s.cert) == "second"
        assert staying.request({"type": "message", "to": "luke", "text": "and still"})["type"] == "ok"
        assert s.proc.poll() is None
        staying.close()
    finally:
        s.stop()


# --- refusals and hostile handshakes ------------------------------------------------------------------------


@pytest.mark.per_node  # reads that node's counters
def test_require_tls_refuses_plaintext_on_both_ports():
    s = tls_server(extra=["--require-tls"])
    try:
        with socket.create_connection(("127.0.0.1", s.tcp_port), timeout=5) as tcp:
            tcp.sendall(b"hans\n")
            received = b""
            while chunk := tcp.recv(4096):
                received += chunk
            assert received == b"Error. TLS required\n"
        with socket.create_connection(("127.0.0.1", s.http_port), timeout=5) as http:
            http.sendall(b"GET /api/whoelse HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            while chunk := http.recv(4096):
                received += chunk
            head = received.split(b"\r\n\r\n", 1)[0].decode()
            assert head.startswith("HTTP/1.1 426 "), head
            assert "\r\nUpgrade: TLS/1.2\r\n" in head and re.search(r"\r\nConnection: Upgrade", head), head
        secure = TLSJsonClient(s.tcp_port, s.cert)
        assert secure.request({"type": "login", "user": "hans", "password": "solo"})["type"] == "welcome"
        secure.close()
        assert handshake_count(s, "plaintext_refused") == 2
    finally:
        s.stop()


@pytest.mark.per_node  # reads that node's counters
def test_a_stalled_handshake_is_closed_at_the_deadline_and_others_are_unaffected(server):
    stalled = socket.create_connection(("127.0.0.1", server.tcp_port), timeout=15)
    stalled.sendall(client_hello_prefix())
    started = time.monotonic()
    talker = TLSJsonClient(server.tcp_port, server.cert)
    assert talker.request({"type": "login", "user": "rey", "password": "jakku"})["type"] == "welcome"
    for n in range(5):
        assert talker.request({"type": "whoelse"}) is not None
    try:
        assert stalled.recv(4096) == b""
    except ConnectionResetError:
        pass
    waited = time.monotonic() - started
    assert 8 < waited < 13, f"closed after {waited:.1f}s; the head deadline is 10 s"
    assert handshake_count(server, "timed_out") >= 1
    assert talker.request({"type": "message", "to": "rey", "text": "self"})["type"] in ("error", "ok")
    talker.close()
    stalled.close()


@pytest.mark.per_node  # reads that node's counters
def test_garbage_after_a_handshake_byte_is_closed_and_the_server_carries_on(server):
    before = handshake_count(server, "failed")
    for port in (server.tcp_port, server.http_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"\x16" + b"\x03\x01\x00\x30" + os.urandom(48) + b"GET / HTTP/1.1\r\n\r\n" * 20)
            try:
                while raw.recv(4096):
                    pass
            except ConnectionResetError:
                pass
    assert handshake_count(server, "failed") >= before + 2
    secure = TLSJsonClient(server.tcp_port, server.cert)
    assert secure.request({"type": "login", "user": "yoda", "password": "wise"})["type"] == "welcome"
    secure.close()


def test_a_handshake_storm_does_not_stop_a_connected_clients_messages():
    s = tls_server(extra=["--limit", "messages=off"])
    try:
        hans = TLSJsonClient(s.tcp_port, s.cert)
        assert hans.request({"type": "login", "user": "hans", "password": "solo"})["type"] == "welcome"
        luke = TLSJsonClient(s.tcp_port, s.cert)
        assert luke.request({"type": "login", "user": "luke", "password": "sky"})["type"] == "welcome"
        quiet = []
        for n in range(20):
            started = time.monotonic()
            hans.request({"type": "message", "to": "luke", "text": f"quiet {n}"})
            luke.wait_for(lambda e: e["type"] == "message" and e["text"] == f"quiet {n}")
            quiet.append(time.monotonic() - started)

        stop = threading.Event()
        stallers = []
        prefix = client_hello_prefix()

        def storm():
            context = ssl._create_unverified_context()
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", s.tcp_port), timeout=5) as raw:
                        with context.wrap_socket(raw, server_hostname="localhost"):
                            pass
                except OSError:
                    pass

        for _ in range(300):  # holders of every handshake slot, and then some waiting in line
            sock = socket.create_connection(("127.0.0.1", s.tcp_port), timeout=5)
            sock.sendall(prefix)
            stallers.append(sock)
        threads = [threading.Thread(target=storm, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        stormy = []
        try:
            for n in range(20):
                started = time.monotonic()
                hans.request({"type": "message", "to": "luke", "text": f"storm {n}"})
                luke.wait_for(lambda e: e["type"] == "message" and e["text"] == f"storm {n}")
                stormy.append(time.monotonic() - started)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
            for sock in stallers:
                sock.close()
        assert max(stormy) < 1.0, (sorted(quiet)[-3:], sorted(stormy)[-3:])
        hans.close()
        luke.close()
    finally:
        s.stop()


# --- the scanner's verdict ----------------------------------------------------------------------------------


@pytest.mark.parametrize("door", ["tcp", "http"])
def test_sslyze_finds_no_old_protocol_weak_cipher_renegotiation_or_compression(server, door):
    port = server.tcp_port if door == "tcp" else server.http_port
    out = os.path.join(server.cert_dir, f"sslyze-{door}.json")
    result = subprocess.run([os.path.join(VENV_BIN, "sslyze"), f"--json_out={out}", "--sslv2", "--sslv3", "--tlsv1",
                             "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--compression", "--reneg", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    with open(out) as f:
        scan = json.load(f)
    (server_result,) = scan["server_scan_results"]
    assert server_result["scan_status"] == "COMPLETED", server_result
    verdicts = server_result["scan_result"]
    for name in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                 "tls_1_2_cipher_suites", "tls_1_3_cipher_suites", "tls_compression", "session_renegotiation"):
        assert verdicts[name]["status"] == "COMPLETED", (name, verdicts[name])
    for old in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        old_result = verdicts[f"{old}_cipher_suites"]["result"]
        assert old_result["is_tls_version_supported"] is False, old
        assert old_result["accepted_cipher_suites"] == [], old
    assert verdicts["tls_1_2_cipher_suites"]["result"]["is_tls_version_supported"] is True
    assert verdicts["tls_1_3_cipher_suites"]["result"]["is_tls_version_supported"] is True
    accepted = [suite["cipher_suite"] for version in ("tls_1_2", "tls_1_3")
                for suite in verdicts[f"{version}_cipher_suites"]["result"]["accepted_cipher_suites"]]
    assert accepted
    for suite in accepted:
        name = suite["name"]
        assert not suite["is_anonymous"], name
        assert suite["key_size"] >= 128, name
        assert not re.search(r"NULL|EXPORT|RC4|3DES|_DES_|MD5|CBC|anon", name), name
        assert "GCM" in name or "CHACHA20_POLY1305" in name, name
        assert name.startswith("TLS_ECDHE_") or name in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                                          "TLS_CHACHA20_POLY1305_SHA256"), name
    assert verdicts["tls_compression"]["result"]["supports_compression"] is False
    renegotiation = verdicts["session_renegotiation"]["result"]
    assert renegotiation["is_vulnerable_to_client_renegotiation_dos"] is False
    assert renegotiation["client_renegotiations_success_count"] == 0
    assert renegotiation["supports_secure_renegotiation"] is True  # RFC 5746 indication, though none is allowed
