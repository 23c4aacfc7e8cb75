"""README's "REST API with curl" block, run as written against a live server: the examples cannot rot."""
import os
import re
import subprocess

from parley_harness import ParleyServer, json_client

README = os.path.join(os.path.dirname(__file__), "../../README.md")
# The accounts the README's examples assume.
CREDENTIALS = "hans falcon*solo\nluke jedi\nyoda green\n"


def readme_block():
    with open(README) as f:
        text = f.read()
    section = text.split("## REST API with curl", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the section has a ```sh block"
    return match.group(1)


def commands(block):
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_block_covers_every_endpoint():
    block = readme_block()
    for endpoint in ["/register", "/login", "/logout", "/whoelse", "/whoelsesince", "/history", "/messages",
                     "/broadcasts", "/inbox?", "/inbox/ack", "/blocks", "/blocks/yoda", "-X PUT", "-X DELETE", "/healthz", "/metrics",
                     "/openapi.yaml", "$API/rooms\n", "-X PUT $API/rooms/general\n", "-X DELETE $API/rooms/general\n",
                     "/rooms/general/messages\n", "/rooms/general/messages?", "/rooms/general/ack", "/rooms/general/members\n",
                     "/rooms/general/members/luke", "-X PUT $API/rooms/general/bans/yoda",
                     "-X DELETE $API/rooms/general/bans/yoda", "/history?room="]:
        assert endpoint in block, endpoint


def test_readme_curl_examples_run_against_a_live_server():
    s = ParleyServer(credentials=CREDENTIALS).start()
    try:
        luke = json_client(s, "luke", "jedi")
        block = readme_block().replace("http://localhost:8080", f"http://127.0.0.1:{s.http_port}")
        # Every curl in the block must succeed with a 2xx: curl itself is wrapped to fail on anything else, and
        # each command's status is printed so a failure names the line.
        wrapper = (
            "set -euo pipefail\n"
            "curl() { command curl --fail-with-body --show-error \"$@\"; }\n"
        )
        script = wrapper + "\n".join(
            line if "=" in line.split(" ", 1)[0] else f"{line}\necho \"\\n== ok: {line.replace(chr(34), '')}\""
            for line in commands(block))
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"stdout:\n{out.stdout[-3000:]}\nstderr:\n{out.stderr[-3000:]}"
        assert out.stdout.count("== ok:") == len([c for c in commands(block) if "=" not in c.split(" ", 1)[0]])
        # luke's inbox holds the README's message at seq 1, whatever door he reads it on.
        assert '"seq":1,"from":"hans","text":"hello from curl"' in out.stdout and '"last":1' in out.stdout
        assert '"user":"rey"' in out.stdout and '"users":["yoda"]' in out.stdout and "ok\n" in out.stdout
        # The room is created by hans, joined by luke, and luke reads hans's message at the room's seq 1.
        assert '{"room":"general","created":true,"owner":"hans"}' in out.stdout
        assert '{"room":"general","created":false,"owner":"hans"}' in out.stdout
        assert '"seq":1,"from":"hans","text":"hello, room"' in out.stdout
        assert '{"users":["hans","luke"],"online":["luke"]}' in out.stdout
        # The message the README sends is the one luke's terminal session receives.
        event = luke.wait_for(lambda e: e.get("type") == "message", timeout=2)
        assert (event["from"], event["text"]) == ("hans", "hello from curl")
        assert luke.wait_for(lambda e: e.get("type") == "broadcast", timeout=2)["text"] == "hello everyone"
        luke.close()
    finally:
        s.stop()
