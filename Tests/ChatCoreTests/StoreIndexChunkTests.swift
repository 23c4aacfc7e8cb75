import Foundation
import GRDB
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The packed index (IndexChunks): its format, where a run's entries are cut into rows, and pages read across
/// many rows per user, compared with the in-memory store, which keeps no index at all.
final class StoreIndexChunkTests: XCTestCase {
    typealias Entry = LogLedger.Entry

    func testEntriesRoundTripThroughTheVarintFormat() throws {
        let entries = [Entry(id: 1, seq: 0, partner: 2), Entry(id: 127, seq: 1, partner: 1),
                       Entry(id: 128, seq: 300, partner: 1 << 20), Entry(id: 1 << 40, seq: 1 << 33, partner: 3)]
        let bytes = IndexChunks.encode(entries[...])
        XCTAssertEqual(try IndexChunks.decode(Data(bytes)), entries)
        XCTAssertEqual(Array(bytes.prefix(3)), [1, 2, 0], "one byte each for small numbers")
        XCTAssertEqual(try IndexChunks.decode(Data()), [])
        XCTAssertEqual(IndexChunks.encode([]), [])
    }

    func testARowThatEndsInsideAnEntryIsRefusedWhole() {
        let bytes = IndexChunks.encode([Entry(id: 5, seq: 1, partner: 2), Entry(id: 900, seq: 2, partner: 2)][...])
        for cut in [bytes.count - 1, bytes.count - 2, 1] {
            XCTAssertThrowsError(try IndexChunks.decode(Data(bytes.prefix(cut)))) { error in
                guard case .damaged = error as? StoreError else { return XCTFail("expected .damaged, got \(error)") }
            }
        }
        // A varint that never ends (every byte has its high bit set).
        XCTAssertThrowsError(try IndexChunks.decode(Data(repeating: 0xff, count: 12)))
    }

    /// Rows are cut after `targetEntries` entries when seqs rise with ids; where they do not, only at a place
    /// with every received seq before it below every one after it, so no two rows' seqs interleave.
    func testRowsAreCutOnlyWhereNoSeqAfterIsBelowOneBefore() {
        let n = IndexChunks.targetEntries
        func cuts(_ entries: [Entry]) -> [Int] { IndexChunks.rows(of: entries).map(\.count) }
        // In order, every other entry sent (seq 0).
        let rising = (1...(2 * n + 10)).map { Entry(id: Int64($0), seq: $0 % 2 == 0 ? Int64($0) : 0, partner: 9) }
        XCTAssertEqual(cuts(rising), [n, n, 10])
        XCTAssertEqual(cuts(Array(rising.prefix(n))), [n], "one row up to the target")
        XCTAssertEqual(cuts([]), [])
        // Seqs 1…n+20 with the first and the last swapped: no cut can separate them, so one row.
        var swapped = (1...(n + 20)).map { Entry(id: Int64($0), seq: Int64($0), partner: 9) }
        swapped[0].seq = Int64(n + 20)
        swapped[n + 19].seq = 1
        XCTAssertEqual(cuts(swapped), [n + 20])
        // Swapped within the first 10 only: the cut after n is still clean.
        var early = (1...(n + 20)).map { Entry(id: Int64($0), seq: Int64($0), partner: 9) }
        early.swapAt(0, 9)
        early[0].id = 1
        early[9].id = 10
        XCTAssertEqual(cuts(early), [n, 20])
        for entries in [rising, swapped, early] {
            let rows = IndexChunks.rows(of: entries)
            XCTAssertEqual(rows.flatMap { Array($0) }, Array(entries.indices), "every entry in exactly one row")
            for (left, right) in zip(rows, rows.dropFirst()) {
                let highest = entries[left].map(\.seq).max() ?? 0
                let lowest = entries[right].filter { $0.seq > 0 }.map(\.seq).min() ?? .max
                XCTAssertLessThan(highest, lowest)
            }
        }
    }

