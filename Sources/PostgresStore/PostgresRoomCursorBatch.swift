import ChatCore

/// Many room cursor moves in one statement (PostgresStore.advanceRoomCursors): users, rooms and seqs as three
/// arrays, one move per user and room. The hub flushes every room cursor that moved since its last sweep in one
/// write, and a live message in a large room moves one cursor per member: a statement per move cost a round
/// trip each. Moves a cursor only forward and never past its room's last seq (a first move creates the row, at
/// 0 for a seq below it, as a single move does); returns a row for each move it refuses (no such account or
/// room, or a seq beyond the room), so the caller can roll the whole flush back.
enum PostgresRoomCursorBatch {
    static let statement = PGStatement(name: "advance_room_cursors", sql: """
        WITH input AS (
            SELECT c.name, c.room_name, c.seq, (SELECT id FROM accounts WHERE name = c.name) AS user_id,
                   r.id AS room, r.last_seq
            FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(name, room_name, seq)
            LEFT JOIN rooms r ON r.name = c.room_name),
        moved AS (
            INSERT INTO room_cursors (user_id, room, acked)
            SELECT user_id, room, greatest(seq, 0) FROM input
            WHERE user_id IS NOT NULL AND room IS NOT NULL AND seq <= last_seq ORDER BY user_id, room
            ON CONFLICT (user_id, room) DO UPDATE SET acked = greatest(room_cursors.acked, excluded.acked))
        SELECT name, room_name, seq, user_id IS NULL AS unknown_user, room IS NULL AS unknown_room,
               coalesce(last_seq, 0) AS last
        FROM input WHERE user_id IS NULL OR room IS NULL OR seq > last_seq
        ORDER BY room IS NOT NULL, name, room_name
        """)

    /// One move per user and room.
    static func parameters(_ moves: [(user: String, room: String, seq: Int64)]) -> [PGValue?] {
        [.string(PostgresAppendBatch.textArray(moves.map(\.user))),
         .string(PostgresAppendBatch.textArray(moves.map(\.room))),
         .string(PostgresAppendBatch.integerArray(moves.map(\.seq)))]
    }

    /// The refusal of the first move the statement refused, if any: the same words as a single move's.
    static func refusal(_ result: PGResult) -> StoreError? {
        guard result.rowCount > 0 else { return nil }
        let (user, room) = (result.string(0, 0), result.string(0, 1))
        if result.string(0, 4) == "t" { return .constraint("no room named \(room)") }
        if result.string(0, 3) == "t" { return .constraint("no account named \(user)") }
        return .constraint("cursor \(result.int(0, 2)) beyond #\(room) (last \(result.int(0, 5)))")
    }
}
