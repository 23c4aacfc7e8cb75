import ChatCore

/// Many cursor moves in one statement (PostgresStore.advanceCursors): users and seqs as two arrays. Moves a
/// cursor only forward and never past its inbox's last seq (a user without messages gets an empty head, as
/// a single move gives them); returns a row for each move it refuses (the user has no account, or the seq is
/// beyond the inbox), so the caller can roll the whole flush back.
enum PostgresCursorBatch {
    static let statement = PGStatement(name: "advance_cursors", sql: """
        WITH input AS (
            SELECT c.name, c.seq, (SELECT id FROM accounts WHERE name = c.name) AS user_id
            FROM unnest($1::text[], $2::bigint[]) AS c(name, seq)),
        moved AS (
            UPDATE inbox_heads h SET acked = i.seq FROM input i
            WHERE h.user_id = i.user_id AND i.seq > h.acked AND i.seq <= h.last),
        created AS (
            INSERT INTO inbox_heads (user_id, last, acked)
            SELECT user_id, 0, 0 FROM input WHERE user_id IS NOT NULL AND seq <= 0 ORDER BY user_id
            ON CONFLICT (user_id) DO NOTHING)
        SELECT i.name, i.seq, i.user_id IS NULL AS unknown, coalesce(h.last, 0) AS last
        FROM input i LEFT JOIN inbox_heads h ON h.user_id = i.user_id
        WHERE i.user_id IS NULL OR i.seq > coalesce(h.last, 0)
        ORDER BY i.name
        """)

    /// One move per user.
    static func parameters(_ cursors: [(user: String, seq: Int64)]) -> [PGValue?] {
        [.string(PostgresAppendBatch.textArray(cursors.map(\.user))),
         .string(PostgresAppendBatch.integerArray(cursors.map(\.seq)))]
    }

    /// The refusal of the first move the statement refused, if any: the same words as a single move's.
    static func refusal(_ result: PGResult) -> StoreError? {
        guard result.rowCount > 0 else { return nil }
        let user = result.string(0, 0)
        if result.string(0, 2) == "t" { return .constraint("no account named \(user)") }
        return .constraint("cursor \(result.int(0, 1)) beyond the inbox of \(user) (last \(result.int(0, 3)))")
    }
}
