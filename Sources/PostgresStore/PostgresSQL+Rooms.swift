import ChatCore

/// The room statements of `PostgresStore` (schema version 3, PostgresSchema explains the tables). As for
/// direct messages, room and account names are resolved to ids inside each statement; a statement that finds
/// no room or account changes nothing and returns no row (or a count of 0), and the caller says which is missing.
extension PostgresSQL {
    // MARK: - Appends

    /// Raises the room's `last_seq` (the row stays locked until the commit, so appends of other nodes to the
    /// room wait their turn) and stores the message at that seq. `$1 = 0` draws the id from `message_ids`,
    /// like a direct append. No row: the room or the sender is unknown, and nothing changed.
    private static let appendRoom = PGStatement(name: "append_room", sql: """
        WITH sender AS (SELECT id FROM accounts WHERE name = $3),
             head AS (
                UPDATE rooms SET last_seq = last_seq + 1
                WHERE name = $2 AND EXISTS (SELECT 1 FROM sender)
                RETURNING id, last_seq)
        INSERT INTO room_log (room, seq, id, sender, sent_at, body)
        SELECT head.id, head.last_seq, coalesce(nullif($1::bigint, 0), nextval('message_ids')), sender.id, $4, $5
        FROM head, sender
        RETURNING id, seq
        """)

    /// A given id taken by a direct message (`room_log`'s own unique index catches one taken by a room message).
    private static let directMessageID = PGStatement(name: "direct_message_id", sql: "SELECT 1 FROM log WHERE id = $1")

    static func appendRoom(_ message: RoomMessage, _ connection: PGConnection) throws -> RoomMessage {
        if message.id != 0, try connection.execute(directMessageID, [.int(message.id)]).rowCount > 0 {
            throw StoreError.constraint("message \(message.id) exists")
        }
        let result = try connection.execute(appendRoom, [.int(message.id), .string(message.room), .string(message.from),
                                                         .int(message.at), .string(message.text)])
        guard result.rowCount == 1 else {
            throw try missingRoomOrAccount(room: message.room, users: [message.from], connection)
        }
        var stored = message
        stored.id = result.int(0, 0)
        stored.seq = result.int(0, 1)
        return stored
    }

    /// Locks the rows of the rooms named in `$1` in id order (PostgresStore.lockHeads, for the same reason), as
    /// an UPDATE of them would: the key-share locks of members being added (their foreign key) do not wait.
    static let lockRooms = PGStatement(name: "lock_rooms", sql: """
        SELECT 1 FROM rooms WHERE name = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE
        """)

    // MARK: - Room writes

    private static let createRoom = PGStatement(name: "create_room", sql: """
        INSERT INTO rooms (name, created_at) VALUES ($1, $2)
        """)
    /// The room and the account of a write, as ids: no row when either is missing.
    private static let target = "SELECT r.id AS room, a.id AS user_id FROM rooms r, accounts a WHERE r.name = $1 AND a.name = $2"
    /// Joining again keeps the first join time (the owner's successor is the longest-standing member).
    private static let addMember = PGStatement(name: "add_member", sql: """
        WITH target AS (\(target)),
             added AS (INSERT INTO room_members (room, user_id, joined_at) SELECT room, user_id, $3 FROM target
                       ON CONFLICT (room, user_id) DO NOTHING)
        SELECT count(*) FROM target
        """)
    private static let removeMember = PGStatement(name: "remove_member", sql: """
        WITH target AS (\(target)),
             removed AS (DELETE FROM room_members m USING target t WHERE m.room = t.room AND m.user_id = t.user_id)
        SELECT count(*) FROM target
        """)
    private static let ban = PGStatement(name: "ban", sql: """
        WITH target AS (\(target)),
             added AS (INSERT INTO room_bans (room, user_id) SELECT room, user_id FROM target ON CONFLICT DO NOTHING)
        SELECT count(*) FROM target
        """)
    private static let unban = PGStatement(name: "unban", sql: """
        WITH target AS (\(target)),
             removed AS (DELETE FROM room_bans b USING target t WHERE b.room = t.room AND b.user_id = t.user_id)
        SELECT count(*) FROM target
        """)
    private static let setOwner = PGStatement(name: "set_owner", sql: """
        UPDATE rooms SET owner = a.id FROM accounts a WHERE rooms.name = $1 AND a.name = $2 RETURNING 1
        """)
    private static let clearOwner = PGStatement(name: "clear_owner", sql: "UPDATE rooms SET owner = NULL WHERE name = $1 RETURNING 1")
    /// Returns the room's last seq, and moves the cursor only when `$3` is within it (the caller refuses the
    /// rest). A new row starts at `$3`, or at 0 for a seq below it, as a direct cursor's head does.
    private static let advanceRoomCursor = PGStatement(name: "advance_room_cursor", sql: """
        WITH target AS (SELECT r.id AS room, r.last_seq, a.id AS user_id FROM rooms r, accounts a
                        WHERE r.name = $2 AND a.name = $1),
             moved AS (INSERT INTO room_cursors (user_id, room, acked)
                       SELECT user_id, room, greatest($3::bigint, 0) FROM target WHERE $3::bigint <= last_seq
                       ON CONFLICT (user_id, room) DO UPDATE SET acked = greatest(room_cursors.acked, excluded.acked))
        SELECT last_seq FROM target
        """)

