import GRDB

/// The statements of rooms on the SQLite schema (StoreSchema, v4). A room's messages live in `room_log`, clustered
/// by (room, seq): one insert at the end of the room's range per message, and a member's missed messages or a
/// reader's page is one range read. Members, bans and owners are small tables read at start; room cursors are
/// rows of `cursors` with the room's id as the stream.
extension StoreSQL {
    // MARK: Writes

    static func applyRoom(_ write: StoreWrite, _ ledger: LogLedger, _ db: Database) throws {
        switch write {
        case .createRoom(let name, let at):
            try db.cachedStatement(sql: "INSERT INTO rooms (name, owner, created_at, last_seq) VALUES (?, NULL, ?, 0)")
                .execute(arguments: [name, at])
        case .setRoomMember(let room, let user, let isMember, let at):
            let (roomID, _) = try requireRoom(room, db)
            let userID = try ledger.requireID(of: user)
            if isMember {
                try db.cachedStatement(sql: "INSERT INTO room_members (room, user, joined_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [roomID, userID, at])
            } else {
                try db.cachedStatement(sql: "DELETE FROM room_members WHERE room = ? AND user = ?").execute(arguments: [roomID, userID])
            }
        case .setRoomOwner(let room, let owner):
            let (roomID, _) = try requireRoom(room, db)
            let ownerID = try owner.map { try ledger.requireID(of: $0) }
            try db.cachedStatement(sql: "UPDATE rooms SET owner = ? WHERE id = ?").execute(arguments: [ownerID, roomID])
        case .setRoomBan(let room, let user, let isBanned):
            let (roomID, _) = try requireRoom(room, db)
            let userID = try ledger.requireID(of: user)
            let sql = isBanned ? "INSERT OR IGNORE INTO room_bans (room, user) VALUES (?, ?)"
                               : "DELETE FROM room_bans WHERE room = ? AND user = ?"
            try db.cachedStatement(sql: sql).execute(arguments: [roomID, userID])
        case .advanceRoomCursor:
            try advanceRoomCursors([write], ledger, db)
        default:
            break
        }
    }

    /// Room cursor moves, in order. A flush brings one per member of a busy room: each room is looked up once for
    /// the run and the upsert prepared once, instead of a query by name and a statement lookup per move. Only
    /// cursor moves are in `moves`, so no room changes while the run is applied.
    static func advanceRoomCursors(_ moves: some Collection<StoreWrite>, _ ledger: LogLedger, _ db: Database) throws {
        // Through the C API like the inbox's cursor.
        let upsert = try BoundInsert("""
            INSERT INTO cursors (user, stream, acked) VALUES (?, ?, ?)
            ON CONFLICT (user, stream) DO UPDATE SET acked = max(acked, excluded.acked)
            """, db)
        var known: [String: (id: Int64, lastSeq: Int64)] = [:]
        for case .advanceRoomCursor(let user, let room, let seq) in moves {
            let (roomID, last) = try known[room] ?? {
                let found = try requireRoom(room, db)
                known[room] = found
                return found
            }()
            let userID = try ledger.requireID(of: user)
            guard seq <= last else { throw StoreError.constraint("cursor \(seq) beyond #\(room) (last \(last))") }
            upsert.bind(userID, at: 1)
            upsert.bind(roomID, at: 2)
            upsert.bind(seq, at: 3)
            try upsert.run(db)
        }
    }

    /// The room's seq goes up by one and the message takes it. The insert comes first: a refused message (an id
    /// taken by a direct or room message, an unknown room or sender) fails before anything is written, so the
    /// seq stays where it was without a savepoint. If the seq's update then fails (only the disk can refuse it),
    /// the row already inserted must not be committed: `RoomAppendIncomplete` fails the whole group commit.
    /// Through the C API, like the direct append: one per message.
    static func appendRoom(_ message: RoomMessage, _ ledger: LogLedger, _ db: Database) throws -> RoomMessage {
        var stored = message
        let (roomID, last) = try requireRoom(message.room, db)
        let sender = try ledger.requireID(of: message.from)
        if stored.id == 0 { stored.id = try lastMessageID(db) + 1 }
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM log WHERE id = ?"), arguments: [stored.id]) == true {
            throw StoreError.constraint("message \(stored.id) exists")
        }
        stored.seq = last + 1
        let insert = try BoundInsert("INSERT INTO room_log (room, seq, id, sender, sent_at, body) VALUES (?, ?, ?, ?, ?, ?)", db)
        insert.bind(roomID, at: 1)
        insert.bind(stored.seq, at: 2)
        insert.bind(stored.id, at: 3)
        insert.bind(sender, at: 4)
        insert.bind(message.at, at: 5)
        try insert.run(binding: message.text, at: 6, db)
        let advance = try BoundInsert("UPDATE rooms SET last_seq = ? WHERE id = ?", db)
        advance.bind(stored.seq, at: 1)
        advance.bind(roomID, at: 2)
        do { try advance.run(db) } catch { throw RoomAppendIncomplete(cause: error) }
        return stored
    }

