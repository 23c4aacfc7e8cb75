"""The browser page over https: headless Chromium loads it from a server started with --tls-cert/--tls-key,
opens its WebSocket as wss:// on the same origin, and two pages sign in and exchange messages.

The test makes its own CA and server certificate (test_tls_client.make_pki) and tells Chromium to accept exactly
that certificate's key (--ignore-certificate-errors-spki-list), so nothing else about certificate checking is
relaxed. Screenshots go to the test's temporary folder.
"""
import json

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from parley_harness import ParleyServer
from test_browser import CHROMEDRIVER, CHROMIUM, DESKTOP, PHONE, PUBLIC, WELCOME, Page
from test_tls_client import make_pki, spki_hash

CREDENTIALS = "hans solo\nluke sky\n"


class SecurePage(Page):
    """`Page` (test_browser.py) over https, trusting only the test certificate's key."""

    def __init__(self, port, size, name, spki, profile, shots):
        self.base = f"https://127.0.0.1:{port}/"
        self.name = name
        self.size = size
        self.shots = shots
        options = Options()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", f"--window-size={size[0]},{size[1]}",
                    # Chromium honours the SPKI list only with a profile folder of the caller's own.
                    f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={spki}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size == PHONE})
        self.driver.get(self.base)
        self.wait_for(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))

    def shot(self, name):
        self.driver.save_screenshot(str(self.shots / f"{name}-{'phone' if self.phone else 'desktop'}.png"))


def websocket_urls(page):
    """The URLs of the WebSockets the page opened, from Chromium's network log."""
    events = (json.loads(entry["message"])["message"] for entry in page.driver.get_log("performance"))
    return [e["params"]["url"] for e in events if e["method"] == "Network.webSocketCreated"]


@pytest.fixture
def secure(tmp_path):
    pki = make_pki(str(tmp_path / "pki"))
    server = ParleyServer(credentials=CREDENTIALS, timeout=120,
                          extra=["--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"],
                                 "--public-dir", str(PUBLIC)]).start()
    spki = spki_hash(pki["server.pem"])
    pages = []

    def open_page(size, name):
        page = SecurePage(server.http_port, size, name, spki, tmp_path / f"profile-{name}", tmp_path)
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        for entry in page.driver.get_log("browser"):
            print(page.name, entry["level"], entry["message"])
        page.quit()
    server.stop()


def test_two_pages_over_https_and_wss(secure, tmp_path):
    hans = secure(DESKTOP, "hans").sign_in("hans", "solo")
    hans.wait_note(WELCOME)
    assert hans.script("return location.protocol") == "https:"
    luke = secure(PHONE, "luke").sign_in("luke", "sky")
    hans.wait_person("luke", online=True)

    # The page's WebSocket is wss:// to the page's own host and port (ws:// would be blocked as mixed content).
    assert websocket_urls(hans) == [hans.base.replace("https:", "wss:") + "ws"]

    hans.open("luke")
    hans.send("hello over wss")
    luke.wait_for(lambda d: luke.unread("hans") == 1)
    luke.open("hans")
    luke.wait_message("hello over wss")
    luke.send("loud and clear, encrypted")
    hans.wait_message("loud and clear, encrypted")
    hans.shot("tls-conversation")
    luke.shot("tls-conversation")
    assert (tmp_path / "tls-conversation-desktop.png").stat().st_size > 0
    assert (tmp_path / "tls-conversation-phone.png").stat().st_size > 0