    /// The room writes of `apply`.
    static func applyRoom(_ write: StoreWrite, _ connection: PGConnection) throws {
        switch write {
        case .createRoom(let name, let at):
            try connection.execute(createRoom, [.string(name), .int(at)])
        case .setRoomMember(let room, let user, let isMember, let at):
            let found = isMember ? try connection.execute(addMember, [.string(room), .string(user), .int(at)])
                                 : try connection.execute(removeMember, [.string(room), .string(user)])
            guard found.int(0, 0) == 1 else { throw try missingRoomOrAccount(room: room, users: [user], connection) }
        case .setRoomOwner(let room, let owner):
            let updated = if let owner { try connection.execute(setOwner, [.string(room), .string(owner)]) }
                          else { try connection.execute(clearOwner, [.string(room)]) }
            guard updated.rowCount == 1 else {
                throw try missingRoomOrAccount(room: room, users: owner.map { [$0] } ?? [], connection)
            }
        case .setRoomBan(let room, let user, let isBanned):
            let found = try connection.execute(isBanned ? ban : unban, [.string(room), .string(user)])
            guard found.int(0, 0) == 1 else { throw try missingRoomOrAccount(room: room, users: [user], connection) }
        case .advanceRoomCursor(let user, let room, let seq):
            let found = try connection.execute(advanceRoomCursor, [.string(user), .string(room), .int(seq)])
            guard found.rowCount == 1 else { throw try missingRoomOrAccount(room: room, users: [user], connection) }
            let last = found.int(0, 0)
            guard seq <= last else { throw StoreError.constraint("cursor \(seq) beyond #\(room) (last \(last))") }
        default:
            preconditionFailure("not a room write: \(write)")
        }
    }

    private static let roomID = PGStatement(name: "room_id", sql: "SELECT id FROM rooms WHERE name = $1")

    /// The refusal of a room write that found nothing: the room if it is missing, else the first missing account.
    private static func missingRoomOrAccount(room: String, users: [String], _ connection: PGConnection) throws -> StoreError {
        guard try connection.execute(roomID, [.string(room)]).rowCount == 1 else { return .constraint("no room named \(room)") }
        return .constraint("no account named \(try missingAccount(users, connection))")
    }

    // MARK: - Reads

    private static let roomColumns = "l.id, l.seq, s.name, l.body, l.sent_at"
    private static let roomLogAfter = PGStatement(name: "room_log_after", sql: """
        SELECT \(roomColumns) FROM room_log l JOIN accounts s ON s.id = l.sender
        WHERE l.room = (SELECT id FROM rooms WHERE name = $1) AND l.seq > $2 ORDER BY l.seq LIMIT $3
        """)
    /// The newest `$3` after `$2`, handed back oldest first.
    private static let roomLogLatestAfter = PGStatement(name: "room_log_latest_after", sql: """
        SELECT \(roomColumns) FROM (
            SELECT * FROM room_log WHERE room = (SELECT id FROM rooms WHERE name = $1) AND seq > $2
            ORDER BY seq DESC LIMIT $3
        ) l JOIN accounts s ON s.id = l.sender
        ORDER BY l.seq
        """)
    private static let roomLogBefore = PGStatement(name: "room_log_before", sql: """
        SELECT \(roomColumns) FROM room_log l JOIN accounts s ON s.id = l.sender
        WHERE l.room = (SELECT id FROM rooms WHERE name = $1) AND l.id < $2 ORDER BY l.id DESC LIMIT $3
        """)

    static func roomLog(_ query: RoomLogQuery, _ connection: PGConnection) throws -> [RoomMessage] {
        let limit = Int64(query.effectiveLimit)
        guard limit > 0 else { return [] }
        let result: PGResult
        switch query.range {
        case .after(let seq):
            result = try connection.execute(roomLogAfter, [.string(query.room), .int(seq), .int(limit)])
        case .latestAfter(let seq):
            result = try connection.execute(roomLogLatestAfter, [.string(query.room), .int(seq), .int(limit)])
        case .before(let id):
            result = try connection.execute(roomLogBefore, [.string(query.room), .int(id ?? Int64.max), .int(limit)])
        }
        return (0..<result.rowCount).map { row in
            RoomMessage(id: result.int(row, 0), room: query.room, seq: result.int(row, 1), from: result.string(row, 2),
                        text: result.string(row, 3), at: result.int(row, 4))
        }
    }