    /// Users with several rows each, runs taken in steps, one run's appends out of id order: every history and
    /// inbox page matches the in-memory store's, before and after a reopen.
    func testPagesAcrossManyRowsAnswerLikeTheMemoryStore() throws {
        let dir = try TestDirectory()
        var sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 600, indexStepRows: 300)
        defer { sqlite.close() }
        let memory = MemoryStore()
        let names = ["ann", "bob", "cy"]
        try sqlite.performAndWait(names.map { .createAccount(sampleAccount($0)) })
        try memory.performAndWait(names.map { .createAccount(sampleAccount($0)) })
        func message(_ id: Int64) -> StoredMessage {
            sampleMessage(id, names[Int(id % 3)], names[Int((id % 3 + 1 + (id / 3) % 2) % 3)], "m\(id)")
        }
        // One batch out of id order (no run starts before all of it is in: the index batch is its size), then
        // batches in order.
        var batches: [[StoredMessage]] = [(1...600).map(message).shuffled()]
        for start in stride(from: Int64(601), to: 2_400, by: 150) { batches.append((start...(start + 149)).map(message)) }
        for batch in batches {
            XCTAssertEqual(try sqlite.appendAll(batch), try memory.appendAll(batch))
        }
        var turns = 0
        while sqlite.unindexedCount >= 600 && turns < 1_000 { turns += 1 }
        let rows = try sqlite.onWriter { db, _ in try Int.fetchOne(db, sql: "SELECT count(*) FROM index_chunks") ?? 0 }
        XCTAssertGreaterThan(rows, 3 * 4, "several rows per user")
        try compare(sqlite, memory, names: names, lastID: 2_549)
        sqlite.close()
        sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 600, indexStepRows: 300)
        try compare(sqlite, memory, names: names, lastID: 2_549)
    }

    /// A version 4 folder (an index row per entry in two tables) is packed when it opens. Entries above the
    /// watermark, which a run cut short had written, are left to the tail rebuilt from the log.
    func testVersion4IndexesArePackedAndAnUnfinishedRunIsLeftToTheTail() throws {
        let dir = try TestDirectory()
        let names = ["ann", "bob", "cy"]
        let messages = (Int64(1)...700).map { id in
            sampleMessage(id, names[Int(id % 3)], names[Int((id % 3 + 1 + (id / 5) % 2) % 3)], "m\(id)")
        }
        let memory = MemoryStore()
        try memory.performAndWait(names.map { .createAccount(sampleAccount($0)) })
        let stored = try memory.appendAll(messages)
        let queue = try DatabaseQueue(path: dir.url.appendingPathComponent(SQLiteStore.fileName).path)
        try StoreSchema.migrator.migrate(queue, upTo: "v4")
        try queue.write { db in
            for (index, name) in names.enumerated() {
                try db.execute(sql: "INSERT INTO accounts (id, name, password_hash, created_at) VALUES (?, ?, ?, 1)",
                               arguments: [index + 1, name, "$" + name])
            }
            let id = { (name: String) in Int64(names.firstIndex(of: name)! + 1) }
            for message in stored {
                let (sender, recipient) = (id(message.from), id(message.to))
                try db.execute(sql: "INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               arguments: [message.id, (min(sender, recipient) << 32) | max(sender, recipient), sender,
                                           recipient, message.seq, message.at, message.text])
            }
            // As version 4 indexed: every entry, though the watermark says only ids up to 650 are done.
            try db.execute(sql: """
                INSERT INTO inbox_index (user, seq, id) SELECT recipient, seq, id FROM log;
                INSERT INTO history_index (user, id, partner)
                    SELECT sender, id, recipient FROM log UNION SELECT recipient, id, sender FROM log;
                UPDATE log_indexed SET upto = 650;
                """)
        }
        try queue.close()
        let sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { sqlite.close() }
        XCTAssertEqual(sqlite.unindexedCount, 50, "the ids above the watermark are in the tail")
        let tables = try sqlite.onWriter { db, _ in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%index%' AND name != 'log_indexed' ORDER BY name")
        }
        XCTAssertEqual(tables, ["index_chunks"])
        XCTAssertEqual(try sqlite.onWriter { db, _ in try Int64.fetchOne(db, sql: "SELECT max(last_id) FROM index_chunks") }, 650)
        try compare(sqlite, memory, names: names, lastID: 700)
        XCTAssertEqual(try sqlite.appendAll([sampleMessage(701, "ann", "bob", "new")]).map(\.seq),
                       try memory.appendAll([sampleMessage(701, "ann", "bob", "new")]).map(\.seq), "seqs go on")
    }

    private func compare(_ sqlite: SQLiteStore, _ memory: MemoryStore, names: [String], lastID: Int64) throws {
        for owner in names {
            for with in [nil] + names.map(Optional.some) {
                for before in [nil, lastID, 1_801, 700, 601, 600, 257, 2] as [Int64?] {
                    for limit in [1, 50, 1_000] {
                        let query = HistoryQuery(owner: owner, with: with, before: before, limit: limit)
                        XCTAssertEqual(try sqlite.historyAndWait(query), try memory.historyAndWait(query), "\(query)")
                    }
                }
            }
            for after in [-1, 0, 1, 100, 199, 200, 201, 450, 800, 10_000] as [Int64] {
                for limit in [1, 50, 1_000] {
                    XCTAssertEqual(try sqlite.inboxAndWait(owner, after: after, limit: limit),
                                   try memory.inboxAndWait(owner, after: after, limit: limit),
                                   "\(owner) after \(after) limit \(limit)")
                }
            }
        }
    }
}
