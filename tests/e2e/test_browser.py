"""The browser page (public/) in headless Chromium, driven by Selenium, against the real server.

Two pages sign in and see each other's presence, exchange direct messages and broadcasts, block and unblock,
page back through history, survive a reload and a dropped connection (resuming with the token), get the idle
notice, and talk with a terminal client. Every test saves screenshots at desktop (1280×800) and phone
(390×844) width to artifacts/screenshots/ for a person to look at.
"""
import json
import os
import pathlib
import re
import select
import socket
import threading
import time

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from parley_harness import ParleyServer, json_client
from terminal_client import TerminalClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
PUBLIC = ROOT / "public"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

CREDENTIALS = "hans solo\nluke sky\nleia alder\nyoda wise\nrey jakku\n"
DESKTOP, PHONE = (1280, 800), (390, 844)
WAIT = 15

WELCOME = "Welcome to the greatest messaging application ever!"
NEW_USER = "This is a new user. Enter a password:"
INVALID_PASSWORD = "Invalid Password. Please try again"
LOCKED_NOW = "Invalid Password. Your account has been blocked. Please try again later"
LOCKED_ALREADY = "Your account is blocked due to multiple login failures. Please try again later"
BLOCKED_YOU = "Your message could not be delivered as the recipient has blocked you"
SOME_MISSED = "Your message could not be delivered to some recipients"
TIMED_OUT = "You have been logged out due to inactivity"


# -- Fixtures -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def fresh_failure_shots():
    """Screenshots of failures are from this run only."""
    for old in SHOTS.glob("FAILED-*.png"):
        old.unlink()

def start_server(**kw):
    kw.setdefault("credentials", CREDENTIALS)
    extra = list(kw.pop("extra", ())) + ["--public-dir", str(PUBLIC)]
    return ParleyServer(extra=extra, **kw).start()


@pytest.fixture
def server():
    s = start_server(block=30, timeout=120)
    yield s
    s.stop()


@pytest.fixture
def browsers(request):
    """Opens pages: browsers(server_or_port, "desktop" | "phone", name). Quits them all at the end; if the test
    failed, first saves a last screenshot of each and prints its console."""
    pages = []
    failures_before = request.session.testsfailed

    def open_page(target, size="desktop", name=None):
        port = target if isinstance(target, int) else target.http_port
        page = Page(port, PHONE if size == "phone" else DESKTOP, name or f"page{len(pages) + 1}")
        pages.append(page)
        return page

    yield open_page
    failed = request.session.testsfailed > failures_before
    for page in pages:
        try:
            if failed:
                page.shot(f"FAILED-{request.node.name}-{page.name}")
                print(f"--- console of {page.name} ---")
                for entry in page.driver.get_log("browser"):
                    print(entry["level"], entry["message"])
        except WebDriverException:
            pass
        finally:
            page.quit()


# -- The page, as a person uses it ---------------------------------------------------------------------------

