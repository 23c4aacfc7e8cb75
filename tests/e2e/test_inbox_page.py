"""The browser page and the inbox (docs/PROTOCOL.md §11.2): each seq shown once, acks coalesced.

The page's logic (public/js/acks.js) runs under node today (tests/e2e/js/acks.test.mjs). The test marked
`needs_inbox` runs against the real server once it serves the inbox: the page's connection is cut while a
flood of messages comes in, and every message is then shown exactly once, on the same page after it
reconnects, after a reload, and on a new page signed in with the password.
"""
import pathlib
import shutil
import subprocess
import threading
import time

import pytest

from parley_harness import json_client
from test_browser import Proxy, browsers, fresh_failure_shots, start_server  # noqa: F401 (fixtures)

JS_TESTS = pathlib.Path(__file__).resolve().parent / "js"


def test_page_inbox_logic_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run([node, "--test", str(JS_TESTS / "acks.test.mjs")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


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


@pytest.mark.needs_inbox
def test_a_page_cut_off_mid_flood_shows_every_message_once(browsers):
    server = start_server(block=30, timeout=600, extra=["--limit", "messages=off"])
    proxy = Proxy(server.http_port)
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
            proxy.cut()
            sender.join()
            replies = 0
            while replies < FLOOD:
                reply = hans.recv(60)
                assert reply is not None, "the server closed the sender"
                if "re" in reply:
                    assert reply["type"] == "ok", reply
                    replies += 1

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
