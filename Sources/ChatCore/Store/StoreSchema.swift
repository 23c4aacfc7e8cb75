import GRDB

/// The SQLite schema, as GRDB migrations. `StoreSQL` holds every statement `SQLiteStore` runs; only these two
/// files know table and column names.
///
/// Names are compared byte for byte (SQLite's default BINARY collation), matching the case-sensitive names of
/// docs/PROTOCOL.md §3 and Swift's `==` for the ASCII-only names `AccountRules` allows.
///
/// Version 3 (inboxes) makes the write path append-shaped. Up to v2 every message inserted an entry into three
/// secondary indexes (by recipient, by sender, by pair), each at a random place: each commit dirtied about one
/// page per message per index, and the WAL carried 0.7–2 pages (one `pwrite` each) per message.
///
/// - `log` holds each message once, in rowid (= message id) order, with integer user ids and a `stream` (the
///   conversation: for a direct pair `(low id << 32) | high id`; a group room will be a stream of its own that
///   many inboxes follow). `seq` is the message's place in the recipient's inbox. A message is ONE insert at
///   the end of one B-tree: about 40 messages share a page.
/// - The inbox heads (each user's last seq) are not stored per message: the writer loads them once at open (one
///   index seek per user plus the unindexed tail) and keeps them in memory, so giving out a seq costs no search.
/// - The lookups history and the inbox need (each user's messages by id, with the other side, and the received
///   ones by seq) are built in batches: once the unindexed tail of the log reaches a threshold, an indexing run
///   writes all of it from the writer's memory. The run goes in small steps by user-id range, one between two
///   group commits, so it never holds the writer for long. `log_indexed.upto` is the last id of the last
///   finished run; the writer keeps the log after it in memory (per user, rebuilt from the log at open), so reads
///   see what is not indexed yet.
/// - Since v5 a run writes each user's entries packed, a row of `index_chunks` per user and run (IndexChunks has
///   the format): a few thousand rows per run instead of three B-tree entries per message (v3 and v4 had an
///   `inbox_index` and a `history_index` row per entry, inserted in key order, and those inserts were most of an
///   indexing run's cost and of the WAL pages it wrote).
/// - There is no index by conversation: with a few thousand users talking to a few dozen partners each there
///   are far more conversations than messages in a run, so such an index would take a page per message again.
///   A page with one partner reads the owner's rows backwards and keeps that partner's entries (the partner is
///   in the index, so only matches touch the log): its cost follows how much of the
///   owner's traffic the pair is, not the size of the store. Rooms will index their own stream (one per room,
///   few and busy), which is append-shaped.
/// - Cursors (`cursors`: the highest acknowledged seq per user and stream; stream 0 is the direct inbox) and
///   login history (`logins`) are small upserts in the same group commits.
enum StoreSchema {
    /// Migrations are append-only: a shipped one is never edited, a change is a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE accounts (
                    name TEXT PRIMARY KEY NOT NULL,
                    password_hash TEXT NOT NULL,
                    created_at INTEGER NOT NULL
                ) WITHOUT ROWID;

                CREATE TABLE blocks (
                    blocker TEXT NOT NULL REFERENCES accounts(name),
                    blocked TEXT NOT NULL REFERENCES accounts(name),
                    PRIMARY KEY (blocker, blocked)
                ) WITHOUT ROWID;

                -- id is the hub's message id (the rowid), so history pages by it and the offline queue is in send order.
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    sender TEXT NOT NULL REFERENCES accounts(name),
                    recipient TEXT NOT NULL REFERENCES accounts(name),
                    body TEXT NOT NULL,
                    sent_at INTEGER NOT NULL,
                    pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1))
                );
                -- The offline queue of one recipient, oldest first.
                CREATE INDEX messages_by_recipient_pending ON messages(recipient, pending, id);
                -- History between two users: one index range per direction.
                CREATE INDEX messages_by_pair ON messages(sender, recipient, id);
                -- History with anyone: everything one user sent, everything one user received, each by id.
                CREATE INDEX messages_by_sender ON messages(sender, id);
                CREATE INDEX messages_by_recipient ON messages(recipient, id);

                CREATE TABLE tokens (
                    digest TEXT PRIMARY KEY NOT NULL,
                    user TEXT NOT NULL REFERENCES accounts(name),
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX tokens_by_expiry ON tokens(expires_at);

                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        // v2: the offline queue's index holds only the rows waiting in it. Most messages reach an online recipient
        // and are stored with pending = 0, so they no longer add an entry to a per-recipient index at every insert
        // (each such entry dirties a page that the commit then writes and syncs).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                DROP INDEX messages_by_recipient_pending;
                CREATE INDEX messages_pending ON messages(recipient, id) WHERE pending = 1;
                """)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: v3)
            try db.execute(sql: v3Index)
        }
        migrator.registerMigration("v4") { db in
            try db.execute(sql: v4)
        }
        migrator.registerMigration("v5") { db in
            try db.execute(sql: v5)
            try packVersion4Indexes(db)
        }
        return migrator
    }


    /// v2 → v3: integer account ids, the log, cursors and login history. Blocks and tokens keep their names
    /// (their foreign keys now point at the rebuilt `accounts`, whose names stay unique). Seqs are given per
    /// recipient in id order, and each cursor stands just before the first message that was pending (or at the
    /// last seq when none was), so exactly the v2 offline queue is still to be delivered.
    private static let v3 = """
        CREATE TABLE accounts_v3 (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        INSERT INTO accounts_v3 (name, password_hash, created_at)
            SELECT name, password_hash, created_at FROM accounts ORDER BY created_at, name;

        CREATE TABLE log (
            id INTEGER PRIMARY KEY,
            stream INTEGER NOT NULL,
            sender INTEGER NOT NULL,
            recipient INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            sent_at INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
            SELECT m.id, (min(s.id, r.id) << 32) | max(s.id, r.id), s.id, r.id,
                   row_number() OVER (PARTITION BY r.id ORDER BY m.id), m.sent_at, m.body
            FROM messages m JOIN accounts_v3 s ON s.name = m.sender JOIN accounts_v3 r ON r.name = m.recipient
            ORDER BY m.id;

        CREATE TABLE inbox_index (
            user INTEGER NOT NULL, seq INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (user, seq)
        ) WITHOUT ROWID;
        CREATE TABLE history_index (
            user INTEGER NOT NULL, id INTEGER NOT NULL, partner INTEGER NOT NULL, PRIMARY KEY (user, id)
        ) WITHOUT ROWID;
        CREATE TABLE log_indexed (only INTEGER PRIMARY KEY CHECK (only = 1), upto INTEGER NOT NULL);
        INSERT INTO log_indexed (only, upto) VALUES (1, 0);

        CREATE TABLE cursors (
            user INTEGER NOT NULL, stream INTEGER NOT NULL, acked INTEGER NOT NULL, PRIMARY KEY (user, stream)
        ) WITHOUT ROWID;
        INSERT INTO cursors (user, stream, acked)
            SELECT l.recipient, 0, coalesce(min(CASE WHEN m.pending = 1 THEN l.seq END) - 1, max(l.seq))
            FROM log l JOIN messages m ON m.id = l.id GROUP BY l.recipient;
        CREATE TABLE logins (user INTEGER PRIMARY KEY, last_seen INTEGER NOT NULL);

        DROP TABLE messages;
        DROP TABLE accounts;
        ALTER TABLE accounts_v3 RENAME TO accounts;
        """

    /// v3's lookups, built from the whole log in key order (v5 packs them and drops these tables). UNION drops
    /// the second entry of a message to oneself.
    private static let v3Index = """
        INSERT INTO inbox_index (user, seq, id) SELECT recipient, seq, id FROM log ORDER BY recipient, seq;
        INSERT INTO history_index (user, id, partner)
            SELECT sender, id, recipient FROM log UNION SELECT recipient, id, sender FROM log ORDER BY 1, 2;
        UPDATE log_indexed SET upto = (SELECT coalesce(max(id), 0) FROM log);
        """

    /// v3 → v4: rooms. A room's id is its stream: its members' cursors are rows of `cursors` with that stream
    /// (ids stay far below 2^32, where the direct pairs' streams begin). `room_log` is clustered by (room, seq), so
    /// a message is one insert at the end of its room's range and a page is one range read; the unique id index
    /// keeps message ids unique and finds where a history page by id starts.
    private static let v4 = """
        CREATE TABLE rooms (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            owner INTEGER,
            created_at INTEGER NOT NULL,
            last_seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE room_members (
            room INTEGER NOT NULL, user INTEGER NOT NULL, joined_at INTEGER NOT NULL, PRIMARY KEY (room, user)
        ) WITHOUT ROWID;
        CREATE TABLE room_bans (room INTEGER NOT NULL, user INTEGER NOT NULL, PRIMARY KEY (room, user)) WITHOUT ROWID;
        CREATE TABLE room_log (
            room INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            id INTEGER NOT NULL,
            sender INTEGER NOT NULL,
            sent_at INTEGER NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (room, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX room_log_by_id ON room_log(id);
        """

    /// v4 → v5: the lookups packed, a row per user and run (IndexChunks) instead of a row per entry in two
    /// tables. Rows are found by their last id (history) or by their highest seq (the inbox).
    private static let v5 = """
        CREATE TABLE index_chunks (
            user INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            max_seq INTEGER NOT NULL,
            entries BLOB NOT NULL,
            PRIMARY KEY (user, last_id)
        );
        CREATE INDEX index_chunks_by_seq ON index_chunks(user, max_seq);
        """

    /// Packs v4's entries up to the watermark, user by user in key order (entries above it belong to a run that
    /// never finished; the tail rebuilt at open covers them), then drops the two tables.
    private static func packVersion4Indexes(_ db: Database) throws {
        let upTo = try Int64.fetchOne(db, sql: "SELECT upto FROM log_indexed") ?? 0
        let rows = try Row.fetchCursor(db, sql: """
            SELECT h.user, h.id, h.partner, CASE WHEN l.recipient = h.user THEN l.seq ELSE 0 END
            FROM history_index h JOIN log l ON l.id = h.id WHERE h.id <= ? ORDER BY h.user, h.id
            """, arguments: [upTo])
        var user: Int64?
        var entries: [LogLedger.Entry] = []
        while let row = try rows.next() {
            let owner: Int64 = row[0]
            if owner != user, let previous = user {
                try IndexChunks.write(user: previous, entries: entries, indexedUpTo: upTo, db)
                entries.removeAll(keepingCapacity: true)
            }
            user = owner
            entries.append(.init(id: row[1], seq: row[3], partner: row[2]))
        }
        if let user { try IndexChunks.write(user: user, entries: entries, indexedUpTo: upTo, db) }
        try db.execute(sql: "DROP TABLE inbox_index; DROP TABLE history_index")
    }

    /// The writer's durability level: 2 is FULL (an fsync of the WAL at every commit), 1 NORMAL.
    static func synchronousLevel(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
    }
}