    /// A room message was inserted but its room's seq not moved: its transaction must not commit.
    struct RoomAppendIncomplete: Error, CustomStringConvertible {
        let cause: any Error
        var description: String { "room seq not advanced: \(cause)" }
    }

    /// The highest message id, direct or room.
    static func lastMessageID(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT max(coalesce((SELECT max(id) FROM log), 0), coalesce((SELECT max(id) FROM room_log), 0))") ?? 0
    }

    /// A room's id and last seq, by name (once per room message, and per room in a run of cursor moves).
    private static func requireRoom(_ name: String, _ db: Database) throws -> (id: Int64, lastSeq: Int64) {
        let lookup = try BoundInsert("SELECT id, last_seq FROM rooms WHERE name = ?", db)
        guard let (id, last) = try lookup.twoIntegers(binding: name, at: 1, db) else {
            throw StoreError.constraint("no room named \(name)")
        }
        return (id, last)
    }

    // MARK: Reads

    static func roomLog(_ query: RoomLogQuery, _ db: Database) throws -> [RoomMessage] {
        let limit = query.effectiveLimit
        guard limit > 0, let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id FROM rooms WHERE name = ?"),
                                                    arguments: [query.room]) else { return [] }
        let room: Int64 = row[0]
        let select = "SELECT l.id, l.seq, a.name, l.body, l.sent_at FROM room_log l JOIN accounts a ON a.id = l.sender"
        func fetch(_ sql: String, _ arguments: StatementArguments) throws -> [RoomMessage] {
            try Row.fetchAll(db.cachedStatement(sql: "\(select) \(sql)"), arguments: arguments).map {
                RoomMessage(id: $0[0], room: query.room, seq: $0[1], from: $0[2], text: $0[3], at: $0[4])
            }
        }
        switch query.range {
        case .after(let seq):
            return try fetch("WHERE l.room = ? AND l.seq > ? ORDER BY l.seq LIMIT ?", [room, seq, limit])
        case .latestAfter(let seq):
            return try fetch("WHERE l.room = ? AND l.seq > ? ORDER BY l.seq DESC LIMIT ?", [room, seq, limit]).reversed()
        case .before(nil):
            return try fetch("WHERE l.room = ? ORDER BY l.seq DESC LIMIT ?", [room, limit])
        case .before(let id?):
            // Within a room ids grow with seqs: the page before a message of the room is the range below its seq,
            // found through the id index. An id from elsewhere falls back to filtering the room's range.
            if let seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM room_log WHERE id = ? AND room = ?"),
                                            arguments: [id, room]) {
                return try fetch("WHERE l.room = ? AND l.seq < ? ORDER BY l.seq DESC LIMIT ?", [room, seq, limit])
            }
            return try fetch("WHERE l.room = ? AND l.id < ? ORDER BY l.seq DESC LIMIT ?", [room, id, limit])
        }
    }

    static func room(named name: String, _ db: Database) throws -> RoomRecord? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT r.id, r.name, a.name, r.created_at, r.last_seq FROM rooms r LEFT JOIN accounts a ON a.id = r.owner WHERE r.name = ?
            """), arguments: [name]) else { return nil }
        return try roomRecord(row, db)
    }

    static func roomCursors(of user: String, _ db: Database) throws -> [String: Int64] {
        var cursors: [String: Int64] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT r.name, c.acked FROM cursors c JOIN rooms r ON r.id = c.stream JOIN accounts a ON a.id = c.user
            WHERE a.name = ? AND c.stream > 0
            """), arguments: [user]) {
            cursors[row[0]] = row[1]
        }
        return cursors
    }

    /// Every room with its members and bans, and every member's room cursors.
    static func roomsSnapshot(_ db: Database) throws -> ([RoomRecord], [String: [String: Int64]]) {
        let rooms = try Row.fetchAll(db, sql: """
            SELECT r.id, r.name, a.name, r.created_at, r.last_seq FROM rooms r LEFT JOIN accounts a ON a.id = r.owner ORDER BY r.name
            """).map { try roomRecord($0, db) }
        var cursors: [String: [String: Int64]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT a.name, r.name, c.acked FROM cursors c JOIN rooms r ON r.id = c.stream JOIN accounts a ON a.id = c.user
            WHERE c.stream > 0
            """) {
            cursors[row[0], default: [:]][row[1]] = row[2]
        }
        return (rooms, cursors)
    }

    private static func roomRecord(_ row: Row, _ db: Database) throws -> RoomRecord {
        let id: Int64 = row[0]
        let members = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT a.name, m.joined_at FROM room_members m JOIN accounts a ON a.id = m.user WHERE m.room = ? ORDER BY m.joined_at, a.name
            """), arguments: [id]).map { RoomMember(user: $0[0], joinedAt: $0[1]) }
        let banned = try String.fetchAll(db.cachedStatement(sql: """
            SELECT a.name FROM room_bans b JOIN accounts a ON a.id = b.user WHERE b.room = ?
            """), arguments: [id])
        return RoomRecord(name: row[1], owner: row[2], createdAt: row[3], lastSeq: row[4], members: members, banned: Set(banned))
    }
}
