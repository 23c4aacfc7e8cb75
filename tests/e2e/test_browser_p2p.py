"""Private chat between two browser pages over a WebRTC data channel (docs/PROTOCOL.md §9.4).

The server carries only the consent handshake and the signalling (`signal`); the text goes straight from one
headless Chromium to the other. Asking and accepting (with the keyboard), lines both ways, stop from the side that
did not ask, declining, the no_p2p line for a terminal client, and the proof that private text never reaches the
server: it runs under strace and everything it reads and writes is searched. Screenshots of the private panel at
desktop and phone width go to artifacts/screenshots/.
"""
import os
import re
import shutil
import signal
import subprocess

import pytest
from selenium.webdriver.common.keys import Keys

from parley_harness import PARLEY_BIN, ParleyNode, ParleyServer, json_client
from test_browser import CREDENTIALS, PUBLIC, browsers, fresh_failure_shots, server, start_server  # noqa: F401 (fixtures)

NO_P2P = "Error. Private messaging with {} is not possible from this client"


# -- The private panel, as a person uses it -------------------------------------------------------------------

def private_items(page, css):
    return page.script("return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                       f"#private-messages {css}")


def wait_private_note(page, text):
    page.wait_for(lambda d: page.visible("#private-panel") and any(text in n for n in private_items(page, ".note")),
                  message=f"{page.name}: private note {text!r} never shown")


def wait_private_message(page, text):
    page.wait_for(lambda d: text in private_items(page, ".msg .msg-text"),
                  message=f"{page.name}: private message {text!r} never shown")


def panel_state(page):
    return page.script("const p = document.getElementById('private-panel'); return p.hidden ? null : p.dataset.state")


def wait_panel(page, state):
    page.wait_for(lambda d: panel_state(page) == state, message=f"{page.name}: the private panel never got to {state}")


def send_private(page, text):
    page.find("#private-text").send_keys(text + Keys.ENTER)


def wait_prompt(page, asker):
    page.wait_for(lambda d: page.find_all(f'#private-requests [data-from="{asker}"]'),
                  message=f"{page.name}: no private request from {asker}")
    return page.find(f'#private-requests [data-from="{asker}"]')


def ask(asker, target):
    asker.open(target)
    asker.find("#private-start").click()
    wait_private_note(asker, f"Start private messaging with {target}")
    wait_panel(asker, "asking")


def record_socket_frames(page):
    """From now on, keeps a copy of every WebSocket frame the page sends (unmasked, as the page wrote it)."""
    page.script("""
        const send = WebSocket.prototype.send;
        window.sentFrames = [];
        WebSocket.prototype.send = function (data) { window.sentFrames.push(String(data)); return send.call(this, data); };""")


def sent_frames(page):
    return page.script("return window.sentFrames")


# -- Tests ----------------------------------------------------------------------------------------------------

def test_private_chat_over_a_data_channel_and_stop_from_the_other_side(server, browsers):
    hans = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    luke = browsers(server, "phone", "luke").sign_in("luke", "sky")
    hans.wait_person("luke", online=True)
    for page in (hans, luke):
        record_socket_frames(page)

    ask(hans, "luke")
    # The question, with the keyboard focus on "Yes", whatever luke was doing; y answers it.
    prompt = wait_prompt(luke, "hans")
    assert "hans would like to private message" in prompt.text
    assert prompt.get_attribute("role") == "alertdialog"
    luke.wait_for(lambda d: luke.script("return document.activeElement.dataset.answer") == "yes")
    luke.shot("90-private-request")
    luke.driver.switch_to.active_element.send_keys("y")
    luke.wait_for(lambda d: not luke.find_all("#private-requests [data-from]"))

    wait_private_note(hans, "luke accepts private messaging")
    wait_panel(hans, "open")
    wait_panel(luke, "open")  # luke's page opened the conversation with hans, panel and all
    assert luke.text("#conv-title") == "hans"
    luke.wait_for(lambda d: luke.active_id() == "private-text")
    hans.wait_for(lambda d: hans.find_all('#people button[data-peer="luke"] .tag.private'))

    send_private(hans, "just between us, luke")
    wait_private_message(luke, "just between us, luke")
    luke.driver.switch_to.active_element.send_keys("my lips are sealed" + Keys.ENTER)
    wait_private_message(hans, "my lips are sealed")
    send_private(hans, "good.")
    wait_private_message(luke, "good.")
    assert "hans(private)" in luke.text("#private-messages")
    # Private lines stay out of the ordinary conversation and its history.
    assert "just between us, luke" not in hans.messages() and "just between us, luke" not in luke.messages()
    # Server commands keep working meanwhile.
    hans.send("an ordinary message")
    luke.wait_message("an ordinary message")
    hans.shot("91-private-panel")
    luke.shot("91-private-panel")

    # The side that did not ask stops it; the other sees the line a terminal shows, and sending is over on both.
    luke.find("#private-stop").click()
    wait_private_note(hans, "luke stopped private messaging")
    wait_private_note(luke, "You stopped private messaging with luke".replace("luke", "hans"))
    wait_panel(hans, "ended")
    wait_panel(luke, "ended")
    assert not hans.visible("#private-text")
    hans.wait_for(lambda d: not hans.find_all('#people button[data-peer="luke"] .tag.private'))
    hans.shot("92-private-stopped")

    # The text went over the data channel only; private sends and stop told the server of activity.
    for page, secret in ((hans, "just between us, luke"), (luke, "my lips are sealed")):
        frames = sent_frames(page)
        assert not any(secret in f for f in frames), frames
        assert any('"type":"activity"' in f for f in frames), frames
        assert any('"type":"signal"' in f for f in frames), frames

    # A new session can start after one ends; Close forgets the ended panel.
    hans.find("#private-close").click()
    hans.wait_for(lambda d: panel_state(hans) is None)
    ask(hans, "luke")
    wait_prompt(luke, "hans").find_element("css selector", 'button[data-answer="yes"]').click()
    wait_panel(hans, "open")
    send_private(hans, "again")
    wait_private_message(luke, "again")

    # Logging out concludes the chat on the other page.
    hans.find("#logout").click()
    wait_private_note(luke, "hans logged out, private chat concluding")
    wait_panel(luke, "ended")
    luke.wait_note("hans logged out")


def test_a_broken_link_says_the_peer_is_no_longer_reachable(server, browsers):
    hans = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    luke = browsers(server, "desktop", "luke").sign_in("luke", "sky")
    # Keep hold of luke's peer connections, so the test can break the link while both stay signed in.
    luke.script("""
        const Native = window.RTCPeerConnection;
        window.peerConnections = [];
        window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.peerConnections.push(pc); return pc; };""")
    hans.wait_person("luke", online=True)
    ask(hans, "luke")
    wait_prompt(luke, "hans").find_element("css selector", 'button[data-answer="yes"]').click()
    wait_panel(hans, "open")
    send_private(hans, "can you hear me?")
    wait_private_message(luke, "can you hear me?")
    luke.script("window.peerConnections.forEach(pc => pc.close())")
    wait_private_note(hans, "Error. luke is no longer reachable")
    wait_panel(hans, "ended")
    # luke's page finds out too, at the latest when it tries to send.
    if panel_state(luke) == "open":
        send_private(luke, "hello?")
    wait_private_note(luke, "Error. hans is no longer reachable")
    # The server link is fine: ordinary messages still go.
    hans.send("still here")
    luke.wait_message("still here")


def test_decline_with_the_keyboard(server, browsers):
    hans = browsers(server, "phone", "hans").sign_in("hans", "solo")
    leia = browsers(server, "desktop", "leia").sign_in("leia", "alder")
    hans.wait_person("leia", online=True)
    leia.wait_for(lambda d: leia.active_id() == "composer-text")
    ask(hans, "leia")
    hans.shot("93-private-asking")
    wait_prompt(leia, "hans")
    leia.wait_for(lambda d: leia.script("return document.activeElement.dataset.answer") == "yes")
    leia.driver.switch_to.active_element.send_keys("n")
    wait_private_note(hans, "leia declines private messaging")
    wait_panel(hans, "ended")
    # Back where leia was, and no private panel on her side.
    leia.wait_for(lambda d: leia.active_id() == "composer-text")
    assert panel_state(leia) is None
    hans.shot("94-private-declined")

    # Asking again, then cancelling before leia answers: her yes ends at once with the stopped line.
    hans.find("#private-close").click()
    ask(hans, "leia")
    assert hans.text("#private-stop") == "Cancel"
    hans.find("#private-stop").click()
    wait_panel(hans, "ended")
    wait_prompt(leia, "hans").find_element("css selector", 'button[data-answer="yes"]').click()
    wait_private_note(leia, "hans stopped private messaging")
    wait_panel(leia, "ended")


def test_terminal_and_page_cannot_pair(server, browsers):
    page = browsers(server, "desktop", "hans").sign_in("hans", "solo")
    with json_client(server, "luke", "sky") as luke:  # a script or terminal without direct connections
        page.wait_person("luke", online=True)
        page.open("luke")
        page.find("#private-start").click()
        page.wait_note(NO_P2P.format("luke"))
        assert panel_state(page) is None
        reply = luke.request({"type": "startprivate", "user": "hans"})
        assert reply["type"] == "error" and reply["code"] == "no_p2p", reply
        assert reply["message"] == NO_P2P.format("hans"), reply
        # hans is never asked.
        page.send("are you still there?")
        luke.wait_for(lambda e: e.get("type") == "message" and e.get("text") == "are you still there?")
        assert not page.find_all("#private-requests [data-from]")
        page.shot("95-private-no-p2p")


class TracedServer(ParleyNode):
    """The server under strace, recording every read and write (with whole buffers) of every thread."""

    def start(self):
        self.trace = os.path.join(self.dir, "io.trace")
        cmd = ["strace", "-f", "-qq", "-s", "1000000", "-o", self.trace,
               "-e", "trace=read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg",
               PARLEY_BIN, "serve", "0", *self.args, "--http-port", "0", "--data-dir", self.data_dir,
               "--credentials", self.credentials, *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.dir, "server.log"), "ab"), text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("parley listening"), line
        self.tcp_port = int(re.search(r"tcp=(\d+)", line).group(1))
        self.http_port = int(re.search(r"http=(\d+)", line).group(1))
        return self

    def stop(self, sig=signal.SIGTERM, wait=20):
        # SIGTERM to strace would only detach it: stop the traced server, and strace ends with it.
        if self.proc.poll() is None:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                for child in f.read().split():
                    os.kill(int(child), sig)
            self.proc.wait(wait)

    def everything(self):
        with open(self.trace, errors="replace") as f:
            return f.read()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is installed by scripts/bootstrap")