class Page:
    def __init__(self, port, size, name):
        self.base = f"http://127.0.0.1:{port}/"
        self.name = name
        self.size = size
        options = Options()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", f"--window-size={size[0]},{size[1]}",
                    # Private chat (WebRTC): plain host addresses as ICE candidates instead of mDNS names, so
                    # two pages on this host connect without depending on multicast name resolution.
                    "--disable-features=WebRtcHideLocalIpsWithMdns"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # The exact CSS viewport (a headless window has a minimum width wider than a phone).
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size == PHONE})
        self.driver.get(self.base)
        self.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    @property
    def phone(self):
        return self.size == PHONE

    # -- waiting and reading
    def wait_for(self, condition, timeout=WAIT, message=""):
        def safe(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False
        return WebDriverWait(self.driver, timeout).until(safe, message)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css):
        elements = self.find_all(css)
        return bool(elements) and elements[0].is_displayed()

    def text(self, css):
        return self.find(css).text

    def wait_text(self, css, text, timeout=WAIT):
        """Waits until the element's visible text contains `text`."""
        self.wait_for(lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)), timeout,
                      f"{self.name}: {text!r} never appeared in {css}")

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        kind = "phone" if self.phone else "desktop"
        self.driver.save_screenshot(str(SHOTS / f"{name}-{kind}.png"))

    def script(self, js, *args):
        return self.driver.execute_script(js, *args)

    def active_id(self):
        return self.script("return document.activeElement && document.activeElement.id")

    # -- signing in
    def enter_name(self, user):
        self.wait_for(lambda d: self.visible("#username"))
        field = self.find("#username")
        field.clear()
        field.send_keys(user + Keys.ENTER)
        self.wait_for(lambda d: self.visible("#password"), message=f"{self.name}: no password step for {user}")

    def enter_password(self, password):
        self.find("#password").send_keys(password + Keys.ENTER)

    def sign_in(self, user, password, new=False):
        self.enter_name(user)
        self.wait_text("#password-form", NEW_USER if new else "Password")
        self.enter_password(password)
        self.wait_signed_in(user)
        return self

    def wait_signed_in(self, user):
        self.wait_for(lambda d: self.visible("#chat-view") and self.text("#me-name") == user,
                      message=f"{self.name}: never signed in as {user}")
        self.wait_connected()

    def wait_connected(self, timeout=WAIT):
        self.wait_for(lambda d: self.find("#status").get_attribute("data-state") == "online", timeout,
                      f"{self.name}: never connected; status: {self.text('#status')!r}")

    # -- the chat
    def person(self, peer):
        return self.find(f'#people button[data-peer="{peer}"]')

    def wait_person(self, peer, online=None, timeout=WAIT):
        def check(d):
            buttons = self.find_all(f'#people button[data-peer="{peer}"]')
            if not buttons:
                return False
            return online is None or buttons[0].get_attribute("data-online") == ("yes" if online else "no")
        self.wait_for(check, timeout, f"{self.name}: {peer} never listed as online={online}")

    def online_people(self):
        return [b.get_attribute("data-peer") for b in self.find_all('#people button[data-online="yes"]')
                if b.get_attribute("data-peer") != " everyone"]

    def open(self, peer):
        if self.phone and not self.visible("#people"):
            self.find("#back").click()
        self.wait_person(peer)
        self.person(peer).click()
        title = "Everyone" if peer == " everyone" else peer
        self.wait_for(lambda d: self.visible("#conv-title") and self.text("#conv-title") == title)

    def open_everyone(self):
        self.open(" everyone")

    def send(self, text):
        box = self.find("#composer-text")
        box.send_keys(text + Keys.ENTER)

    def messages(self):
        """The texts of the messages in the open conversation, oldest first."""
        return self.script("return [...document.querySelectorAll('#messages .msg .msg-text')].map(e => e.textContent)")

    def notes(self):
        return self.script("return [...document.querySelectorAll('#messages .note')].map(e => e.textContent)")

    def wait_message(self, text, timeout=WAIT):
        self.wait_for(lambda d: text in self.messages(), timeout, f"{self.name}: message {text!r} never shown")

    def wait_note(self, text, timeout=WAIT):
        self.wait_for(lambda d: any(text in n for n in self.notes()), timeout, f"{self.name}: note {text!r} never shown")

    def message_row(self, text):
        return self.script("""
            const row = [...document.querySelectorAll('#messages .msg')].find(r => r.querySelector('.msg-text').textContent === arguments[0]);
            return row ? {cls: row.className, text: row.innerText} : null""", text)

    def unread(self, peer):
        badge = self.find_all(f'#people button[data-peer="{peer}"] .unread')
        return int(re.match(r"\d+", badge[0].get_attribute("textContent")).group()) if badge else 0

    def session_storage(self):
        return self.script("return JSON.parse(sessionStorage.getItem('parley.session'))")


def send_with_retry(client, request):
    """A TCP JSON request, waiting out `rate_limited` if the server applies per-user limits."""
    while True:
        reply = client.request(request)
        if reply.get("code") != "rate_limited":
            return reply
        time.sleep(max(0.05, reply.get("retryAfter", 1)))


