"""Rooms in the browser page (public/), in headless Chromium against the real server.

Two pages (one at desktop width, one at phone width) create and join rooms, talk in them, see unread counts on a
room that is not open, see who is online; the owner bans the other page's user, who is told and loses the room,
and unbans them by name. A room's history pages back by message id, and a message said while a page was away
arrives once after it comes back. The page's room logic (public/js/rooms.js) also runs under node
(tests/e2e/js/rooms.test.mjs). Screenshots go to PARLEY_ROOM_SHOTS (default: a fresh temporary folder).
"""
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

from selenium.webdriver.common.keys import Keys

from parley_harness import json_client
from test_browser import Proxy, browsers, fresh_failure_shots, send_with_retry, server  # noqa: F401 (fixtures)

SHOTS = []  # the screenshot folder, made at the first screenshot
JS_TESTS = pathlib.Path(__file__).resolve().parent / "js"


def test_page_room_logic_under_node():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run([node, "--test", str(JS_TESTS / "rooms.test.mjs")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def shot(page, name):
    if not SHOTS:
        folder = os.environ.get("PARLEY_ROOM_SHOTS") or tempfile.mkdtemp(prefix="parley-room-shots-")
        SHOTS.append(pathlib.Path(folder))
        SHOTS[0].mkdir(parents=True, exist_ok=True)
        print(f"screenshots in {SHOTS[0]}")
    page.driver.save_screenshot(str(SHOTS[0] / f"{name}-{'phone' if page.phone else 'desktop'}.png"))


def to_list(page):
    """On a phone, back from the conversation to the list of people and rooms."""
    if page.phone and not page.visible("#rooms-section"):
        page.find("#back").click()
        page.wait_for(lambda d: page.visible("#rooms-section"))


def join(page, name):
    """Types a room name and presses Enter, as a keyboard user would."""
    to_list(page)
    box = page.find("#join-room")
    box.clear()
    box.send_keys(name + Keys.ENTER)


def wait_room_open(page, room):
    page.wait_for(lambda d: page.visible("#conv-title") and page.text("#conv-title") == f"#{room}",
                  message=f"{page.name}: #{room} never opened")


def open_room(page, room):
    to_list(page)
    page.wait_for(lambda d: page.find_all(f'#rooms button[data-room="{room}"]'), message=f"#{room} not listed")
    page.find(f'#rooms button[data-room="{room}"]').click()
    wait_room_open(page, room)


def listed_rooms(page):
    return page.script("return [...document.querySelectorAll('#rooms button')].map(b => b.dataset.room)")


def room_unread(page, room):
    return page.script("""
        const b = document.querySelector(`#rooms button[data-room="${arguments[0]}"] .unread`);
        return b ? parseInt(b.textContent, 10) : 0""", room)


def member_online(page, user):
    row = page.find_all(f'#member-list li[data-user="{user}"]')
    return row[0].get_attribute("data-online") if row else None


def count(page, text):
    return page.messages().count(text)


def test_two_pages_share_a_room_and_the_owner_bans(server, browsers):
    hans = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    luke = browsers(server, "phone", "luke").sign_in("luke", "sky")

    # The name rules are checked before anything is sent; the box keeps the focus.
    join(hans, "no spaces!")
    hans.wait_text("#join-error", "Error. Invalid room")
    assert hans.active_id() == "join-room"
    join(hans, "x" * 33)
    hans.wait_text("#join-error", "Error. Invalid room")

    # hans creates #general (typed with its '#') and #side; the composer gets the focus.
    join(hans, "#general")
    wait_room_open(hans, "general")
    hans.wait_note("You created #general")
    assert hans.active_id() == "composer-text"
    hans.wait_for(lambda d: member_online(hans, "hans") == "yes")
    assert "owner" in hans.text('#member-list li[data-user="hans"]')
    join(hans, "side")
    wait_room_open(hans, "side")
    assert listed_rooms(hans) == ["general", "side"]

    # luke (phone) joins both; hans sees him arrive, online.
    join(luke, "side")
    wait_room_open(luke, "side")
    luke.wait_note("You joined #side")
    join(luke, "general")
    wait_room_open(luke, "general")
    open_room(hans, "general")
    hans.wait_for(lambda d: member_online(hans, "luke") == "yes", message="luke never listed online in #general")
    hans.wait_text("#conv-sub", "2 members")

    # Messages both ways, Enter sends.
    hans.send("hello room")
    luke.wait_message("hello room")
    luke.send("hi hans")
    hans.wait_message("hi hans")
    assert count(hans, "hi hans") == 1 and count(luke, "hello room") == 1

    # On a phone the members fold away under the header; unfolded, they show who is online. The room's line
    # under its name is shown whole (it wraps), owner included.
    assert "owner hans" in luke.find("#conv-sub").text
    assert luke.driver.execute_script(
        "const e = document.getElementById('conv-sub'); return e.scrollWidth <= e.clientWidth"), "the room's line is cut off"
    assert not luke.visible("#member-list")
    luke.find("#room-members-summary").click()
    luke.wait_for(lambda d: luke.visible("#member-list") and member_online(luke, "hans") == "yes")
    shot(luke, "09-room-members")

    # A room not open counts what arrives; opening it reads it.
    open_room(luke, "side")
    luke.send("psst")
    hans.wait_for(lambda d: room_unread(hans, "side") == 1, message="no unread count on #side")
    assert room_unread(hans, "general") == 0
    shot(hans, "10-room-unread")
    shot(luke, "10-room-conversation")
    to_list(luke)
    shot(luke, "11-rooms-list")
    open_room(hans, "side")
    hans.wait_message("psst")
    hans.wait_for(lambda d: room_unread(hans, "side") == 0)

    # The owner bans luke from #general: luke is told, and the room leaves his list.
    open_room(hans, "general")
    hans.wait_for(lambda d: hans.find_all('#member-list button[aria-label="Ban luke from #general"]'))
    shot(hans, "12-owner-members")
    hans.find('#member-list button[aria-label="Ban luke from #general"]').click()
    hans.wait_note("luke is banned from #general")
    hans.wait_for(lambda d: member_online(hans, "luke") is None, message="luke still listed as a member")
    to_list(luke)
    luke.wait_text("#rooms-notice", "You were banned from #general by hans")
    luke.wait_for(lambda d: listed_rooms(luke) == ["side"], message="#general still in luke's list")
    shot(luke, "13-banned-notice")

    # Banned: joining again is refused with the server's words; unbanned by name: it works again.
    join(luke, "general")
    luke.wait_text("#join-error", "Error. You are banned from #general")
    box = hans.find("#unban-user")
    box.send_keys("luke" + Keys.ENTER)
    hans.wait_note("luke is unbanned from #general")
    join(luke, "general")
    wait_room_open(luke, "general")
    hans.wait_note("luke joined #general")

    # Removed (not banned): told where he is, the room leaves his list.
    remove = '#member-list button[aria-label="Remove luke from #general"]'
    hans.wait_for(lambda d: hans.find_all(remove), message="no Remove button for luke")
    hans.find(remove).click()
    hans.wait_note("luke was removed from #general")
    luke.wait_note("You were removed from #general by hans")
    to_list(luke)
    luke.wait_text("#rooms-notice", "You were removed from #general by hans")
    luke.wait_for(lambda d: listed_rooms(luke) == ["side"])

    # luke leaves #side with the header's button: no rooms left, and hans sees him go.
    open_room(luke, "side")
    luke.find("#room-leave").click()
    luke.wait_for(lambda d: listed_rooms(luke) == [])
    assert luke.active_id() == "composer-text"
    to_list(luke)
    luke.wait_text("#rooms-empty", "You are in no rooms")
    open_room(hans, "side")
    hans.wait_note("luke left #side")


def test_room_history_pages_back_and_a_missed_message_arrives_once(server, browsers):
    total = 120
    # The page talks to the server through a forwarder, so the test can take its connection away.
    proxy = Proxy(server.http_port)
    try:
        with json_client(server, "hans", "solo") as hans:
            assert send_with_retry(hans, {"type": "join", "room": "log"})["created"] is True
            for i in range(1, total + 1):
                assert send_with_retry(hans, {"type": "say", "room": "log", "text": f"old {i}"})["type"] == "ok"

            # A new member starts at the room's present: the old messages come from history, newest page first.
            page = browsers(proxy.port, "desktop", "luke").sign_in("luke", "sky")
            join(page, "log")
            wait_room_open(page, "log")
            page.wait_message(f"old {total}")
            assert "old 1" not in page.messages()
            shot(page, "20-room-history-newest")
            for _ in range(10):
                if "old 1" in page.messages():
                    break
                shown = len(page.messages())
                page.script("document.getElementById('log').scrollTop = 0")
                page.wait_for(lambda d: len(page.messages()) > shown, message="scrolling up loaded nothing")
            olds = [t for t in page.messages() if t.startswith("old ")]
            assert olds == [f"old {i}" for i in range(1, total + 1)]
            page.wait_text("#log-start", "This is the beginning of #log")
            shot(page, "21-room-history-oldest")

            # Live, then away: what is said meanwhile arrives once after the page comes back, counted as unread.
            hans.wait_for(lambda e: e.get("type") == "room_join" and e.get("user") == "luke")
            send_with_retry(hans, {"type": "say", "room": "log", "text": "live one"})
            page.wait_message("live one")
            page.open_everyone()
            proxy.refusing = True
            proxy.cut()
            hans.wait_for(lambda e: e.get("type") == "presence" and e.get("user") == "luke"
                          and e.get("state") == "out")
            send_with_retry(hans, {"type": "say", "room": "log", "text": "while you were away"})
            proxy.refusing = False
            page.driver.refresh()
            page.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
            page.wait_signed_in("luke")
            page.wait_for(lambda d: room_unread(page, "log") == 1, message="the missed message was not counted once")
            time.sleep(0.5)  # a second copy, if any, would be counted by now
            assert room_unread(page, "log") == 1
            open_room(page, "log")
            page.wait_message("while you were away")
            page.wait_message("live one")
            assert count(page, "while you were away") == 1 and count(page, "live one") == 1

            # Acknowledged per room: with the page gone, a new login of luke is handed nothing of #log again.
            time.sleep(0.5)
            proxy.refusing = True
            proxy.cut()
            hans.wait_for(lambda e: e.get("type") == "presence" and e.get("user") == "luke"
                          and e.get("state") == "out")
            with json_client(server) as luke:
                assert luke.login("luke", "sky", acks=True)["type"] == "welcome"
                time.sleep(1)
                assert luke.request({"type": "rooms"})["rooms"][0]["room"] == "log"
                replayed = [e for e in luke.events if e.get("type") == "room_message"]
                assert replayed == [], replayed
    finally:
        proxy.close()
