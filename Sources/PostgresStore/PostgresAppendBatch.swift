import ChatCore

/// Many appends in one statement, the store's hot path: the messages travel as five arrays and PostgreSQL
/// stores them all in one execution. One statement per message cost PostgreSQL about 150 µs of CPU each
/// (parsing the parameters, starting the executor for a three-part plan, the head upsert, the log insert); one
/// execution for a whole batch pays the per-statement part once, and the head row of a recipient who gets
/// several messages in the batch is raised once, by their count.
///
/// What it does, in order:
/// - resolves sender and recipient names to ids; a message naming an account that does not exist drops out
///   (no row comes back for it, and the caller refuses it alone);
/// - raises each recipient's head by the number of their messages in the batch, in recipient-id order, so that
///   two nodes whose batches share recipients lock the shared head rows in the same order and take turns
///   instead of deadlocking; the rows stay locked until the commit (PostgresSchema explains why);
/// - numbers each recipient's messages from their old head on, in batch order, and draws ids from
///   `message_ids` in batch order for messages without a hub-chosen id (`id` 0);
/// - inserts them into the log and returns `(position, id, seq)` per stored message, positions from 1.
enum PostgresAppendBatch {
    /// Messages per statement: the parameters of one stay a few hundred kilobytes at most.
    static let maxMessages = 512

    static let statement = PGStatement(name: "append_batch", sql: """
        WITH input AS (
            SELECT m.position, m.given_id, m.sent_at, m.body,
                   (SELECT id FROM accounts WHERE name = m.sender) AS sender_id,
                   (SELECT id FROM accounts WHERE name = m.recipient) AS recipient_id
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])
                WITH ORDINALITY AS m(given_id, sender, recipient, sent_at, body, position)),
        resolved AS (
            SELECT *, row_number() OVER (PARTITION BY recipient_id ORDER BY position) AS nth,
                   count(*) OVER (PARTITION BY recipient_id) AS count
            FROM input WHERE sender_id IS NOT NULL AND recipient_id IS NOT NULL),
        heads AS (
            INSERT INTO inbox_heads (user_id, last, acked)
            SELECT DISTINCT recipient_id, count, 0 FROM resolved ORDER BY recipient_id
            ON CONFLICT (user_id) DO UPDATE SET last = inbox_heads.last + excluded.last
            RETURNING user_id, last),
        numbered AS (
            SELECT coalesce(nullif(o.given_id, 0), nextval('message_ids')) AS id, o.position, o.sender_id,
                   o.recipient_id, o.seq, o.sent_at, o.body
            FROM (SELECT r.position, r.given_id, r.sender_id, r.recipient_id, h.last - r.count + r.nth AS seq,
                         r.sent_at, r.body
                  FROM resolved r JOIN heads h ON h.user_id = r.recipient_id ORDER BY r.position) o),
        stored AS (
            INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
            SELECT id, (least(sender_id, recipient_id) << 32) | greatest(sender_id, recipient_id),
                   sender_id, recipient_id, seq, sent_at, body
            FROM numbered)
        SELECT position, id, seq FROM numbered ORDER BY position
        """)

    /// The statement's five parameters for `messages`, as PostgreSQL array literals.
    static func parameters(_ messages: ArraySlice<StoredMessage>) -> [PGValue?] {
        [.string(integerArray(messages.lazy.map(\.id))),
         .string(textArray(messages.lazy.map(\.from))),
         .string(textArray(messages.lazy.map(\.to))),
         .string(integerArray(messages.lazy.map(\.at))),
         .string(textArray(messages.lazy.map(\.text)))]
    }

    /// `messages` as stored, in the same order; nil for a message whose sender or recipient has no account.
    static func stored(_ messages: ArraySlice<StoredMessage>, _ result: PGResult) -> [StoredMessage?] {
        var stored = [StoredMessage?](repeating: nil, count: messages.count)
        for row in 0..<result.rowCount {
            let position = Int(result.int(row, 0)) - 1
            guard stored.indices.contains(position) else { continue }
            var message = messages[messages.startIndex + position]
            message.id = result.int(row, 1)
            message.seq = result.int(row, 2)
            stored[position] = message
        }
        return stored
    }

    /// A PostgreSQL array literal of integers: `{1,2,3}`.
    static func integerArray(_ values: some Sequence<Int64>) -> String {
        "{" + values.map(String.init).joined(separator: ",") + "}"
    }

    /// A PostgreSQL array literal of texts, each element quoted, `"` and `\` escaped with a backslash. Built
    /// byte by byte: message bodies are most of a batch's bytes.
    static func textArray(_ values: some Sequence<String>) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        for value in values {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}