class Proxy:
    """A TCP forwarder between the browser and the server, so a test can cut the page's connection (and point it
    at a restarted server on a new port) while the page keeps its origin."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs = []
        self.refusing = False
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        sockets = [a, b]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            return
        finally:
            for s in sockets:
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self):
        """Drops every open connection (as a lost network would, but at once)."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self):
        self.running = False
        self.cut()
        self.listener.close()


# -- Tests ----------------------------------------------------------------------------------------------------

def test_page_is_served_with_a_strict_csp_and_no_inline_code(server):
    response = requests.get(f"http://127.0.0.1:{server.http_port}/", timeout=10)
    assert response.status_code == 200
    csp = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
    html = response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "<style" not in html and "style=" not in html, "inline style"
    for path in PUBLIC.rglob("*.js"):
        code = path.read_text()
        for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert risky not in code, f"{path.name} uses {risky}"
        assert "localStorage." not in code and "document.cookie" not in code, f"{path.name}: the token belongs in sessionStorage"


def test_two_pages_presence_messages_broadcast_and_unread(server, browsers):
    hans = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    hans.wait_note(WELCOME)
    luke = browsers(server, "phone", "luke").sign_in("luke", "sky")
    # On a phone the people list comes first, with the keyboard focus in it.
    luke.wait_for(lambda d: luke.script("return document.activeElement.dataset.peer") == " everyone")

    # Presence: hans's list updates live; luke's comes from whoelse at sign-in.
    hans.wait_person("luke", online=True)
    hans.wait_note("luke logged in")
    luke.wait_person("hans", online=True)
    assert luke.online_people() == ["hans"]

    # A direct message, hostile-looking text included: it stays text.
    hostile = '<img src=x onerror="window.pwned=1"><b>bold</b> & hi'
    hans.open("luke")
    hans.send(hostile)
    luke.wait_for(lambda d: luke.unread("hans") == 1, message="unread count never reached 1")
    luke.wait_for(lambda d: "(1)" in d.title)
    luke.shot("01-unread-list")
    luke.open("hans")
    luke.wait_message(hostile)
    assert luke.unread("hans") == 0
    assert luke.script("return window.pwned === undefined && !document.querySelector('#messages img, #messages b')")
    luke.send("hi hans, loud and clear")
    hans.wait_message("hi hans, loud and clear")
    assert "mine" in hans.message_row(hostile)["cls"]
    hans.shot("02-conversation")
    luke.shot("02-conversation")

    # A broadcast reaches the other page's broadcast room.
    hans.open_everyone()
    hans.send("hello everyone")
    luke.wait_for(lambda d: luke.unread(" everyone") == 1)
    luke.open_everyone()
    luke.wait_message("hello everyone")

    # Leaving: the other page says so and marks the user offline.
    luke.find("#logout").click()
    luke.wait_for(lambda d: luke.visible("#username"))
    luke.wait_text("#login-notice", "logged out")
    assert luke.session_storage() is None
    hans.wait_note("luke logged out")
    hans.wait_person("luke", online=False)
    hans.shot("03-presence-out")


def test_sign_in_dialogue_speaks_spec_texts(server, browsers):
    page = browsers(server, "phone", "login")
    page.shot("10-sign-in")

    # A new name: the new-user prompt, then the account exists and is welcomed.
    page.enter_name("neo")
    page.wait_text("#password-form", NEW_USER)
    page.enter_password("matrix")
    page.wait_signed_in("neo")
    page.wait_note(WELCOME)
    # "Message someone" opens a conversation with anyone who exists, and says so when nobody has the name.
    page.find("#open-user").send_keys("nobody-here" + Keys.ENTER)
    page.wait_text("#open-error", "Error. Invalid user")
    page.find("#open-user").clear()
    page.find("#open-user").send_keys("yoda" + Keys.ENTER)
    page.wait_for(lambda d: page.visible("#conv-title") and page.text("#conv-title") == "yoda")
    page.wait_text("#log-empty", "No messages with yoda yet")
    page.wait_person("yoda", online=False)

    # Someone already online: the line a terminal shows too, and the page asks for a name again.
    other = browsers(server, "desktop", "other")
    other.enter_name("neo")
    other.enter_password("matrix")
    other.wait_text("#login-notice", "neo is already logged in")
    other.wait_for(lambda d: other.visible("#username") and not other.visible("#password"))
    other.shot("11-already-online")

    # Wrong passwords: try again, then the lockout, then the locked text even with the right password.
    other.enter_name("yoda")
    for _ in range(2):
        other.enter_password("nope")
        other.wait_text("#login-notice", INVALID_PASSWORD)
        # Asked again, with the focus back in the password box.
        other.wait_for(lambda d: other.visible("#password") and other.active_id() == "password")
    other.enter_password("nope")
    other.wait_text("#login-notice", LOCKED_NOW)
    other.wait_for(lambda d: other.visible("#username"))
    other.enter_name("yoda")
    other.enter_password("wise")
    other.wait_text("#login-notice", LOCKED_ALREADY)
    other.shot("12-locked")


