import GRDB

/// The SQLite schema (as GRDB migrations) and every statement `SQLiteStore` runs. Only this file knows table
/// and column names.
///
/// Names are compared byte for byte (SQLite's default BINARY collation), matching the case-sensitive names of
/// SPEC.md §1 and Swift's `==` for the ASCII-only names `AccountRules` allows.
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
        // v3 (interim): per-recipient inbox seqs, acked cursors and login history.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
                UPDATE messages SET seq = (SELECT COUNT(*) FROM messages AS m WHERE m.recipient = messages.recipient AND m.id <= messages.id);
                CREATE INDEX messages_inbox ON messages(recipient, seq);
                CREATE TABLE cursors (user TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name), acked INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO cursors (user, acked)
                    SELECT recipient, COALESCE((SELECT MIN(seq) - 1 FROM messages AS p WHERE p.recipient = m.recipient AND p.pending = 1), MAX(seq))
                    FROM messages AS m GROUP BY recipient;
                CREATE TABLE logins (user TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name), last_seen INTEGER NOT NULL) WITHOUT ROWID;
                """)
        }
        return migrator
    }

    // MARK: - Writes

    /// Applies one write. Constraint failures surface as GRDB's `DatabaseError` or `StoreError.constraint`.
    static func apply(_ write: StoreWrite, _ db: Database) throws {
        switch write {
        case .createAccount(let account):
            try db.execute(sql: "INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                           arguments: [account.name, account.passwordHash, account.createdAt])
        case .setPasswordHash(let user, let hash):
            try db.execute(sql: "UPDATE accounts SET password_hash = ? WHERE name = ?", arguments: [hash, user])
            if db.changesCount == 0 { throw StoreError.constraint("no account named \(user)") }
        case .advanceCursor(let user, let seq):
            try db.cachedStatement(sql: """
                INSERT INTO cursors (user, acked) VALUES (?1, ?2) ON CONFLICT(user) DO UPDATE SET acked = MAX(acked, ?2)
                """).execute(arguments: [user, seq])
        case .recordLogout(let user, let at):
            try db.cachedStatement(sql: """
                INSERT INTO logins (user, last_seen) VALUES (?1, ?2) ON CONFLICT(user) DO UPDATE SET last_seen = ?2
                """).execute(arguments: [user, at])
        case .setBlock(let blocker, let blocked, let isBlocked):
            if isBlocked {
                try db.execute(sql: "INSERT OR IGNORE INTO blocks (blocker, blocked) VALUES (?, ?)", arguments: [blocker, blocked])
            } else {
                try db.execute(sql: "DELETE FROM blocks WHERE blocker = ? AND blocked = ?", arguments: [blocker, blocked])
            }
        case .insertToken(let token):
            try db.cachedStatement(sql: "INSERT INTO tokens (digest, user, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [token.digest, token.user, token.expiresAt])
        case .deleteToken(let digest):
            try db.cachedStatement(sql: "DELETE FROM tokens WHERE digest = ?").execute(arguments: [digest])
        case .deleteExpiredTokens(let now):
            try db.execute(sql: "DELETE FROM tokens WHERE expires_at <= ?", arguments: [now])
        }
    }

    static func setMeta(_ key: String, _ value: String, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    // MARK: - Reads

    static func meta(_ key: String, _ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key])
    }

    static func snapshot(_ db: Database) throws -> StoreSnapshot {
        let accounts = try Row.fetchAll(db, sql: "SELECT name, password_hash, created_at FROM accounts ORDER BY name").map {
            AccountRecord(name: $0[0], passwordHash: $0[1], createdAt: $0[2])
        }
        var blocks: [String: Set<String>] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT blocker, blocked FROM blocks") {
            blocks[row[0] as String, default: []].insert(row[1])
        }
        let tokens = try Row.fetchAll(db, sql: "SELECT digest, user, expires_at FROM tokens ORDER BY expires_at").map {
            TokenRecord(digest: $0[0], user: $0[1], expiresAt: $0[2])
        }
        let lastID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM messages") ?? 0
        var inboxes: [String: InboxHead] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT recipient, MAX(seq) FROM messages GROUP BY recipient") {
            inboxes[row[0] as String] = InboxHead(last: row[1], acked: 0)
        }
        for row in try Row.fetchAll(db, sql: "SELECT user, acked FROM cursors") {
            inboxes[row[0] as String, default: InboxHead(last: 0, acked: 0)].acked = row[1]
        }
        var lastSeen: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT user, last_seen FROM logins") { lastSeen[row[0] as String] = row[1] }
        return StoreSnapshot(accounts: accounts, blocks: blocks, tokens: tokens, lastMessageID: lastID,
                             inboxes: inboxes, lastSeen: lastSeen)
    }

    static func append(_ m: StoredMessage, _ db: Database) throws -> StoredMessage {
        let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM messages WHERE recipient = ?"),
                                      arguments: [m.to]) ?? 0
        var stored = m
        stored.seq = last + 1
        try db.cachedStatement(sql: "INSERT INTO messages (id, seq, sender, recipient, body, sent_at) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [m.id, stored.seq, m.from, m.to, m.text, m.at])
        return stored
    }

    static func inbox(_ query: InboxQuery, _ db: Database) throws -> [StoredMessage] {
        try fetchMessages(db, sql: "SELECT \(columns) FROM messages WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?",
                          arguments: [query.user, query.after, query.effectiveLimit])
    }

    /// Newest first. Each direction is its own index range, limited on its own, and the union is cut to the
    /// limit again: the page never needs more than 2 × limit rows, however long the history is.
    static func history(_ query: HistoryQuery, _ db: Database) throws -> [StoredMessage] {
        let limit = query.effectiveLimit
        guard limit > 0 else { return [] }
        let before = query.before ?? Int64.max
        let sent: String
        let received: String
        let arguments: StatementArguments
        if let other = query.with {
            sent = "SELECT \(columns) FROM messages WHERE sender = ?1 AND recipient = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4"
            received = "SELECT \(columns) FROM messages WHERE sender = ?2 AND recipient = ?1 AND id < ?3 ORDER BY id DESC LIMIT ?4"
            arguments = [query.owner, other, before, limit]
        } else {
            sent = "SELECT \(columns) FROM messages WHERE sender = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            received = "SELECT \(columns) FROM messages WHERE recipient = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            arguments = [query.owner, before, limit]
        }
        // UNION (not UNION ALL) so a row matching both halves is listed once.
        let limitParameter = query.with == nil ? "?3" : "?4"
        let sql = "SELECT * FROM (\(sent)) UNION SELECT * FROM (\(received)) ORDER BY id DESC LIMIT \(limitParameter)"
        return try fetchMessages(db, sql: sql, arguments: arguments)
    }

    private static let columns = "id, seq, sender, recipient, body, sent_at"

    private static func fetchMessages(_ db: Database, sql: String, arguments: StatementArguments) throws -> [StoredMessage] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map {
            StoredMessage(id: $0[0], seq: $0[1], from: $0[2], to: $0[3], text: $0[4], at: $0[5])
        }
    }

    /// The writer's durability level: 2 is FULL (an fsync of the WAL at every commit), 1 NORMAL.
    static func synchronousLevel(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
    }
}
