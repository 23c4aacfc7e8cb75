import ChatCore

/// Fills an empty PostgreSQL database from another store's data, in ONE transaction (`parley migrate`): either
/// everything arrives or nothing does. Message ids and seqs, direct and room, are kept as they are; the inbox
/// heads, rooms and cursors are written as given; afterwards the id sequence stands above the highest id.
///
/// Use: `init` (creates the schema, locks, checks emptiness), the `add…` calls in any order except that
/// accounts come first and rooms before their messages and cursors, messages in pages through `addMessages`
/// and `addRoomMessages`, then `commit()`.
public final class PostgresImporter {
    private let connection: PGConnection
    /// The table a COPY is open into, if any.
    private var copying: String?
    private var lastID: Int64 = 0
    /// What went in so far, by kind, for the summary.
    public private(set) var counts: [String: Int] = [:]

    /// Connects, creates the schema if missing, opens the transaction and refuses a database that holds data.
    /// - Throws: `StoreError.unavailable`, `PostgresStoreError.notEmpty`, or a database error.
    public init(url: String) throws {
        do {
            connection = try PGConnection(url: url)
        } catch let error as PGError {
            throw StoreError.unavailable("cannot connect to PostgreSQL: \(error.message)")
        }
        try PostgresSchema.migrate(connection)
        try connection.execute("BEGIN")
        // No node may start writing while the import runs: the same lock the schema changes take.
        try connection.execute("SELECT pg_advisory_xact_lock(\(PostgresSchema.advisoryLock))")
        let found = try connection.execute("""
            SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM log),
                   (SELECT count(*) FROM meta WHERE key <> $1), (SELECT count(*) FROM rooms)
            """, [.string(PostgresSchema.versionKey)])
        let (accounts, messages, meta, rooms) = (found.int(0, 0), found.int(0, 1), found.int(0, 2), found.int(0, 3))
        guard accounts + messages + meta + rooms == 0 else {
            _ = try? connection.execute("ROLLBACK")
            throw PostgresStoreError.notEmpty("\(accounts) accounts, \(messages) messages, \(rooms) rooms, "
                                              + "\(meta) bookkeeping values")
        }
    }

    public func addAccounts(_ accounts: [AccountRecord]) throws {
        try copy("accounts (name, password_hash, created_at)", accounts.map { [$0.name, $0.passwordHash, String($0.createdAt)] })
        counts["accounts", default: 0] += accounts.count
    }

    public func addBlocks(_ blocks: [String: Set<String>]) throws {
        for (blocker, blocked) in blocks.sorted(by: { $0.key < $1.key }) {
            for name in blocked.sorted() {
                try connection.execute("""
                    INSERT INTO blocks (blocker, blocked) SELECT a.id, b.id FROM accounts a, accounts b WHERE a.name = $1 AND b.name = $2
                    """, [.string(blocker), .string(name)])
                counts["blocks", default: 0] += 1
            }
        }
    }

    public func addTokens(_ tokens: [TokenRecord]) throws {
        for token in tokens {
            try connection.execute("INSERT INTO tokens (digest, user_id, expires_at) SELECT $1, id, $3 FROM accounts WHERE name = $2",
                                   [.string(token.digest), .string(token.user), .int(token.expiresAt)])
        }
        counts["tokens", default: 0] += tokens.count
    }

    /// One page of messages, with their ids and seqs, through COPY (names resolved from the accounts added).
    public func addMessages(_ messages: [StoredMessage]) throws {
        guard !messages.isEmpty else { return }
        if ids.isEmpty { try loadAccountIDs() }
        try beginCopy("log (id, stream, sender, recipient, seq, sent_at, body)")
        for message in messages {
            guard let sender = ids[message.from], let recipient = ids[message.to] else {
                throw StoreError.constraint("message \(message.id) names an account that does not exist")
            }
            let stream = (min(sender, recipient) << 32) | max(sender, recipient)
            try connection.copyRow([String(message.id), String(stream), String(sender), String(recipient),
                                    String(message.seq), String(message.at), message.text])
            lastID = max(lastID, message.id)
        }
        counts["messages", default: 0] += messages.count
    }

    /// Every user's last seq and cursor.
    public func addInboxHeads(_ heads: [String: InboxHead]) throws {
        try endCopy()
        for (user, head) in heads.sorted(by: { $0.key < $1.key }) {
            try connection.execute("INSERT INTO inbox_heads (user_id, last, acked) SELECT id, $2, $3 FROM accounts WHERE name = $1",
                                   [.string(user), .int(head.last), .int(head.acked)])
        }
        counts["inbox heads", default: 0] += heads.count
    }

    public func addLastSeen(_ lastSeen: [String: Int64]) throws {
        for (user, at) in lastSeen.sorted(by: { $0.key < $1.key }) {
            try connection.execute("INSERT INTO logins (user_id, last_seen) SELECT id, $2 FROM accounts WHERE name = $1",
                                   [.string(user), .int(at)])
        }
        counts["login history", default: 0] += lastSeen.count
    }

