import ChatCore

/// Every statement `PostgresStore` runs on its writer connection, prepared once per connection. Names are
/// resolved to ids inside the statements (accounts may be created on another node at any time, so the writer
/// keeps no map of its own); a statement that finds no account returns no row and the caller reports it.
enum PostgresSQL {
    // MARK: - The hot path

    /// Raises the recipient's head (inserting it at 1 if missing; the row lock is held until the commit) and
    /// appends the message at that seq. `$1 = 0` draws the id from `message_ids`. No row: an unknown account.
    static let append = PGStatement(name: "append", sql: """
        WITH sender AS (SELECT id FROM accounts WHERE name = $2),
             head AS (
                INSERT INTO inbox_heads (user_id, last, acked)
                SELECT r.id, 1, 0 FROM accounts r, sender WHERE r.name = $3
                ON CONFLICT (user_id) DO UPDATE SET last = inbox_heads.last + 1
                RETURNING user_id, last)
        INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
        SELECT coalesce(nullif($1::bigint, 0), nextval('message_ids')),
               (least(sender.id, head.user_id) << 32) | greatest(sender.id, head.user_id),
               sender.id, head.user_id, head.last, $4, $5
        FROM sender, head
        RETURNING id, seq
        """)

    /// Keeps the sequence above a hub-chosen id, so ids drawn later (cluster mode, broadcasts) never collide.
    static let raiseMessageIDs = PGStatement(name: "raise_ids", sql: """
        SELECT setval('message_ids', $1::bigint) FROM message_ids WHERE last_value < $1::bigint OR NOT is_called
        """)

    static let reserveMessageIDs = PGStatement(name: "reserve_ids", sql: """
        SELECT nextval('message_ids') FROM generate_series(1, $1::int)
        """)

    /// Locks existing head rows of `$1` (a text array of names) in id order (PostgresStore.lockHeads).
    static let lockHeads = PGStatement(name: "lock_heads", sql: """
        SELECT 1 FROM inbox_heads WHERE user_id IN (SELECT id FROM accounts WHERE name = ANY($1::text[]))
        ORDER BY user_id FOR UPDATE
        """)

    static let begin = PGStatement(name: "begin", sql: "BEGIN")
    static let commit = PGStatement(name: "commit", sql: "COMMIT")

    /// For the append batch (PostgresStore.pipelinedAppends): its COMMIT returns without waiting for the disk,
    /// which releases its head-row locks at once; `durable` then waits for the disk.
    static let commitWithoutWaiting = PGStatement(name: "commit_without_waiting",
                                                  sql: "SET LOCAL synchronous_commit TO off")
    /// Taken by every append batch of every node, until its COMMIT: the nodes' batches take turns as a whole.
    /// Without it they took turns row by row on the inbox heads they shared (nearly all of them, with batches
    /// of tens of messages to a thousand users), and the waiting itself (row-lock queues, rechecks of rows
    /// updated meanwhile) cost PostgreSQL 60–70 µs of CPU more per message than one node's appends.
    static let appendTurn = PGStatement(name: "append_turn", sql: "SELECT pg_advisory_xact_lock(\(appendLock))")
    static let appendLock: Int64 = 0x7061_726C_6579_01  // "parley" and 1

    /// A transaction of its own that writes one small WAL record (a logical-decoding message, which nothing
    /// stores) and so, with synchronous commit on, returns only once the WAL is on disk up to its commit record,
    /// which comes after every earlier commit of this connection. A transaction that only takes an id writes no
    /// WAL of its own, and PostgreSQL commits it without waiting: that lost acknowledged appends in the crash
    /// test (PostgresClusterTests).
    static let durable = PGStatement(name: "durable", sql: "SELECT pg_logical_emit_message(true, 'parley', '')")

    /// The refusal of an append that found no account.
    static func unknownAccount(_ message: StoredMessage, _ connection: PGConnection) -> StoreError {
        let name = (try? missingAccount([message.from, message.to], connection)) ?? "\(message.from) or \(message.to)"
        return .constraint("no account named \(name)")
    }

    static func append(_ message: StoredMessage, _ connection: PGConnection) throws -> StoredMessage {
        let result = try connection.execute(append, [.int(message.id), .string(message.from), .string(message.to),
                                                      .int(message.at), .string(message.text)])
        guard result.rowCount == 1 else {
            throw StoreError.constraint("no account named \(try missingAccount([message.from, message.to], connection))")
        }
        var stored = message
        stored.id = result.int(0, 0)
        stored.seq = result.int(0, 1)
        return stored
    }

