import Foundation
import GRDB

/// The lookups history and the inbox need, packed (StoreSchema, v5, says why): a row of `index_chunks` holds one
/// user's entries of one indexing run — message id, the other side, and the seq the user received it with (0 for
/// a message the user sent) — in id order, as varints, about `targetEntries` a row.
///
/// A user's rows never overlap, in ids nor in received seqs, and both reads rely on it: a history page takes rows
/// by their last id and an inbox page takes rows by their highest seq, and each stops as soon as it is full.
/// - Ids: a run covers the ids above the one before it, and a run's rows split its entries in id order.
/// - Seqs: every entry of a run was appended before any entry of the next (a run seals the ids it covers, and
///   later appends must be above them), so its seqs are lower. Within a run a row ends only where every seq
///   before the cut is below every seq after it. When messages are appended in id order, as the hub appends
///   them, seqs rise with ids and every place qualifies; otherwise a row grows until one does.
enum IndexChunks {
    typealias Entry = LogLedger.Entry

    /// Entries per row: enough that a run writes about one row per user, few enough that a row stays within its
    /// page (about 6 bytes an entry) and a page of history decodes little more than it returns.
    static let targetEntries = 256

    // MARK: Writing

    /// Writes `user`'s entries of a run (in id order) as rows. The user's rows above `indexedUpTo` go first: an
    /// interrupted run wrote them, and this run writes their entries again.
    static func write(user: Int64, entries: [Entry], indexedUpTo: Int64, _ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM index_chunks WHERE user = ? AND last_id > ?")
            .execute(arguments: [user, indexedUpTo])
        guard !entries.isEmpty else { return }
        let insert = try db.cachedStatement(sql: "INSERT INTO index_chunks (user, last_id, max_seq, entries) VALUES (?, ?, ?, ?)")
        for range in rows(of: entries) {
            let chunk = entries[range]
            try insert.execute(arguments: [user, chunk[chunk.endIndex - 1].id, chunk.lazy.map(\.seq).max() ?? 0,
                                           Data(encode(chunk))])
        }
    }

    /// Where `entries` (one user's, in id order) are cut into rows: after at least `targetEntries`, and only where
    /// every received seq before the cut is below every one after it.
    static func rows(of entries: [Entry]) -> [Range<Int>] {
        guard entries.count > targetEntries else { return entries.isEmpty ? [] : [0..<entries.count] }
        // lowestAfter[i]: the lowest received seq at i or later (sent entries, seq 0, constrain nothing).
        var lowestAfter = [Int64](repeating: .max, count: entries.count + 1)
        for i in entries.indices.reversed() {
            let seq = entries[i].seq
            lowestAfter[i] = seq > 0 ? min(seq, lowestAfter[i + 1]) : lowestAfter[i + 1]
        }
        var ranges: [Range<Int>] = []
        var start = 0
        var highestBefore: Int64 = 0
        for i in entries.indices {
            highestBefore = max(highestBefore, entries[i].seq)
            let end = i + 1
            if end - start >= targetEntries && end < entries.count && highestBefore < lowestAfter[end] {
                ranges.append(start..<end)
                start = end
            }
        }
        ranges.append(start..<entries.count)
        return ranges
    }

    // MARK: Reading

    /// `user`'s received messages with seq > `after` in the finished runs (ids ≤ `upTo`), oldest first, at most
    /// `limit`: their ids.
    static func inbox(of user: Int64, after: Int64, upTo: Int64, limit: Int, _ db: Database) throws -> [Int64] {
        guard limit > 0 else { return [] }
        // Sent entries have seq 0, so an `after` below 0 must not let them in.
        let after = max(after, 0)
        let rows = try Data.fetchCursor(db.cachedStatement(sql: """
            SELECT entries FROM index_chunks WHERE user = ? AND max_seq > ? AND last_id <= ? ORDER BY max_seq
            """), arguments: [user, after, upTo])
        var ids: [Int64] = []
        while ids.count < limit, let bytes = try rows.next() {
            var received = try decode(bytes).filter { $0.seq > after }
            if !isInSeqOrder(received) { received.sort { $0.seq < $1.seq } }
            ids += received.prefix(limit - ids.count).lazy.map(\.id)
        }
        return ids
    }

    /// `user`'s messages (with `partner` only, if given) with id < `before` in the finished runs (ids ≤ `upTo`),
    /// newest first, at most `limit`: their ids.
    static func history(of user: Int64, with partner: Int64?, before: Int64, upTo: Int64, limit: Int,
                        _ db: Database) throws -> [Int64] {
        guard limit > 0 else { return [] }
        let below = min(before, upTo + 1)
        var ids: [Int64] = []
        func take(_ bytes: Data) throws {
            for entry in try decode(bytes).reversed()
            where entry.id < below && (partner == nil || entry.partner == partner) {
                ids.append(entry.id)
                if ids.count == limit { return }
            }
        }
        // The one row that may hold ids on both sides of `below`: the first whose last id is not below it.
        if let bytes = try Data.fetchOne(db.cachedStatement(sql: """
            SELECT entries FROM index_chunks WHERE user = ? AND last_id >= ? AND last_id <= ? ORDER BY last_id LIMIT 1
            """), arguments: [user, below, upTo]) {
            try take(bytes)
        }
        let rows = try Data.fetchCursor(db.cachedStatement(sql: """
            SELECT entries FROM index_chunks WHERE user = ? AND last_id < ? ORDER BY last_id DESC
            """), arguments: [user, below])
        while ids.count < limit, let bytes = try rows.next() { try take(bytes) }
        return ids
    }

    /// Each user's highest indexed seq: one seek per account in the rows by seq.
    static func lastSeqs(_ db: Database) throws -> [Int64: Int64] {
        var lasts: [Int64: Int64] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT a.id, (SELECT max(max_seq) FROM index_chunks WHERE user = a.id) FROM accounts a
            """) {
            if let last = row[1] as Int64?, last > 0 { lasts[row[0]] = last }
        }
        return lasts
    }

    // MARK: The format

    /// Per entry three unsigned LEB128 varints: the id's distance from the previous entry's (from 0 for the
    /// first), the partner, the seq.
    static func encode(_ entries: ArraySlice<Entry>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 6)
        var previous: Int64 = 0
        for entry in entries {
            appendVarint(UInt64(bitPattern: entry.id &- previous), to: &bytes)
            appendVarint(UInt64(bitPattern: entry.partner), to: &bytes)
            appendVarint(UInt64(bitPattern: entry.seq), to: &bytes)
            previous = entry.id
        }
        return bytes
    }

    /// The entries of one row; a row that does not decode whole is refused rather than read in part.
    static func decode(_ data: Data) throws -> [Entry] {
        try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var entries: [Entry] = []
            entries.reserveCapacity(bytes.count / 4)
            var offset = 0
            var id: Int64 = 0
            while offset < bytes.count {
                guard let step = readVarint(bytes, &offset), let partner = readVarint(bytes, &offset),
                      let seq = readVarint(bytes, &offset) else {
                    throw StoreError.damaged("an index chunk ends inside an entry (\(bytes.count) bytes)")
                }
                id &+= Int64(bitPattern: step)
                entries.append(Entry(id: id, seq: Int64(bitPattern: seq), partner: Int64(bitPattern: partner)))
            }
            return entries
        }
    }

    private static func isInSeqOrder(_ entries: [Entry]) -> Bool {
        zip(entries, entries.dropFirst()).allSatisfy { $0.seq < $1.seq }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private static func readVarint(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count && shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
