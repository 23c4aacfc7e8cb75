import GRDB

/// Every statement `SQLiteStore` runs on the version 3 schema (StoreSchema explains its shape). Writes and the
/// writer's reads go through the writer's `LogLedger`, which maps names to ids and holds the unindexed tail.
enum StoreSQL {
    // MARK: - The hot path

    /// One insert at the end of the log; the recipient's seq comes from memory. Checks the accounts first (the
    /// log declares no foreign keys: they would cost two lookups per message), so a refused message changes
    /// nothing; a duplicate id fails on the primary key, which undoes only that statement.
    /// `insert`: `logInsert(db)`, prepared once per batch.
    static func append(_ message: StoredMessage, _ ledger: LogLedger, _ insert: BoundInsert, _ db: Database) throws -> StoredMessage {
        let senderSlot = try ledger.requireSlot(of: message.from)
        let recipientSlot = try ledger.requireSlot(of: message.to)
        let sender = ledger.id(of: senderSlot), recipient = ledger.id(of: recipientSlot)
        try ledger.requireUnsealed(message.id)
        var stored = message
        stored.seq = ledger.last(of: recipientSlot) + 1
        insert.bind(message.id, at: 1)
        insert.bind(directStream(sender, recipient), at: 2)
        insert.bind(sender, at: 3)
        insert.bind(recipient, at: 4)
        insert.bind(stored.seq, at: 5)
        insert.bind(message.at, at: 6)
        try insert.run(binding: message.text, at: 7, db)
        ledger.appended(id: message.id, sender: senderSlot, recipient: recipientSlot, seq: stored.seq)
        return stored
    }

    /// The statement `append` runs.
    static func logInsert(_ db: Database) throws -> BoundInsert {
        try BoundInsert("INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)", db)
    }