def test_block_and_unblock_from_the_page(server, browsers):
    hans = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    luke = browsers(server, "phone", "luke").sign_in("luke", "sky")
    hans.wait_person("luke", online=True)
    hans.open("luke")
    hans.find("#block-toggle").click()
    hans.wait_note("luke is blocked")
    hans.wait_for(lambda d: hans.find_all('#people button[data-peer="luke"] .tag.blocked'))
    assert hans.visible("#blocked-banner")
    assert hans.find("#block-toggle").text == "Unblock"

    # The blocked user's message comes back with the text a terminal shows and is marked as not delivered.
    luke.open("hans")
    luke.send("are you there?")
    luke.wait_text("#messages .msg-error", BLOCKED_YOU)
    assert "failed" in luke.message_row("are you there?")["cls"]
    # A broadcast misses hans, and luke is told.
    luke.open_everyone()
    luke.send("anyone?")
    luke.wait_text("#messages .msg-warning", SOME_MISSED)
    luke.shot("20-blocked-sender")
    hans.shot("20-blocker")
    assert "are you there?" not in hans.messages()

    hans.find("#block-toggle").click()
    hans.wait_note("luke is unblocked")
    hans.wait_for(lambda d: not hans.find_all('#people button[data-peer="luke"] .tag.blocked'))
    luke.open("hans")
    luke.send("now?")
    hans.wait_message("now?")


def test_history_pages_back_and_offline_messages_are_marked(server, browsers):
    total = 130
    with json_client(server, "hans", "solo") as hans_tcp, json_client(server, "leia", "alder") as leia:
        for i in range(1, total + 1):
            reply = send_with_retry(leia, {"type": "message", "to": "hans", "text": f"history {i}"})
            assert reply["type"] == "ok" and reply.get("stored") is False, reply
        # hans reads them all before he leaves. On a cluster leia's `ok` means stored and sent on to hans's node,
        # not yet handed to hans: one still on its way when he logs out waits for his next login, rightly, and
        # would be an offline message too.
        hans_tcp.wait_for(lambda e: e.get("type") == "message" and e.get("text") == f"history {total}")
        assert send_with_retry(hans_tcp, {"type": "logout"})["type"] == "bye"
        # hans is offline now: these two wait for his next login. On a cluster leia's node learns of the logout
        # through the bus, a moment after hans's `bye`; until then it still sends to hans's node (the message waits
        # there all the same, but her `ok` says it was handed on). Her presence line says her node knows.
        leia.wait_for(lambda e: e.get("type") == "presence" and e.get("user") == "hans" and e.get("state") == "out",
                      timeout=15)
        for text in ("while you were away", "and another"):
            reply = send_with_retry(leia, {"type": "message", "to": "hans", "text": text})
            assert reply.get("stored") is True, reply

    page = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    page.wait_for(lambda d: page.unread("leia") == 2, message="the two offline messages never counted as unread")
    page.open("leia")
    page.wait_message("and another")
    row = page.message_row("while you were away")
    assert "offline" in row["cls"] and "offline message" in row["text"], row
    assert "offline" not in page.message_row(f"history {total}")["cls"]
    # One page first (the newest), then older pages as the log scrolls up, until the very first message.
    page.wait_message(f"history {total - 40}")
    assert "history 1" not in page.messages()
    page.shot("30-history-newest")
    scroll_back_to(page, "history 1")
    texts = [t for t in page.messages() if t.startswith("history ")]
    assert texts == [f"history {i}" for i in range(1, total + 1)]
    assert not page.visible("#older")
    page.script("document.getElementById('log').scrollTop = 0")
    page.wait_text("#log-start", "This is the beginning of your messages with leia")
    page.shot("31-history-oldest")
    page.find("#logout").click()
    page.wait_for(lambda d: page.visible("#username"))

    # The same at phone width (the offline ones are delivered once only; history still has them). leia is
    # listed although offline: the people of recent messages are.
    phone = browsers(server, "phone", "hans-phone").sign_in("hans", "solo")
    phone.wait_person("leia", online=False)
    phone.open("leia")
    phone.wait_message("and another")
    assert "offline" not in phone.message_row("and another")["cls"]
    phone.shot("30-history-newest")
    scroll_back_to(phone, f"history {total - 60}")
    phone.shot("31-history-older")


