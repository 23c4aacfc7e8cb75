"""`parley connect --tls`, the terminal client over TLS, in a pseudo-terminal against the real server.

A test CA and a server certificate for 127.0.0.1 and localhost are made with `openssl` for the run. Covered: the
login dialogue, a message between two users and logout over TLS (by address and by host name); a CA the client
does not trust, a host name the certificate is not for, and a server that does not speak TLS, each refused with
a line saying which and exit status 3; `--insecure` connecting with a warning; the option rules; the README's
self-signed certificate command; `parley bench --tls` over WebSocket and native TCP.
"""
import base64
import hashlib
import json
import os
import re
import subprocess

import pytest

from parley_harness import PARLEY_BIN, ParleyServer
from terminal_client import TerminalClient

# The login storm of `parley bench --tls` logs in as sws0, sws1 (WebSocket) and stcp0, stcp1 (native TCP).
CREDENTIALS = "hans solo\nluke sky\n" + "".join(f"s{t}{i} benchpw1\n" for t in ("ws", "tcp") for i in range(2))
CONNECTION_LOST = 3


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory, names=("localhost",), addresses=("127.0.0.1",)):
    """A CA (ca.pem) and a server certificate it signed (server.pem, server.key) for `names` and `addresses`,
    both ECDSA P-256, in `directory`. Returns the paths."""
    os.makedirs(directory, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Parley test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", f"/CN={names[0] if names else addresses[0]}", cwd=directory)
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{a}" for a in addresses])
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.pem", cwd=directory)
    return {name: os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")}


def spki_hash(certificate):
    """base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: what Chromium's
    --ignore-certificate-errors-spki-list takes."""
    key = subprocess.run(["openssl", "x509", "-in", certificate, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=key, check=True,
                         capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    trusted = make_pki(str(base / "trusted"))
    other = make_pki(str(base / "other"))  # a CA the server's certificate has nothing to do with
    return {"ca": trusted["ca.pem"], "cert": trusted["server.pem"], "key": trusted["server.key"],
            "other_ca": other["ca.pem"]}


@pytest.fixture
def server(pki):
    s = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS,
                     extra=["--tls-cert", pki["cert"], "--tls-key", pki["key"]]).start()
    yield s
    s.stop()


@pytest.fixture
def clients():
    started = []

    def start(*args):
        client = TerminalClient(*args)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def test_login_message_and_logout_over_tls(server, pki, clients):
    hans = clients("--tls", "--ca", pki["ca"], server.tcp_port).login("hans", "solo")
    # By host name: the certificate is checked against the name (and the name is sent as SNI).
    luke = clients("--tls", "--ca", pki["ca"], "localhost", server.tcp_port).login("luke", "sky")
    hans.expect("luke logged in")
    hans.command("message luke hello over TLS")
    luke.expect("hans: hello over TLS")
    luke.command("broadcast and back")
    hans.expect("luke: and back")
    hans.command("whoelse", "luke")
    luke.command("logout")
    assert luke.exit_status() == 0
    hans.expect("luke logged out")
    hans.command("logout")
    assert hans.exit_status() == 0
    assert "warning" not in hans.transcript


def test_a_certificate_from_an_unknown_ca_is_refused(server, pki, clients):
    other = clients("--tls", "--ca", pki["other_ca"], server.tcp_port)
    assert other.exit_status() == CONNECTION_LOST
    assert "signed by an unknown certificate authority" in other.transcript
    assert "Username" not in other.transcript
    # The system's store knows nothing of the test CA either.
    system = clients("--tls", server.tcp_port)
    assert system.exit_status() == CONNECTION_LOST
    assert "unknown certificate authority" in system.transcript


def test_a_certificate_for_another_name_is_refused(server, pki, clients):
    # 127.0.0.2 reaches the same server (all of 127/8 is loopback) but is not in the certificate.
    wrong = clients("--tls", "--ca", pki["ca"], "127.0.0.2", server.tcp_port)
    assert wrong.exit_status() == CONNECTION_LOST
    assert "not valid for 127.0.0.2" in wrong.transcript


def test_insecure_connects_with_a_warning(server, clients):
    hans = clients("--tls", "--insecure", server.tcp_port)
    hans.expect("warning: --insecure: the server's certificate is not verified")
    hans.login("hans", "solo")
    hans.command("logout")
    assert hans.exit_status() == 0


def test_a_server_without_tls_is_refused_clearly(pki, clients):
    plain = ParleyServer(block=3, timeout=60, credentials=CREDENTIALS).start()
    try:
        client = clients("--tls", "--ca", pki["ca"], plain.tcp_port)
        assert client.exit_status() == CONNECTION_LOST
        assert "TLS with 127.0.0.1 port" in client.transcript
        assert "Username" not in client.transcript
    finally:
        plain.stop()


def test_ca_and_insecure_need_tls_and_exclude_each_other(pki):
    for args in (["--ca", pki["ca"], "4000"], ["--insecure", "4000"], ["--tls", "--insecure", "--ca", pki["ca"], "4000"]):
        result = subprocess.run([PARLEY_BIN, "connect", *args], capture_output=True, text=True, timeout=10)
        assert result.returncode != 0 and "--ca and --insecure" in result.stderr, (args, result.stderr)


def test_help_says_private_chats_stay_plaintext():
    result = subprocess.run([PARLEY_BIN, "connect", "--help"], capture_output=True, text=True, timeout=10)
    assert "--tls" in result.stdout and "Private messages stay plaintext" in result.stdout


def test_the_readme_self_signed_certificate_works_with_ca(tmp_path, clients):
    """The README's command for a LAN certificate, with this machine's name and address, trusted with --ca."""
    readme = open(os.path.join(os.path.dirname(__file__), "../../README.md")).read()
    command = re.search(r"^openssl req -x509 -newkey ec .*?(?=\n[^ ])", readme, re.S | re.M).group(0)
    command = command.replace("chat.lan", "localhost").replace("192.168.1.10", "127.0.0.1")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, capture_output=True)
    s = ParleyServer(credentials=CREDENTIALS, extra=["--tls-cert", str(tmp_path / "parley.pem"),
                                                     "--tls-key", str(tmp_path / "parley.key")]).start()
    try:
        hans = clients("--tls", "--ca", str(tmp_path / "parley.pem"), "localhost", s.tcp_port).login("hans", "solo")
        hans.command("logout")
        assert hans.exit_status() == 0
    finally:
        s.stop()


@pytest.mark.parametrize("transport", ["ws", "tcp"])
def test_bench_over_tls(server, pki, transport):
    port = server.http_port if transport == "ws" else server.tcp_port

    def bench(*args):
        result = subprocess.run([PARLEY_BIN, "bench", "--port", str(port), "--transport", transport, "--tls",
                                 "--ca", pki["ca"], "-w", "0.5", "--json", *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["tls"] == "on" and report["tls_handshakes_failed"] == 0, report
        return report

    fan_out = bench("-c", "6", "-s", "2", "-r", "4", "-d", "1.5", "--user-prefix", f"f{transport}")
    assert fan_out["clients"] == 6 and fan_out["deliveries"] > 0, fan_out
    # A login storm: every attempt a connection of its own, with its own full handshake.
    storm = bench("-c", "0", "--logins", "4", "--users", "2", "-d", "4", "--user-prefix", f"s{transport}")
    assert storm["logins_served"] > 0, storm


def test_bench_over_tls_reports_a_refused_certificate(server, pki):
    result = subprocess.run([PARLEY_BIN, "bench", "--port", str(server.tcp_port), "--transport", "tcp", "--tls",
                             "--ca", pki["other_ca"], "-c", "2", "-d", "0.5", "-w", "0", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert json.loads(result.stdout)["tls_handshakes_failed"] == 2
    assert "unknown certificate authority" in result.stderr