    /// Which of the names has no account (for the error message of a refused write).
    static func missingAccount(_ names: [String], _ connection: PGConnection) throws -> String {
        for name in names where try connection.execute(accountID, [.string(name)]).rowCount == 0 { return name }
        return names.joined(separator: " or ")
    }

    private static let accountID = PGStatement(name: "account_id", sql: "SELECT id FROM accounts WHERE name = $1")

    // MARK: - Other writes

    private static let createAccount = PGStatement(name: "create_account", sql: """
        INSERT INTO accounts (name, password_hash, created_at) VALUES ($1, $2, $3)
        """)
    private static let setPasswordHash = PGStatement(name: "set_password", sql: """
        UPDATE accounts SET password_hash = $2 WHERE name = $1
        """)
    /// No row: unknown user. A cursor beyond the inbox breaks `cursor_within_inbox`. PostgreSQL checks the row
    /// proposed for insertion even when it conflicts, so that row's cursor is at most 0 and the update sets the
    /// real one; a new head with a cursor above 0 comes back with `acked` below the seq asked for.
    private static let advanceCursor = PGStatement(name: "advance_cursor", sql: """
        INSERT INTO inbox_heads (user_id, last, acked) SELECT id, 0, least($2::bigint, 0) FROM accounts WHERE name = $1
        ON CONFLICT (user_id) DO UPDATE SET acked = greatest(inbox_heads.acked, $2::bigint)
        RETURNING last, acked
        """)
    private static let recordSeen = PGStatement(name: "record_seen", sql: """
        INSERT INTO logins (user_id, last_seen) SELECT id, $2 FROM accounts WHERE name = $1
        ON CONFLICT (user_id) DO UPDATE SET last_seen = excluded.last_seen
        RETURNING 1
        """)
    /// Counts the pair found, so a block naming a missing account is refused while blocking twice is not.
    private static let block = PGStatement(name: "block", sql: """
        WITH pair AS (SELECT a.id AS blocker, b.id AS blocked FROM accounts a, accounts b WHERE a.name = $1 AND b.name = $2),
             added AS (INSERT INTO blocks (blocker, blocked) SELECT blocker, blocked FROM pair ON CONFLICT DO NOTHING)
        SELECT count(*) FROM pair
        """)
    private static let unblock = PGStatement(name: "unblock", sql: """
        DELETE FROM blocks USING accounts a, accounts b
        WHERE a.name = $1 AND b.name = $2 AND blocks.blocker = a.id AND blocks.blocked = b.id
        """)
    private static let insertToken = PGStatement(name: "insert_token", sql: """
        INSERT INTO tokens (digest, user_id, expires_at) SELECT $1, id, $3 FROM accounts WHERE name = $2 RETURNING 1
        """)
    private static let deleteToken = PGStatement(name: "delete_token", sql: "DELETE FROM tokens WHERE digest = $1")
    private static let deleteExpiredTokens = PGStatement(name: "delete_expired", sql: "DELETE FROM tokens WHERE expires_at <= $1")
    private static let setMeta = PGStatement(name: "set_meta", sql: """
        INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value
        """)

