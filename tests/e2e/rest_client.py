"""Small helpers for the REST tests: curl in a subprocess (what README readers use) and a parsed response."""
import json
import subprocess


class CurlResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> last value
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def code(self):
        """The `error.code` of an error body, or None."""
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self):
        return f"<{self.status} {self.body[:200]!r}>"


def curl(url, *args, timeout=20):
    """Runs `curl -sS -i <args> <url>` and parses status line, headers and body."""
    out = subprocess.run(["curl", "-sS", "-i", *args, url], capture_output=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"curl failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    raw = out.stdout
    # A 100 Continue (large bodies) comes first; the final response is the last head.
    while True:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status >= 200 or not rest:
            break
        raw = rest
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return CurlResponse(status, headers, rest.decode("utf-8", errors="replace"))