def scroll_back_to(page, text):
    """Scrolls the log to the top until `text` is loaded, checking each scroll loads an older page (and that
    only the log scrolls, never the page as a whole)."""
    for _ in range(20):
        assert page.script("const e = document.scrollingElement; return e.scrollHeight <= e.clientHeight"), \
            "the whole page scrolls"
        if text in page.messages():
            return
        count = len(page.messages())
        page.script("document.getElementById('log').scrollTop = 0")
        page.wait_for(lambda d: len(page.messages()) > count, message=f"{page.name}: scrolling up loaded nothing")
    raise AssertionError(f"{text!r} never loaded")


def test_reload_keeps_the_session(server, browsers):
    page = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    watcher = json_client(server, "luke", "sky")
    page.wait_person("luke", online=True)
    page.open("luke")
    page.send("before the reload")
    watcher.wait_for(lambda e: e.get("type") == "message" and e.get("text") == "before the reload")
    saved = page.session_storage()
    assert saved["user"] == "hans" and saved["token"]
    assert saved["token"] not in page.driver.current_url

    page.driver.refresh()
    page.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    page.wait_signed_in("hans")
    assert not page.visible("#username")
    # Same conversation, its history back from the server, and the session still works both ways.
    page.wait_for(lambda d: page.text("#conv-title") == "luke")
    page.wait_message("before the reload")
    assert page.session_storage()["token"] == saved["token"]
    watcher.request({"type": "message", "to": "hans", "text": "after the reload"})
    page.wait_message("after the reload")
    page.send("still here")
    watcher.wait_for(lambda e: e.get("type") == "message" and e.get("text") == "still here")
    page.shot("40-after-reload")
    watcher.close()


def test_reconnects_with_backoff_after_drops_and_a_server_restart(browsers):
    server = start_server(block=30, timeout=120)
    proxy = Proxy(server.http_port)
    try:
        page = browsers(proxy.port, "desktop", "hans").sign_in("hans", "solo")
        phone = browsers(proxy.port, "phone", "luke").sign_in("luke", "sky")
        page.open("luke")
        phone.open("hans")

        # The connection drops: the page says so, comes back by itself, and the session goes on.
        proxy.refusing = True
        proxy.cut()
        for p in (page, phone):
            p.wait_for(lambda d: p.find("#status").get_attribute("data-state") in ("offline", "reconnecting"))
            p.wait_text("#status", "Reconnecting")
        page.shot("50-reconnecting")
        phone.shot("50-reconnecting")
        # Offline: sending is refused with a notice and the text stays in the box.
        page.send("while offline")
        page.wait_text("#composer-error", "offline")
        assert page.find("#composer-text").get_attribute("value") == "while offline"
        page.find("#composer-text").clear()
        proxy.refusing = False
        page.wait_connected(timeout=30)
        phone.wait_connected(timeout=30)
        assert page.visible("#chat-view") and not page.visible("#username")
        page.send("after the drop")
        phone.wait_message("after the drop")

        # The server itself restarts (on a new port behind the same address): the token still works.
        server.restart()
        proxy.target = server.http_port
        proxy.cut()
        page.wait_connected(timeout=40)
        phone.wait_connected(timeout=40)
        phone.send("after the restart")
        page.wait_message("after the restart")
        page.wait_person("luke", online=True)
        page.shot("51-reconnected")
    finally:
        proxy.close()
        server.stop()


