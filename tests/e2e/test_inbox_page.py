"""The browser page and the inbox (docs/PROTOCOL.md): each seq shown once, acks coalesced.

The page's logic (public/js/acks.js) runs under node (tests/e2e/js/acks.test.mjs), and the whole page runs in
Chromium, behind a forwarder that plays an inbox the test controls (seq_proxy.py) and against the server's own:
the page stops reading in the middle of a flood and its connection is then cut, and every message is shown
exactly once, on the same page after it reconnects, after a reload, and on a new page signed in with the
password.
"""
import pathlib
import shutil
import subprocess
import threading
import time

import pytest

from parley_harness import json_client
from seq_proxy import SeqProxy
from test_browser import browsers, fresh_failure_shots, start_server  # noqa: F401 (fixtures)

JS_TESTS = pathlib.Path(__file__).resolve().parent / "js"


def test_page_inbox_logic_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run([node, "--test", str(JS_TESTS / "acks.test.mjs")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def acks_since(proxy, since):
    return [(t, r["seq"]) for t, r in proxy.requests("ack") if t >= since]


def wait_ack(proxy, seq, since, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, acked in acks_since(proxy, since):
            if acked == seq:
                return t
        time.sleep(0.02)
    raise AssertionError(f"no ack of {seq}; acks: {acks_since(proxy, since)}")


def test_the_page_shows_each_seq_once_and_coalesces_its_acks(browsers):
    server = start_server(block=30, timeout=600, extra=["--limit", "messages=off"])
    proxy = SeqProxy(server.http_port)
    try:
        with json_client(server, "hans", "solo") as hans:
            page = browsers(proxy.port, "desktop", "luke").sign_in("luke", "sky")
            assert proxy.requests("login")[-1][1]["acks"] is True
            page.open("hans")

            # Every message twice under two ids with one seq: shown once, acknowledged.
            proxy.repeat = True
            start = time.monotonic()
            for i in range(3):
                hans.request({"type": "message", "to": "luke", "text": f"repeat {i}."})
            page.wait_message("repeat 2.")
            wait_ack(proxy, 3, start)
            proxy.repeat = False

            # Under load: 200 messages in bursts; far fewer acks, 100 ms apart, the last one soon after.
            start = time.monotonic()
            for burst in range(20):
                for i in range(burst * 10, burst * 10 + 10):
                    hans.send({"type": "message", "to": "luke", "text": f"load {i}."})
                time.sleep(0.02)
            replies = 0
            while replies < 200:
                if "re" in hans.recv(30):
                    replies += 1
            page.wait_message("load 199.", timeout=30)
            last_delivered = max(t for t, _, _ in proxy.delivered)
            last_ack = wait_ack(proxy, 203, start)
            acks = acks_since(proxy, start)
            assert len(acks) <= (last_delivered - start) / 0.1 + 3, acks
            for (a, _), (b, _) in zip(acks, acks[1:]):
                assert b - a >= 0.05, f"acks {b - a:.3f} s apart: {acks}"
            assert last_ack - last_delivered < 1.0, "the trailing ack came late"

            # Acks lost in a drop: the messages come again after the reconnect, are not shown again, and are
            # acknowledged again on the new connection.
            proxy.lose_acks = True
            for i in range(20):
                hans.request({"type": "message", "to": "luke", "text": f"before the cut {i}."})
            page.wait_message("before the cut 19.")
            time.sleep(0.3)
            start = time.monotonic()
            proxy.lose_acks = False
            proxy.cut()
            page.wait_connected(timeout=40)
            wait_ack(proxy, 223, start, timeout=10)

            # A reload: what this tab showed and never got acknowledged is not shown (or counted) again.
            proxy.lose_acks = True
            for i in range(5):
                hans.request({"type": "message", "to": "luke", "text": f"before the reload {i}."})
            page.wait_message("before the reload 4.")
            time.sleep(0.3)
            proxy.lose_acks = False
            page.open(" everyone")
            start = time.monotonic()
            page.driver.refresh()
            page.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
            page.wait_signed_in("luke")
            wait_ack(proxy, 228, start, timeout=10)
            assert page.unread("hans") == 0, "replayed messages counted as new"
            page.open("hans")
            page.wait_message("before the reload 4.")
            assert "offline" not in page.message_row("before the reload 0.")["cls"]
            scroll_to(page, "repeat 0.")
            time.sleep(0.5)
            shown = page.messages()
            texts = ([f"repeat {i}." for i in range(3)] + [f"load {i}." for i in range(200)]
                     + [f"before the cut {i}." for i in range(20)] + [f"before the reload {i}." for i in range(5)])
            wrong = {t: shown.count(t) for t in texts if shown.count(t) != 1}
            assert not wrong, wrong

            # Logging out: the last ack goes before the logout, none after.
            hans.request({"type": "message", "to": "luke", "text": "the last one."})
            page.wait_message("the last one.")
            page.find("#logout").click()
            page.wait_for(lambda d: page.visible("#username"))
            time.sleep(0.3)
            with proxy.lock:
                order = [r for _, r in proxy.sent]
            logout_at = max(i for i, r in enumerate(order) if r.get("type") == "logout")
            assert all(r.get("type") != "ack" for r in order[logout_at:]), order[logout_at:]
            assert max(r["seq"] for r in order[:logout_at] if r.get("type") == "ack") == 229
    finally:
        proxy.close()
        server.stop()


def test_the_page_never_acks_a_server_without_seq(browsers):
    server = start_server(block=30, timeout=600)
    proxy = SeqProxy(server.http_port, add_seq=False, version1=True)
    try:
        with json_client(server, "hans", "solo") as hans:
            page = browsers(proxy.port, "desktop", "luke").sign_in("luke", "sky")
            assert proxy.requests("login")[-1][1]["acks"] is True
            page.open("hans")
            for i in range(3):
                hans.request({"type": "message", "to": "luke", "text": f"plain {i}."})
            page.wait_message("plain 2.")
            proxy.cut()
            page.wait_connected(timeout=40)
            hans.request({"type": "message", "to": "luke", "text": "after the drop."})
            page.wait_message("after the drop.")
            time.sleep(0.5)
            assert [page.messages().count(f"plain {i}.") for i in range(3)] == [1, 1, 1]
            page.find("#logout").click()
            page.wait_for(lambda d: page.visible("#username"))
            assert proxy.requests("ack") == []
    finally:
        proxy.close()
        server.stop()


def scroll_to(page, text, pages=20):
    for _ in range(pages):
        if text in page.messages() or not page.visible("#older"):
            return
        count = len(page.messages())
        page.script("document.getElementById('log').scrollTop = 0")
        page.wait_for(lambda d: len(page.messages()) > count or not page.visible("#older"),
                      message=f"{page.name}: scrolling up loaded nothing")


# -- Against the real server, once it serves the inbox --------------------------------------------------------

FLOOD = 600


def flood_texts():
    return [f"flood {i:04d}." for i in range(FLOOD)]


def count_each(page):
    shown = page.messages()
    return {text: shown.count(text) for text in flood_texts()}


def scroll_to_the_beginning(page):
    """Pages back through the open conversation's history until its first message is loaded."""
    for _ in range(FLOOD // 50 + 10):
        if not page.visible("#older") and "flood 0000." in page.messages():
            return
        count = len(page.messages())
        page.script("document.getElementById('log').scrollTop = 0")
        page.wait_for(lambda d: len(page.messages()) > count or not page.visible("#older"),
                      message=f"{page.name}: scrolling up loaded nothing")
    raise AssertionError("the beginning of the conversation never loaded")


def assert_each_once(page, where):
    counts = count_each(page)
    wrong = {text: n for text, n in counts.items() if n != 1}
    assert not wrong, f"{where}: not shown exactly once: {dict(list(wrong.items())[:20])} ({len(wrong)} in all)"


def test_a_page_cut_off_mid_flood_shows_every_message_once(browsers):
    server = start_server(block=30, timeout=600, extra=["--limit", "messages=off"])
    proxy = SeqProxy(server.http_port, add_seq=False)  # the server numbers the inbox itself
    try:
        with json_client(server, "hans", "solo") as hans:
            page = browsers(proxy.port, "desktop", "luke").sign_in("luke", "sky")
            page.open("hans")

            def flood():
                # In bursts, so the cut below comes while messages are still arriving.
                for start in range(0, FLOOD, 20):
                    for i in range(start, start + 20):
                        hans.send({"type": "message", "to": "luke", "text": f"flood {i:04d}."})
                    time.sleep(0.05)
            sender = threading.Thread(target=flood)
            sender.start()
            page.wait_for(lambda d: len(page.messages()) >= 100, timeout=30, message="the flood never arrived")
            # The page stops getting anything: the rest is written towards it and dies with the connection.
            proxy.stalled = True
            sender.join()
            replies = 0
            while replies < FLOOD:
                reply = hans.recv(60)
                assert reply is not None, "the server closed the sender"
                if "re" in reply:
                    assert reply["type"] == "ok", reply
                    replies += 1
            proxy.cut()
            proxy.stalled = False

            # The same page reconnects by itself; what it missed or never acknowledged comes again, once.
            page.wait_connected(timeout=40)
            page.wait_message(f"flood {FLOOD - 1:04d}.", timeout=30)
            time.sleep(1)
            assert_each_once(page, "after the reconnect")

            # A reload rebuilds the conversation from history and whatever the server replays.
            page.driver.refresh()
            page.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
            page.wait_signed_in("luke")
            page.open("hans")
            page.wait_message(f"flood {FLOOD - 1:04d}.", timeout=30)
            scroll_to_the_beginning(page)
            time.sleep(1)
            assert_each_once(page, "after a reload")

            # Signed out, then in again on a new page with the password.
            page.find("#logout").click()
            page.wait_for(lambda d: page.visible("#username"))
            again = browsers(proxy.port, "desktop", "luke-again").sign_in("luke", "sky")
            again.open("hans")
            again.wait_message(f"flood {FLOOD - 1:04d}.", timeout=30)
            scroll_to_the_beginning(again)
            time.sleep(1)
            assert_each_once(again, "on a new page")
    finally:
        proxy.close()
        server.stop()