    /// One room in one statement (so in one snapshot of the database, though other nodes keep writing): the
    /// room's row (kind 0, with its owner's name or NULL), then its members (1, longest-standing first, as in
    /// the snapshot) and its bans (2).
    private static let roomByName = PGStatement(name: "room_by_name", sql: """
        WITH r AS (SELECT * FROM rooms WHERE name = $1)
        SELECT 0 AS kind, o.name, r.created_at, r.last_seq FROM r LEFT JOIN accounts o ON o.id = r.owner
        UNION ALL
        SELECT 1, a.name, m.joined_at, 0 FROM r JOIN room_members m ON m.room = r.id JOIN accounts a ON a.id = m.user_id
        UNION ALL
        SELECT 2, a.name, 0, 0 FROM r JOIN room_bans b ON b.room = r.id JOIN accounts a ON a.id = b.user_id
        ORDER BY 1, 3, 2
        """)

    static func room(named name: String, _ connection: PGConnection) throws -> RoomRecord? {
        let result = try connection.execute(roomByName, [.string(name)])
        var room: RoomRecord?
        var members: [RoomMember] = []
        var banned: Set<String> = []
        for row in 0..<result.rowCount {
            switch result.int(row, 0) {
            case 0:
                room = RoomRecord(name: name, owner: result.isNull(row, 1) ? nil : result.string(row, 1),
                                  createdAt: result.int(row, 2), lastSeq: result.int(row, 3))
            case 1: members.append(RoomMember(user: result.string(row, 1), joinedAt: result.int(row, 2)))
            default: banned.insert(result.string(row, 1))
            }
        }
        room?.members = members
        room?.banned = banned
        return room
    }

    private static let roomCursorsOfUser = PGStatement(name: "room_cursors_of_user", sql: """
        SELECT r.name, c.acked FROM room_cursors c JOIN rooms r ON r.id = c.room
        WHERE c.user_id = (SELECT id FROM accounts WHERE name = $1)
        """)

    /// The user's cursor in each room they have one in; empty for an unknown user.
    static func roomCursors(of user: String, _ connection: PGConnection) throws -> [String: Int64] {
        let result = try connection.execute(roomCursorsOfUser, [.string(user)])
        var cursors: [String: Int64] = [:]
        for row in 0..<result.rowCount { cursors[result.string(row, 0)] = result.int(row, 1) }
        return cursors
    }

    // MARK: - Snapshot (own connection, inside the snapshot's transaction)

    /// Every room with its owner, members and bans; and every room cursor, user → room → acked.
    static func roomsSnapshot(_ connection: PGConnection) throws -> (rooms: [RoomRecord], cursors: [String: [String: Int64]]) {
        var rooms: [Int64: RoomRecord] = [:]
        let roomRows = try connection.execute("""
            SELECT r.id, r.name, o.name, r.created_at, r.last_seq FROM rooms r LEFT JOIN accounts o ON o.id = r.owner
            """)
        for row in 0..<roomRows.rowCount {
            rooms[roomRows.int(row, 0)] = RoomRecord(
                name: roomRows.string(row, 1), owner: roomRows.isNull(row, 2) ? nil : roomRows.string(row, 2),
                createdAt: roomRows.int(row, 3), lastSeq: roomRows.int(row, 4))
        }
        let memberRows = try connection.execute("""
            SELECT m.room, a.name, m.joined_at FROM room_members m JOIN accounts a ON a.id = m.user_id
            ORDER BY m.room, m.joined_at, a.name
            """)
        for row in 0..<memberRows.rowCount {
            rooms[memberRows.int(row, 0)]?.members.append(RoomMember(user: memberRows.string(row, 1), joinedAt: memberRows.int(row, 2)))
        }
        let banRows = try connection.execute("SELECT b.room, a.name FROM room_bans b JOIN accounts a ON a.id = b.user_id")
        for row in 0..<banRows.rowCount { rooms[banRows.int(row, 0)]?.banned.insert(banRows.string(row, 1)) }
        var cursors: [String: [String: Int64]] = [:]
        let cursorRows = try connection.execute("""
            SELECT a.name, r.name, c.acked FROM room_cursors c JOIN accounts a ON a.id = c.user_id JOIN rooms r ON r.id = c.room
            """)
        for row in 0..<cursorRows.rowCount {
            cursors[cursorRows.string(row, 0), default: [:]][cursorRows.string(row, 1)] = cursorRows.int(row, 2)
        }
        return (rooms.values.sorted { $0.name < $1.name }, cursors)
    }
}