@pytest.mark.single_node  # traces the one server process
def test_private_text_never_reaches_the_server(browsers):
    s = TracedServer(block=30, timeout=120, credentials=CREDENTIALS, extra=["--public-dir", str(PUBLIC)]).start()
    secrets = ["s3cretfromhans" + os.urandom(6).hex(), "s3cretfromluke" + os.urandom(6).hex()]
    control = "publicmarker" + os.urandom(6).hex()
    try:
        hans = browsers(s, "desktop", "hans").sign_in("hans", "solo")
        luke = browsers(s, "desktop", "luke").sign_in("luke", "sky")
        hans.wait_person("luke", online=True)
        ask(hans, "luke")
        wait_prompt(luke, "hans").find_element("css selector", 'button[data-answer="yes"]').click()
        wait_panel(hans, "open")
        wait_panel(luke, "open")
        send_private(hans, secrets[0])
        wait_private_message(luke, secrets[0])
        send_private(luke, secrets[1])
        wait_private_message(hans, secrets[1])
        # The control: an ordinary message goes through the server, which writes it to luke's page in the clear
        # (what a page sends is masked, so the trace finds it in the server's writes).
        hans.send(control)
        luke.wait_message(control)
        hans.find("#private-stop").click()
        wait_private_note(luke, "hans stopped private messaging")
    finally:
        s.stop()
    seen = s.everything()
    assert control in seen, "the trace did not capture the server's traffic"
    assert '\\"type\\":\\"signal\\"' in seen, "the signalling did not pass the server"
    for secret in secrets:
        assert secret not in seen, "private text passed through the server"
        with open(os.path.join(s.dir, "server.log"), errors="replace") as f:
            assert secret not in f.read(), "private text is in the server's log"
    for folder, _, files in os.walk(s.data_dir):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            assert all(secret.encode() not in data for secret in secrets), name