    /// Runs `body` in one immediate transaction and commits it: a group commit. GRDB's `write` prepares its
    /// BEGIN and COMMIT anew every time (about 30 000 instructions a commit, as much as a dozen appends); these
    /// are prepared once and kept in the writer connection's statement cache. On any error the transaction is
    /// rolled back (if SQLite has not done so already) and the error rethrown.
    static func inGroupCommit<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try BoundInsert("BEGIN IMMEDIATE TRANSACTION", db).run(db)
        do {
            let value = try body()
            try BoundInsert("COMMIT TRANSACTION", db).run(db)
            return value
        } catch {
            if db.isInsideTransaction { try? db.rollback() }
            throw error
        }
    }

    /// The conversation of a direct pair, the same both ways. A room's stream is its id, always below 2^32, so the two never meet.
    static func directStream(_ a: Int64, _ b: Int64) -> Int64 { (min(a, b) << 32) | max(a, b) }

    // MARK: - Other writes

    /// Applies one write. Constraint failures surface as GRDB's `DatabaseError` or `StoreError.constraint`.
    static func apply(_ write: StoreWrite, _ ledger: LogLedger, _ db: Database) throws {
        switch write {
        case .createAccount(let account):
            try db.execute(sql: "INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                           arguments: [account.name, account.passwordHash, account.createdAt])
            ledger.addAccount(name: account.name, id: db.lastInsertedRowID)
        case .setPasswordHash(let user, let hash):
            try db.execute(sql: "UPDATE accounts SET password_hash = ? WHERE name = ?", arguments: [hash, user])
            if db.changesCount == 0 { throw StoreError.constraint("no account named \(user)") }
        case .advanceCursor(let user, let seq):
            let id = try ledger.requireID(of: user)
            let last = ledger.last(of: id)
            guard seq <= last else { throw StoreError.constraint("cursor \(seq) beyond the inbox of \(user) (last \(last))") }
            // Through the C API like the append (BoundInsert): acks come as often as messages.
            let upsert = try BoundInsert("""
                INSERT INTO cursors (user, stream, acked) VALUES (?, 0, ?)
                ON CONFLICT (user, stream) DO UPDATE SET acked = max(acked, excluded.acked)
                """, db)
            upsert.bind(id, at: 1)
            upsert.bind(seq, at: 2)
            try upsert.run(db)
        case .recordSeen(let user, let at):
            let id = try ledger.requireID(of: user)
            let upsert = try BoundInsert("""
                INSERT INTO logins (user, last_seen) VALUES (?, ?) ON CONFLICT (user) DO UPDATE SET last_seen = excluded.last_seen
                """, db)
            upsert.bind(id, at: 1)
            upsert.bind(at, at: 2)
            try upsert.run(db)
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
        case .createRoom, .setRoomMember, .setRoomOwner, .setRoomBan, .advanceRoomCursor:
            try applyRoom(write, ledger, db)
        }
    }

    static func setMeta(_ key: String, _ value: String, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }

    // MARK: - Batch indexing

    /// The highest message id in the log: where an indexing run that starts now ends.
    static func lastLogID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM log") ?? 0
    }

    /// One step of an indexing run read from the log: the entries of the ids in (after, upTo] that belong to the
    /// users `users`, gathered by a ledger of their own (the same rules as the writer's tail) and written by
    /// `indexStep` (the tests' interrupted run, and `indexAll`). The users' rows above `after` are replaced, so a
    /// run a crash cut short can run again.
    static func indexLog(after: Int64, upTo: Int64, users: ClosedRange<Int64>, _ db: Database) throws {
        let ledger = LogLedger(accounts: [], lasts: [:], indexedUpTo: after, tail: try logRows(after: after, upTo: upTo, db))
        let gathered = ledger.gather(upTo: upTo)
        let step = gathered.users.indices.filter { users.contains(gathered.users[$0]) }
            .map { (user: gathered.users[$0], entries: gathered.entries(at: $0)) }
        try indexStep(step, inIDOrder: true, indexedUpTo: after, db)
    }

    /// One step of an indexing run from the writer's memory: the given users' tail entries up to the run's end,
    /// each user's packed into a row or a few (IndexChunks), so no log row is read again. `inIDOrder`: the
    /// entries came in id order (else each user's are sorted first); `indexedUpTo`: where the index ended
    /// before this run (the user's rows above it are replaced).
    static func indexStep(_ step: [IndexRun.UserEntries], inIDOrder: Bool,
                          indexedUpTo: Int64, _ db: Database) throws {
        for (user, slice) in step {
            var entries = Array(slice)
            if !inIDOrder { entries.sort { $0.id < $1.id } }
            try IndexChunks.write(user: user, entries: entries, indexedUpTo: indexedUpTo, db)
        }
    }

    /// One step in its own transaction, without an fsync: the index can always be rebuilt from the log (a lost
    /// step leaves the watermark where it was and the run starts again), and the next group commit's fsync
    /// covers these frames too. The last step also moves the watermark. `synchronous` is FULL again after it,
    /// or this throws.
    static func commitIndexStep(_ step: [IndexRun.UserEntries], of run: IndexRun,
                                finishing: Bool, _ ledger: LogLedger, _ db: Database) throws {
        try db.execute(sql: "PRAGMA synchronous = OFF")
        let step = Result {
            try db.inTransaction {
                try indexStep(step, inIDOrder: run.inIDOrder, indexedUpTo: ledger.indexedUpTo, db)
                if finishing { try finishIndexing(upTo: run.upTo, db) }
                return .commit
            }
        }
        try db.execute(sql: "PRAGMA synchronous = FULL")
        try step.get()
    }

    /// The run's last step is committed: reads may take the index up to `upTo`.
    static func finishIndexing(upTo: Int64, _ db: Database) throws {
        try db.execute(sql: "UPDATE log_indexed SET upto = max(upto, ?)", arguments: [upTo])
    }

    /// Indexes the whole log after `after` in one step (the migration, and tests).
    @discardableResult
    static func indexAll(after: Int64, _ db: Database) throws -> Int64 {
        let upTo = try lastLogID(db)
        guard upTo > after else { return after }
        try indexLog(after: after, upTo: upTo, users: 0...Int64(Int32.max), db)
        try finishIndexing(upTo: upTo, db)
        return upTo
    }

    // MARK: - The writer's memory

    static func loadLedger(_ db: Database) throws -> LogLedger {
        let accounts = try Row.fetchAll(db, sql: "SELECT id, name FROM accounts").map { (id: $0[0] as Int64, name: $0[1] as String) }
        let upTo = try Int64.fetchOne(db, sql: "SELECT upto FROM log_indexed") ?? 0
        return LogLedger(accounts: accounts, lasts: try IndexChunks.lastSeqs(db), indexedUpTo: upTo,
                         tail: try logRows(after: upTo, upTo: .max, db))
    }

    /// The log's rows with ids in (after, upTo], in id order, as a ledger takes them.
    private static func logRows(after: Int64, upTo: Int64, _ db: Database) throws
        -> [(id: Int64, sender: Int64, recipient: Int64, seq: Int64)] {
        try Row.fetchAll(db, sql: "SELECT id, sender, recipient, seq FROM log WHERE id > ? AND id <= ? ORDER BY id",
                         arguments: [after, upTo])
            .map { (id: $0[0] as Int64, sender: $0[1] as Int64, recipient: $0[2] as Int64, seq: $0[3] as Int64) }
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
        let lastID = try lastMessageID(db)
        let ledger = try loadLedger(db)
        var inboxes: [String: InboxHead] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT a.id, a.name FROM accounts a") {
            let last = ledger.last(of: row[0])
            if last > 0 { inboxes[row[1]] = InboxHead(last: last, acked: 0) }
        }
        for row in try Row.fetchAll(db, sql: "SELECT a.name, c.acked FROM cursors c JOIN accounts a ON a.id = c.user WHERE c.stream = 0") {
            inboxes[row[0], default: InboxHead(last: 0, acked: 0)].acked = row[1]
        }
        var lastSeen: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT a.name, l.last_seen FROM logins l JOIN accounts a ON a.id = l.user") {
            lastSeen[row[0]] = row[1]
        }
        let (rooms, roomCursors) = try roomsSnapshot(db)
        return StoreSnapshot(accounts: accounts, blocks: blocks, tokens: tokens, lastMessageID: lastID,
                             inboxes: inboxes, lastSeen: lastSeen, rooms: rooms, roomCursors: roomCursors)
    }

    /// Oldest first: the indexed part, then (if the page is not full) the unindexed tail, which comes after it
    /// in seq order. Entries an unfinished indexing run already wrote are above `indexedUpTo` and still in the
    /// tail, so the indexed part stops there.
    static func inbox(_ query: InboxQuery, _ ledger: LogLedger, _ db: Database) throws -> [StoredMessage] {
        let limit = query.effectiveLimit
        guard limit > 0, let user = ledger.id(of: query.user) else { return [] }
        return try inOneReadTransaction(db) {
            let indexed = try IndexChunks.inbox(of: user, after: query.after, upTo: ledger.indexedUpTo, limit: limit, db)
            var page = try messages(ids: indexed, ledger, db)
            if page.count < limit {
                page += try messages(ids: ledger.tailInbox(of: user, after: query.after, limit: limit - page.count), ledger, db)
            }
            return page
        }
    }

    /// Newest first: the unindexed tail (the newest messages), then the indexed part below it. With a partner,
    /// the owner's entries with that partner; without, everything the owner sent or received.
    static func history(_ query: HistoryQuery, _ ledger: LogLedger, _ db: Database) throws -> [StoredMessage] {
        let limit = query.effectiveLimit
        guard limit > 0, let owner = ledger.id(of: query.owner) else { return [] }
        var partner: Int64?
        if let other = query.with {
            guard let id = ledger.id(of: other) else { return [] }
            partner = id
        }
        let before = query.before ?? Int64.max
        return try inOneReadTransaction(db) {
            var page = try messages(ids: ledger.tailHistory(of: owner, with: partner, before: before, limit: limit), ledger, db)
            guard page.count < limit else { return page }
            let indexed = try IndexChunks.history(of: owner, with: partner, before: before, upTo: ledger.indexedUpTo,
                                                  limit: limit - page.count, db)
            page += try messages(ids: indexed, ledger, db)
            return page
        }
    }

    /// A page's statements in one transaction (or the caller's). Outside one, each statement takes and releases
    /// the WAL's read lock itself, and a page runs one per message it returns.
    private static func inOneReadTransaction<T>(_ db: Database, _ read: () throws -> T) throws -> T {
        guard !db.isInsideTransaction else { return try read() }
        var result: T?
        try db.inTransaction(.deferred) {
            result = try read()
            return .commit
        }
        guard let result else { preconditionFailure("a committed read transaction returns its page") }
        return result
    }

    /// The last seq from the writer's memory, the cursor from its table.
    static func inboxHead(of user: String, _ ledger: LogLedger, _ db: Database) throws -> InboxHead {
        guard let id = ledger.id(of: user) else { return InboxHead(last: 0, acked: 0) }
        let acked = try Int64.fetchOne(db.cachedStatement(sql: "SELECT acked FROM cursors WHERE user = ? AND stream = 0"),
                                       arguments: [id])
        return InboxHead(last: ledger.last(of: id), acked: acked ?? 0)
    }

    static func account(named name: String, _ db: Database) throws -> AccountRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT name, password_hash, created_at FROM accounts WHERE name = ?"),
                         arguments: [name]).map { AccountRecord(name: $0[0], passwordHash: $0[1], createdAt: $0[2]) }
    }

    static func token(digest: String, _ db: Database) throws -> TokenRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT digest, user, expires_at FROM tokens WHERE digest = ?"),
                         arguments: [digest]).map { TokenRecord(digest: $0[0], user: $0[1], expiresAt: $0[2]) }
    }

    // MARK: - Export

    /// One page of the log in id order, names resolved (an export reads committed data, not the writer's memory).
    static func exportMessages(after: Int64, limit: Int, _ db: Database) throws -> [StoredMessage] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT l.id, l.seq, s.name, r.name, l.body, l.sent_at FROM log l
            JOIN accounts s ON s.id = l.sender JOIN accounts r ON r.id = l.recipient
            WHERE l.id > ? ORDER BY l.id LIMIT ?
            """), arguments: [after, max(0, limit)]).map {
            StoredMessage(id: $0[0], seq: $0[1], from: $0[2], to: $0[3], text: $0[4], at: $0[5])
        }
    }

    static func allMeta(_ db: Database) throws -> [String: String] {
        var meta: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM meta") { meta[row[0]] = row[1] }
        return meta
    }

    private static let columns = "l.id, l.seq, l.sender, l.recipient, l.body, l.sent_at"

    /// Log rows by id, in the order given: one rowid seek each.
    private static func messages(ids: [Int64], _ ledger: LogLedger, _ db: Database) throws -> [StoredMessage] {
        guard !ids.isEmpty else { return [] }
        let lookup = try BoundInsert("SELECT \(columns) FROM log l WHERE l.id = ?", db)
        var page: [StoredMessage] = []
        page.reserveCapacity(ids.count)
        for id in ids {
            guard let row = try lookup.logRow(id, db) else { continue }
            page.append(StoredMessage(id: row.id, seq: row.seq, from: ledger.name(of: row.sender),
                                      to: ledger.name(of: row.recipient), text: row.body, at: row.at))
        }
        return page
    }
}