def test_idle_timeout_shows_the_notice_and_does_not_reconnect(browsers):
    server = start_server(block=30, timeout=3)
    try:
        page = browsers(server, "phone", "hans").sign_in("hans", "solo")
        page.wait_text("#login-notice", TIMED_OUT, timeout=20)
        assert page.visible("#username") and not page.visible("#chat-view")
        assert page.session_storage() is None
        page.shot("60-idle-timeout")
        # It stays signed out (no silent reconnect with the old token).
        with json_client(server, "luke", "sky") as luke:
            assert luke.request({"type": "whoelse"})["users"] == []
    finally:
        server.stop()


def test_page_and_terminal_client_talk(server, browsers):
    page = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    terminal = TerminalClient(server.tcp_port)
    try:
        terminal.login("luke", "sky")
        page.wait_person("luke", online=True)
        terminal.command("message hans hello from the terminal")
        page.wait_for(lambda d: page.unread("luke") == 1)
        page.open("luke")
        page.wait_message("hello from the terminal")
        page.send("hello from the browser")
        terminal.expect("hans: hello from the browser")
        page.open_everyone()
        page.send("to all terminals")
        terminal.expect("hans: to all terminals")
        terminal.command("broadcast and back to the page")
        page.wait_message("and back to the page")
        page.shot("70-with-terminal")
        terminal.command("logout")
        page.wait_person("luke", online=False)
        # A message to someone offline is kept for them, and the page says so until they log in.
        page.open("luke")
        page.send("for when you are back")
        page.wait_for(lambda d: "delivered when luke logs in" in (page.message_row("for when you are back") or {}).get("text", ""))
        page.shot("71-kept-for-offline")
        again = TerminalClient(server.tcp_port)
        try:
            again.login("luke", "sky")
            again.expect("hans: for when you are back")
            page.wait_for(lambda d: "delivered when" not in page.message_row("for when you are back")["text"])
        finally:
            again.close()
    finally:
        terminal.close()


def test_keyboard_only_use(server, browsers):
    page = browsers(server, "desktop", "keys")
    # Focus starts in the name box; Enter moves on, Enter signs in, focus lands in the message box.
    assert page.active_id() == "username"
    page.driver.switch_to.active_element.send_keys("rey" + Keys.ENTER)
    page.wait_for(lambda d: page.active_id() == "password")
    page.driver.switch_to.active_element.send_keys("jakku" + Keys.ENTER)
    page.wait_signed_in("rey")
    page.wait_for(lambda d: page.active_id() == "composer-text")
    # Focus is visible: the focused control draws an outline.
    outline = page.script("const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert outline[0] != "none" and outline[1] != "0px", outline
    # Tab reaches the people list and Enter opens a conversation; Enter in the box sends.
    with json_client(server, "yoda", "wise") as yoda:
        page.wait_person("yoda", online=True)
        for _ in range(30):
            if page.script("return document.activeElement.dataset.peer") == "yoda":
                break
            page.driver.switch_to.active_element.send_keys(Keys.TAB)
        assert page.script("return document.activeElement.dataset.peer") == "yoda"
        page.shot("80-keyboard-focus")
        page.driver.switch_to.active_element.send_keys(Keys.ENTER)
        page.wait_for(lambda d: page.active_id() == "composer-text")
        page.driver.switch_to.active_element.send_keys("typed without a mouse" + Keys.ENTER)
        message = yoda.wait_for(lambda e: e.get("type") == "message")
        assert message["text"] == "typed without a mouse" and message["from"] == "rey"