    public func addMeta(_ meta: [String: String]) throws {
        for (key, value) in meta.sorted(by: { $0.key < $1.key }) where key != PostgresSchema.versionKey {
            try connection.execute("INSERT INTO meta (key, value) VALUES ($1, $2)", [.string(key), .string(value)])
            counts["bookkeeping values", default: 0] += 1
        }
    }

    /// Every room with its owner, members and bans (new room ids, in the order given).
    public func addRooms(_ rooms: [RoomRecord]) throws {
        try endCopy()
        for room in rooms {
            try connection.execute("""
                INSERT INTO rooms (name, owner, created_at, last_seq)
                VALUES ($1, (SELECT id FROM accounts WHERE name = $2), $3, $4)
                """, [.string(room.name), room.owner.map { .string($0) }, .int(room.createdAt), .int(room.lastSeq)])
            for member in room.members {
                try connection.execute("""
                    INSERT INTO room_members (room, user_id, joined_at)
                    SELECT r.id, a.id, $3 FROM rooms r, accounts a WHERE r.name = $1 AND a.name = $2
                    """, [.string(room.name), .string(member.user), .int(member.joinedAt)])
            }
            for user in room.banned.sorted() {
                try connection.execute("""
                    INSERT INTO room_bans (room, user_id) SELECT r.id, a.id FROM rooms r, accounts a WHERE r.name = $1 AND a.name = $2
                    """, [.string(room.name), .string(user)])
            }
        }
        roomIDs = [:]
        counts["rooms", default: 0] += rooms.count
    }

    /// One page of room messages, with their ids and seqs, through COPY.
    public func addRoomMessages(_ messages: [RoomMessage]) throws {
        guard !messages.isEmpty else { return }
        if ids.isEmpty { try loadAccountIDs() }
        if roomIDs.isEmpty {
            let rows = try connection.execute("SELECT name, id FROM rooms")
            for row in 0..<rows.rowCount { roomIDs[rows.string(row, 0)] = rows.int(row, 1) }
        }
        try beginCopy("room_log (room, seq, id, sender, sent_at, body)")
        for message in messages {
            guard let room = roomIDs[message.room] else {
                throw StoreError.constraint("room message \(message.id) names a room that does not exist")
            }
            guard let sender = ids[message.from] else {
                throw StoreError.constraint("room message \(message.id) names an account that does not exist")
            }
            try connection.copyRow([String(room), String(message.seq), String(message.id), String(sender),
                                    String(message.at), message.text])
            lastID = max(lastID, message.id)
        }
        counts["room messages", default: 0] += messages.count
    }

    /// Every member's cursor in each room: user → room → acked.
    public func addRoomCursors(_ cursors: [String: [String: Int64]]) throws {
        try endCopy()
        for (user, rooms) in cursors.sorted(by: { $0.key < $1.key }) {
            for (room, acked) in rooms.sorted(by: { $0.key < $1.key }) {
                try connection.execute("""
                    INSERT INTO room_cursors (user_id, room, acked)
                    SELECT a.id, r.id, $3 FROM accounts a, rooms r WHERE a.name = $1 AND r.name = $2
                    """, [.string(user), .string(room), .int(acked)])
                counts["room cursors", default: 0] += 1
            }
        }
    }

    /// Puts the id sequence above the highest id and commits everything.
    public func commit() throws {
        try endCopy()
        if lastID > 0 { try connection.execute("SELECT setval('message_ids', $1::bigint)", [.int(lastID)]) }
        let tag = try connection.execute("COMMIT").commandTag
        guard tag == "COMMIT" else { throw PGError(sqlState: nil, message: "the import was rolled back (\(tag))") }
    }

    private var ids: [String: Int64] = [:]
    private var roomIDs: [String: Int64] = [:]

    private func loadAccountIDs() throws {
        let rows = try connection.execute("SELECT name, id FROM accounts")
        for row in 0..<rows.rowCount { ids[rows.string(row, 0)] = rows.int(row, 1) }
    }

    /// Opens a COPY into `target` unless one is open already (the pages of one kind of message follow each
    /// other), closing one into another table first.
    private func beginCopy(_ target: String) throws {
        guard copying != target else { return }
        try endCopy()
        try connection.beginCopy("COPY \(target) FROM STDIN")
        copying = target
    }

    private func endCopy() throws {
        guard copying != nil else { return }
        copying = nil
        try connection.endCopy()
    }

    private func copy(_ target: String, _ rows: [[String?]]) throws {
        guard !rows.isEmpty else { return }
        try connection.beginCopy("COPY \(target) FROM STDIN")
        for row in rows { try connection.copyRow(row) }
        try connection.endCopy()
    }
}
