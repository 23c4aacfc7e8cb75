"""`parley migrate`: a single-node data folder, written by a real server, copied into an empty PostgreSQL
database; then `parley serve --postgres` goes on from it. Needs PARLEY_TEST_POSTGRES (scripts/test starts a
throwaway server); skipped without it."""
import os
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from parley_harness import PARLEY_BIN, ParleyServer, json_client

SERVER = os.environ.get("PARLEY_TEST_POSTGRES")
pytestmark = [pytest.mark.skipif(not SERVER or shutil.which("psql") is None,
                                 reason="PARLEY_TEST_POSTGRES is not set (scripts/test starts a throwaway PostgreSQL)"),
              # It moves a single server's SQLite folder: the cluster run has nothing more to show here.
              pytest.mark.single_node]

CREDENTIALS = "hans solo\nleia alder\nrey jedi\n"


def psql(url, sql):
    result = subprocess.run(["psql", url, "-XAtq", "-c", sql], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def database():
    """A fresh database on the test server, dropped afterwards."""
    name = "parley_e2e_" + uuid.uuid4().hex[:12]
    psql(SERVER, f"CREATE DATABASE {name}")
    parts = urlsplit(SERVER)
    yield urlunsplit(parts._replace(path="/" + name))
    psql(SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def migrate(data_dir, url):
    return subprocess.run([PARLEY_BIN, "migrate", "--from", data_dir, "--postgres", url],
                          capture_output=True, text=True, timeout=120)


def test_migrate_copies_a_data_folder_and_serve_goes_on(database):
    server = ParleyServer(credentials=CREDENTIALS).start()
    try:
        with json_client(server, "hans", "solo") as hans:
            for text in ["one", "two", "three\twith a tab\nand a line"]:
                assert hans.request({"type": "message", "to": "leia", "text": text})["type"] == "ok"
        with json_client(server, "rey", "jedi") as rey:
            assert rey.request({"type": "message", "to": "hans", "text": "hello"})["type"] == "ok"
            assert rey.request({"type": "block", "user": "hans"})["type"] == "ok"
    finally:
        assert server.stop() == 0, server.log()

    result = migrate(server.data_dir, database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "messages: 4" in result.stdout
    assert "accounts: 3" in result.stdout

    assert psql(database, "SELECT count(*) FROM accounts") == "3"
    leia = psql(database, "SELECT string_agg(seq || ':' || replace(replace(body, E'\\n', '|'), E'\\t', '>'), ',' ORDER BY seq) "
                          "FROM log WHERE recipient = (SELECT id FROM accounts WHERE name = 'leia')")
    assert leia == "1:one,2:two,3:three>with a tab|and a line"
    assert psql(database, "SELECT a.name || '>' || b.name FROM blocks k JOIN accounts a ON a.id = k.blocker "
                          "JOIN accounts b ON b.id = k.blocked") == "rey>hans"
    assert psql(database, "SELECT h.last FROM inbox_heads h JOIN accounts a ON a.id = h.user_id WHERE a.name = 'leia'") == "3"
    assert psql(database, "SELECT count(*) FROM meta WHERE key = 'credentials.sha256'") == "1"
    assert psql(database, "SELECT (SELECT last_value FROM message_ids) >= (SELECT max(id) FROM log)") == "t"

    # A second copy into the same database is refused: it is no longer empty.
    again = migrate(server.data_dir, database)
    assert again.returncode == 1
    assert "not empty" in again.stderr

    # A server on the database goes on where the single node stopped.
    on_postgres = ParleyServer(credentials=CREDENTIALS, extra=["--postgres", database]).start()
    try:
        with json_client(on_postgres, "hans", "solo") as hans:
            assert hans.request({"type": "message", "to": "leia", "text": "four"})["type"] == "ok"
            assert hans.request({"type": "message", "to": "rey", "text": "blocked?"})["code"] == "blocked"
    finally:
        assert on_postgres.stop() == 0, on_postgres.log()
    assert psql(database, "SELECT max(seq) FROM log WHERE recipient = (SELECT id FROM accounts WHERE name = 'leia')") == "4"
    assert psql(database, "SELECT count(DISTINCT id) FROM log") == "5"


def test_migrate_copies_rooms_and_serve_goes_on(database):
    server = ParleyServer(credentials=CREDENTIALS).start()
    try:
        with json_client(server, "hans", "solo") as hans:
            assert hans.request({"type": "join", "room": "lobby"})["created"] is True
            # leia is online for the first room message only: her cursor in the room stays at 1.
            with json_client(server, "leia", "alder") as leia:
                assert leia.request({"type": "join", "room": "lobby"})["type"] == "ok"
                assert hans.request({"type": "message", "to": "leia", "text": "direct"})["type"] == "ok"
                assert hans.request({"type": "say", "room": "lobby", "text": "one"})["type"] == "ok"
                assert leia.wait_for(lambda e: e.get("type") == "room_message")["text"] == "one"
                assert leia.request({"type": "logout"})["type"] == "bye"
            assert hans.request({"type": "say", "room": "lobby", "text": "two\twith a tab"})["type"] == "ok"
            assert hans.request({"type": "ban", "room": "lobby", "user": "rey"})["type"] == "ok"
            assert hans.request({"type": "join", "room": "empty"})["type"] == "ok"
            assert hans.request({"type": "leave", "room": "empty"})["type"] == "ok"
    finally:
        assert server.stop() == 0, server.log()

    result = migrate(server.data_dir, database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rooms: 2" in result.stdout
    assert "room messages: 2" in result.stdout

    assert psql(database, "SELECT r.name || ':' || coalesce(a.name, '-') || ':' || r.last_seq FROM rooms r "
                          "LEFT JOIN accounts a ON a.id = r.owner ORDER BY r.name") == "empty:-:0\nlobby:hans:2"
    assert psql(database, "SELECT string_agg(a.name, ',' ORDER BY m.joined_at, a.name) FROM room_members m "
                          "JOIN accounts a ON a.id = m.user_id") == "hans,leia"
    assert psql(database, "SELECT a.name FROM room_bans b JOIN accounts a ON a.id = b.user_id") == "rey"
    assert psql(database, "SELECT string_agg(seq || ':' || replace(body, E'\\t', '>'), ',' ORDER BY seq) FROM room_log") \
        == "1:one,2:two>with a tab"
    assert psql(database, "SELECT c.acked FROM room_cursors c JOIN accounts a ON a.id = c.user_id "
                          "WHERE a.name = 'leia'") == "1"
    assert psql(database, "SELECT (SELECT last_value FROM message_ids) >= (SELECT max(id) FROM room_log)") == "t"

    # A server on the database goes on: seqs after the copied ones, ids above every copied id, the ban kept, and
    # leia (acknowledged up to 1) is handed the rest at login.
    on_postgres = ParleyServer(credentials=CREDENTIALS, extra=["--postgres", database]).start()
    try:
        with json_client(on_postgres, "hans", "solo") as hans:
            said = hans.request({"type": "say", "room": "lobby", "text": "three"})
            assert said["type"] == "ok" and said["seq"] == 3, said
            assert said["id"] > int(psql(database, "SELECT max(id) FROM log"))
        with json_client(on_postgres, "rey", "jedi") as rey:
            assert rey.request({"type": "join", "room": "lobby"})["code"] == "banned"
        with json_client(on_postgres, "leia", "alder") as leia:
            missed = [leia.wait_for(lambda e: e.get("type") == "room_message") for _ in range(2)]
            assert [(m["seq"], m["text"], m.get("offline")) for m in missed] == [(2, "two\twith a tab", True), (3, "three", True)]
            history = leia.request({"type": "history", "room": "lobby"})
            assert [m["text"] for m in history["messages"]] == ["three", "two\twith a tab", "one"]
    finally:
        assert on_postgres.stop() == 0, on_postgres.log()