    /// Applies one write. Refusals throw `StoreError.constraint`; the database's own constraint errors are
    /// turned into it by the caller.
    static func apply(_ write: StoreWrite, _ connection: PGConnection) throws {
        switch write {
        case .createAccount(let account):
            try connection.execute(createAccount, [.string(account.name), .string(account.passwordHash), .int(account.createdAt)])
        case .setPasswordHash(let user, let hash):
            guard try connection.execute(setPasswordHash, [.string(user), .string(hash)]).affectedRows > 0 else {
                throw StoreError.constraint("no account named \(user)")
            }
        case .advanceCursor(let user, let seq):
            let head = try connection.execute(advanceCursor, [.string(user), .int(seq)])
            guard head.rowCount == 1 else { throw StoreError.constraint("no account named \(user)") }
            guard head.int(0, 1) >= seq else {
                throw StoreError.constraint("cursor \(seq) beyond the inbox of \(user) (last \(head.int(0, 0)))")
            }
        case .recordSeen(let user, let at):
            guard try connection.execute(recordSeen, [.string(user), .int(at)]).rowCount == 1 else {
                throw StoreError.constraint("no account named \(user)")
            }
        case .setBlock(let blocker, let blocked, let isBlocked):
            if isBlocked {
                guard try connection.execute(block, [.string(blocker), .string(blocked)]).int(0, 0) == 1 else {
                    throw StoreError.constraint("no account named \(try missingAccount([blocker, blocked], connection))")
                }
            } else {
                try connection.execute(unblock, [.string(blocker), .string(blocked)])
            }
        case .insertToken(let token):
            guard try connection.execute(insertToken, [.string(token.digest), .string(token.user), .int(token.expiresAt)])
                .rowCount == 1 else { throw StoreError.constraint("no account named \(token.user)") }
        case .deleteToken(let digest):
            try connection.execute(deleteToken, [.string(digest)])
        case .deleteExpiredTokens(let now):
            try connection.execute(deleteExpiredTokens, [.int(now)])
        case .createRoom, .setRoomMember, .setRoomOwner, .setRoomBan, .advanceRoomCursor:
            try applyRoom(write, connection)
        }
    }

    static func setMeta(_ key: String, _ value: String, _ connection: PGConnection) throws {
        try connection.execute(setMeta, [.string(key), .string(value)])
    }

    // MARK: - Reads on the writer

    private static let columns = "l.id, l.seq, s.name, r.name, l.body, l.sent_at"
    private static let names = "JOIN accounts s ON s.id = l.sender JOIN accounts r ON r.id = l.recipient"

    private static let inbox = PGStatement(name: "inbox", sql: """
        SELECT \(columns) FROM log l \(names)
        WHERE l.recipient = (SELECT id FROM accounts WHERE name = $1) AND l.seq > $2 ORDER BY l.seq LIMIT $3
        """)
    /// With a partner: their conversation's stream, newest first.
    private static let historyWith = PGStatement(name: "history_with", sql: """
        SELECT \(columns) FROM log l \(names)
        WHERE l.stream = (SELECT (least(o.id, p.id) << 32) | greatest(o.id, p.id) FROM accounts o, accounts p
                          WHERE o.name = $1 AND p.name = $2)
          AND l.id < $3 ORDER BY l.id DESC LIMIT $4
        """)
    /// With anyone: the newest sent and the newest received (a message to oneself once), merged.
    private static let historyAll = PGStatement(name: "history_all", sql: """
        WITH owner AS (SELECT id FROM accounts WHERE name = $1)
        SELECT \(columns) FROM (
            (SELECT * FROM log WHERE sender = (SELECT id FROM owner) AND id < $2 ORDER BY id DESC LIMIT $3)
            UNION ALL
            (SELECT * FROM log WHERE recipient = (SELECT id FROM owner) AND sender <> recipient AND id < $2
             ORDER BY id DESC LIMIT $3)
        ) l \(names)
        ORDER BY l.id DESC LIMIT $3
        """)
    private static let inboxHead = PGStatement(name: "inbox_head", sql: """
        SELECT h.last, h.acked FROM inbox_heads h JOIN accounts a ON a.id = h.user_id WHERE a.name = $1
        """)

    static func inbox(_ query: InboxQuery, _ connection: PGConnection) throws -> [StoredMessage] {
        let limit = query.effectiveLimit
        guard limit > 0 else { return [] }
        return messages(try connection.execute(inbox, [.string(query.user), .int(query.after), .int(Int64(limit))]))
    }

    static func history(_ query: HistoryQuery, _ connection: PGConnection) throws -> [StoredMessage] {
        let limit = Int64(query.effectiveLimit)
        guard limit > 0 else { return [] }
        let before = query.before ?? Int64.max
        if let partner = query.with {
            return messages(try connection.execute(historyWith, [.string(query.owner), .string(partner), .int(before), .int(limit)]))
        }
        return messages(try connection.execute(historyAll, [.string(query.owner), .int(before), .int(limit)]))
    }

    private static let accountByName = PGStatement(name: "account_by_name", sql: """
        SELECT name, password_hash, created_at FROM accounts WHERE name = $1
        """)

