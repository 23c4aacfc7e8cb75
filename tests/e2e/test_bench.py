"""`parley bench` against a real server, over both doors: the report has its fields and traffic got through."""
import json
import resource
import subprocess

import pytest

from parley_harness import PARLEY_BIN, JsonClient, ParleyServer

# One group of accounts per test, so that one test's logouts never race the next one's logins.
USERS = "".join(f"{group}{i} benchpw1\n" for group in ("ws", "tcp", "storm", "stall", "room", "guard") for i in range(5))


@pytest.fixture(scope="module")
def server():
    # A load tool floods on purpose: the per-user message limit is switched off for it, as an operator would.
    s = ParleyServer(block=2, timeout=60, credentials=USERS, extra=["--limit", "messages=off"]).start()
    yield s
    s.stop()


def bench(prefix, *args, timeout=60):
    result = subprocess.run([PARLEY_BIN, "bench", "--user-prefix", prefix, *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("transport", ["ws", "tcp"])
def test_bench_reports_deliveries_and_latency(server, transport):
    port = server.http_port if transport == "ws" else server.tcp_port
    report = json.loads(bench(transport, "--port", str(port), "--transport", transport, "-c", "5", "-s", "2", "-r", "40",
                              "--direct", "0.25", "-d", "2", "-w", "0.5", "--json"))
    for field in ("clients", "window_s", "broadcasts_sent", "directs_sent", "acknowledged", "deliveries", "expected",
                  "delivery_ratio", "deliveries_per_s", "latency_ms_p50", "latency_ms_p99", "latency_ms_max", "driver_cpu_util"):
        assert field in report, field
    assert report["transport"] == transport
    assert report["clients"] == 5 and report["clients_failed"] == 0
    assert report["deliveries"] > 0 and report["deliveries_per_s"] > 0
    assert report["broadcasts_sent"] + report["directs_sent"] > 0
    assert report["errors"] == 0
    assert report["delivery_ratio"] > 0.9
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"] <= report["latency_ms_max"]


def test_bench_text_report_and_login_storm(server):
    text = bench("storm", "--port", str(server.tcp_port), "--transport", "tcp", "-c", "0", "--logins", "20", "--users", "1",
                 "-d", "1.5", "-w", "0.2")
    assert "logins: offered" in text
    served = int(text.split("served ")[1].split(" ")[0])
    assert served > 0


def test_bench_stalled_clients_alone_wait_instead_of_spinning(server):
    # With nothing to send the loop must sleep in poll until the window ends. It once woke at once on every
    # pass (an unused send schedule counted as due), burning a core beside the run it was meant to load.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = json.loads(bench("stall", "--port", str(server.http_port), "-c", "0", "--stalled", "2", "-d", "2", "-w", "0",
                              "--json"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert report["stalled_online"] == 2
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.5, f"bench used {cpu:.2f} s of CPU in a 2 s window with nothing to do"


def test_bench_room_fan_out(server):
    # The second run finds every client a member already (already_member is a join as good as the first).
    for _ in range(2):
        report = json.loads(bench("room", "--port", str(server.http_port), "-c", "5", "-s", "2", "-r", "40",
                                  "--room", "benchroom", "-d", "1.5", "-w", "0.3", "--json"))
        assert report["room"] == "benchroom"
        assert report["clients"] == 5 and report["clients_failed"] == 0 and report["joins_failed"] == 0
        assert report["says_sent"] > 0 and report["broadcasts_sent"] == 0 and report["errors"] == 0
        assert report["expected"] == report["says_sent"] * 4  # everyone but the sender
        assert report["delivery_ratio"] > 0.9
        assert 0 < report["latency_ms_p50"] <= report["latency_ms_max"]


def test_bench_room_leaves_out_a_refused_client(server):
    with JsonClient(server.tcp_port) as owner:
        assert owner.login("guard0", "benchpw1")["type"] == "welcome"
        assert owner.request({"type": "join", "room": "guarded"})["created"] is True
        assert owner.request({"type": "ban", "room": "guarded", "user": "guard4"})["type"] == "ok"
        assert owner.request({"type": "logout"})["type"] == "bye"
    text = bench("guard", "--port", str(server.http_port), "-c", "5", "-s", "1", "-r", "20", "--room", "guarded",
                 "-d", "1", "-w", "0.2")
    assert "connected and logged in: 4/5" in text
    assert "1 clients could not join #guarded (first refusal: banned)" in text
    assert "in #guarded" in text


def test_bench_refuses_nonsense():
    result = subprocess.run([PARLEY_BIN, "bench", "--port", "1", "--direct", "2"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "--direct" in result.stderr
    result = subprocess.run([PARLEY_BIN, "bench", "--port", "1", "--room", "#general"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "--room" in result.stderr