    static func account(named name: String, _ connection: PGConnection) throws -> AccountRecord? {
        let result = try connection.execute(accountByName, [.string(name)])
        guard result.rowCount == 1 else { return nil }
        return AccountRecord(name: result.string(0, 0), passwordHash: result.string(0, 1), createdAt: result.int(0, 2))
    }

    private static let tokenByDigest = PGStatement(name: "token_by_digest", sql: """
        SELECT t.digest, a.name, t.expires_at FROM tokens t JOIN accounts a ON a.id = t.user_id WHERE t.digest = $1
        """)

    static func token(digest: String, _ connection: PGConnection) throws -> TokenRecord? {
        let result = try connection.execute(tokenByDigest, [.string(digest)])
        guard result.rowCount == 1 else { return nil }
        return TokenRecord(digest: result.string(0, 0), user: result.string(0, 1), expiresAt: result.int(0, 2))
    }

    static func inboxHead(of user: String, _ connection: PGConnection) throws -> InboxHead {
        let result = try connection.execute(inboxHead, [.string(user)])
        guard result.rowCount == 1 else { return InboxHead(last: 0, acked: 0) }
        return InboxHead(last: result.int(0, 0), acked: result.int(0, 1))
    }

    static func messages(_ result: PGResult) -> [StoredMessage] {
        (0..<result.rowCount).map { row in
            StoredMessage(id: result.int(row, 0), seq: result.int(row, 1), from: result.string(row, 2),
                          to: result.string(row, 3), text: result.string(row, 4), at: result.int(row, 5))
        }
    }

    // MARK: - Committed data (own connection)

    static func snapshot(_ connection: PGConnection) throws -> StoreSnapshot {
        // One snapshot of the database for all the reads, though other nodes keep writing.
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { _ = try? connection.execute("COMMIT") }
        let accountRows = try connection.execute("SELECT name, password_hash, created_at FROM accounts ORDER BY name")
        let accounts = (0..<accountRows.rowCount).map {
            AccountRecord(name: accountRows.string($0, 0), passwordHash: accountRows.string($0, 1), createdAt: accountRows.int($0, 2))
        }
        var blocks: [String: Set<String>] = [:]
        let blockRows = try connection.execute("""
            SELECT a.name, b.name FROM blocks k JOIN accounts a ON a.id = k.blocker JOIN accounts b ON b.id = k.blocked
            """)
        for row in 0..<blockRows.rowCount { blocks[blockRows.string(row, 0), default: []].insert(blockRows.string(row, 1)) }
        let tokenRows = try connection.execute("""
            SELECT t.digest, a.name, t.expires_at FROM tokens t JOIN accounts a ON a.id = t.user_id ORDER BY t.expires_at, t.digest
            """)
        let tokens = (0..<tokenRows.rowCount).map {
            TokenRecord(digest: tokenRows.string($0, 0), user: tokenRows.string($0, 1), expiresAt: tokenRows.int($0, 2))
        }
        // Direct and room messages draw their ids from one space.
        let lastID = try connection.execute("""
            SELECT greatest((SELECT coalesce(max(id), 0) FROM log), (SELECT coalesce(max(id), 0) FROM room_log))
            """).int(0, 0)
        var inboxes: [String: InboxHead] = [:]
        let headRows = try connection.execute("SELECT a.name, h.last, h.acked FROM inbox_heads h JOIN accounts a ON a.id = h.user_id")
        for row in 0..<headRows.rowCount {
            inboxes[headRows.string(row, 0)] = InboxHead(last: headRows.int(row, 1), acked: headRows.int(row, 2))
        }
        var lastSeen: [String: Int64] = [:]
        let seenRows = try connection.execute("SELECT a.name, l.last_seen FROM logins l JOIN accounts a ON a.id = l.user_id")
        for row in 0..<seenRows.rowCount { lastSeen[seenRows.string(row, 0)] = seenRows.int(row, 1) }
        let (rooms, roomCursors) = try roomsSnapshot(connection)
        return StoreSnapshot(accounts: accounts, blocks: blocks, tokens: tokens, lastMessageID: lastID,
                             inboxes: inboxes, lastSeen: lastSeen, rooms: rooms, roomCursors: roomCursors)
    }

    static func meta(_ key: String, _ connection: PGConnection) throws -> String? {
        let result = try connection.execute("SELECT value FROM meta WHERE key = $1", [.string(key)])
        return result.rowCount == 1 ? result.string(0, 0) : nil
    }
}
