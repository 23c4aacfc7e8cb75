import Dispatch
import Foundation
import GRDB
import XCTest
@testable import ChatCore

/// The store benchmark (docs/PERFORMANCE.md, "The store"): not a timed test, skipped unless
/// `PARLEY_STORE_BENCH=1`. Run it on a release build:
///
///     PARLEY_STORE_BENCH=1 swift test -c release --disable-swift-testing --filter StoreBenchmarkTests
///
/// It fills a small and a 10-million-message version 3 store (and a version 2 store of the old schema, for the
/// write path before), then prints: inbox and history page times (median of 100, on the writer connection),
/// bytes per message on disk, and for group commits of 100 and 1000 appends the writer thread's CPU and the WAL
/// bytes per message (automatic checkpoints off during the run, so the WAL file holds every frame written).
/// `PARLEY_STORE_BENCH_USERS` (2000), `PARLEY_STORE_BENCH_MESSAGES` (10 000 000) and
/// `PARLEY_STORE_BENCH_V2_MESSAGES` (1 000 000) change the sizes.
final class StoreBenchmarkTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["PARLEY_STORE_BENCH"] == "1",
                          "the store benchmark runs with PARLEY_STORE_BENCH=1")
    }

    func testStoreBenchmark() throws {
        let users = StoreBench.setting("PARLEY_STORE_BENCH_USERS", 2_000)
        let big = StoreBench.setting("PARLEY_STORE_BENCH_MESSAGES", 10_000_000)
        let compared = StoreBench.setting("PARLEY_STORE_BENCH_V2_MESSAGES", 1_000_000)
        try measureVersion2(users: users, messages: compared)
        try measureVersion3(users: users, messages: compared, reads: false)
        try measureVersion3(users: users, messages: users * 60, reads: true)
        try measureVersion3(users: users, messages: big, reads: true)
    }

    // MARK: - Version 3

    private func measureVersion3(users: Int, messages: Int, reads: Bool) throws {
        let dir = try TestDirectory()
        let label = "v3 \(messages) messages, \(users) users"
        var start = StoreBench.wallMicros()
        try StoreBench.fillVersion3(dir.url, users: users, messages: messages)
        let path = StoreBench.databasePath(dir.url)
        print(String(format: "BENCH %@: filled in %.1f s, %.1f bytes per message on disk", label,
                     (StoreBench.wallMicros() - start) / 1e6, Double(StoreBench.fileSize(path)) / Double(messages)))
        start = StoreBench.wallMicros()
        var store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        print(String(format: "BENCH %@: open (account ids, inbox heads) %.1f ms", label, (StoreBench.wallMicros() - start) / 1e3))
        if reads { try measureReads(store, users: users, messages: messages, label: label) }
        var nextID = Int64(messages) + 1_000
        for batch in [100, 1_000] {
            // One index batch's worth (a little more), and the run it starts, so the sorted indexing is in the
            // figure at its steady-state share.
            let rounds = (SQLiteStore.defaultIndexBatch + batch - 1) / batch
            let (writer, process, wal) = try appendRounds(store, path: path, users: users, batch: batch, rounds: rounds,
                                                          untilIndexed: true, nextID: &nextID)
            print(String(format: "BENCH %@: group commits of %d appends: writer %.2f µs CPU per message (process %.2f), "
                         + "WAL %.0f bytes (%.3f pages) per message", label, batch, writer, process, wal, wal / 4_120))
        }
        store.close()
        // The append path alone: no indexing run during the rounds (they are timed below).
        store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 1 << 30)
        defer { store.close() }
        try store.indexNow()
        for batch in [100, 1_000] {
            let (writer, process, wal) = try appendRounds(store, path: path, users: users, batch: batch,
                                                          rounds: batch == 100 ? 100 : 10, untilIndexed: false, nextID: &nextID)
            print(String(format: "BENCH %@: group commits of %d appends, no indexing: writer %.2f µs CPU per message (process "
                         + "%.2f), WAL %.0f bytes (%.3f pages) per message", label, batch, writer, process, wal, wal / 4_120))
        }
        try store.indexNow()
        // How long an indexing run's steps hold the writer: the store's steps, timed one by one.
        for round in 0..<Int(SQLiteStore.defaultIndexBatch / 1_024) {
            _ = try store.appendAll((0..<1_024).map { n in message(&nextID, users: users, n: round * 1_024 + n) })
        }
        let steps = try store.onWriter { db, ledger in
            let upTo = try StoreSQL.lastLogID(db)
            var run = IndexRun(upTo: upTo, ledger)
            var steps: [Double] = []
            while true {
                let step = run.nextStep(rowBudget: SQLiteStore.defaultIndexStepRows)
                let start = StoreBench.wallMicros()
                try StoreSQL.commitIndexStep(step.users, of: run, finishing: step.last, ledger, db)
                steps.append(StoreBench.wallMicros() - start)
                if step.last { break }
            }
            ledger.indexed(upTo: upTo)
            return steps.sorted()
        }
        print(String(format: "BENCH %@: indexing %d messages: %d steps of about %d index rows, %.1f ms in all, a step %.1f ms "
                     + "(median), %.1f ms (longest)", label, SQLiteStore.defaultIndexBatch, steps.count,
                     SQLiteStore.defaultIndexStepRows, steps.reduce(0, +) / 1e3, steps[steps.count / 2] / 1e3,
                     steps.last! / 1e3))
    }

    /// Inbox and history pages straight on the writer connection (what a read job costs the writer), for 100
    /// different users; then a conversation of 300 messages read 100 times.
    private func measureReads(_ store: SQLiteStore, users: Int, messages: Int, label: String) throws {
        let probes = (0..<100).map { 1 + $0 * (users / 100) }
        let middle = Int64(messages / 2)
        try store.onWriter { db, ledger in
            var rows = 0
            let inbox = try StoreBench.median { k in
                let user = StoreBench.name(probes[k])
                let last = ledger.last(of: ledger.id(of: user)!)
                rows += try StoreSQL.inbox(InboxQuery(user: user, after: max(0, last - 100), limit: 50), ledger, db).count
            }
            print(String(format: "BENCH %@: inbox page (50 after a cursor) %.1f µs, %.1f rows", label, inbox, Double(rows) / 100))
            for (name, before) in [("newest", nil), ("older, before the middle id", middle)] as [(String, Int64?)] {
                rows = 0
                let any = try StoreBench.median { k in
                    rows += try StoreSQL.history(HistoryQuery(owner: StoreBench.name(probes[k]), before: before, limit: 50), ledger, db).count
                }
                let anyRows = Double(rows) / 100
                rows = 0
                let pair = try StoreBench.median { k in
                    let partner = StoreBench.partner(of: probes[k], pick: 0, users: users)
                    rows += try StoreSQL.history(HistoryQuery(owner: StoreBench.name(probes[k]), with: StoreBench.name(partner),
                                                              before: before, limit: 50), ledger, db).count
                }
                print(String(format: "BENCH %@: history page, %@: with anyone %.1f µs (%.1f rows), pair %.1f µs (%.1f rows)",
                             label, name, any, anyRows, pair, Double(rows) / 100))
            }
        }
        // One busy conversation, so the pair page is full in the small store too.
        var nextID = Int64(messages) + 1
        let (a, b) = (StoreBench.name(1), StoreBench.name(2))
        _ = try store.appendAll((0..<300).map { n in
            defer { nextID += 1 }
            return StoredMessage(id: nextID, from: n % 2 == 0 ? a : b, to: n % 2 == 0 ? b : a, text: StoreBench.text(n), at: 1)
        })
        try store.indexNow()
        try store.onWriter { db, ledger in
            let pair = try StoreBench.median { _ in _ = try StoreSQL.history(HistoryQuery(owner: a, with: b, limit: 50), ledger, db) }
            let deep = try StoreBench.median { _ in
                _ = try StoreSQL.history(HistoryQuery(owner: a, with: b, before: nextID - 150, limit: 50), ledger, db)
            }
            print(String(format: "BENCH %@: a 300-message conversation: newest page %.1f µs, a page in the middle %.1f µs",
                         label, pair, deep))
        }
    }

    /// `rounds` group commits of `batch` appends each: the writer is held while a batch queues, then commits it
    /// in one transaction. Returns the writer thread's and the whole process's CPU µs per message, and the WAL
    /// bytes written per message.
    private func appendRounds(_ store: SQLiteStore, path: String, users: Int, batch: Int, rounds: Int, untilIndexed: Bool,
                              nextID: inout Int64) throws -> (Double, Double, Double) {
        let wal = path + "-wal"
        try store.onWriter { db, _ in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        let clock = WriterClock()
        let failures = CompletionLog()
        let held = DispatchSemaphore(value: 0)
        var gate = DispatchSemaphore(value: 0)
        let first = gate
        store.perform([]) { _ in clock.stamp(); held.signal(); first.wait() }
        held.wait()
        let processStart = processCPUMicros()
        for round in 0..<rounds {
            for n in 0..<batch {
                store.append(message(&nextID, users: users, n: round * batch + n)) { result in
                    if case .failure = result { failures.append(1) }
                }
            }
            let next = DispatchSemaphore(value: 0)
            store.perform([]) { _ in held.signal(); next.wait() }
            gate.signal()
            gate = next
            held.wait()
        }
        gate.signal()
        // Each call is a turn of the writer, and each turn a step of the run the last batches started.
        while untilIndexed && store.unindexedCount > 0 {}
        store.perform([]) { _ in clock.stamp(); held.signal() }
        held.wait()
        let process = processCPUMicros() - processStart
        XCTAssertEqual(failures.values, [])
        let walBytes = Double(StoreBench.fileSize(wal))
        try store.onWriter { db, _ in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 1000")
            _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
        let count = Double(batch * rounds)
        return (clock.elapsed / count, process / count, walBytes / count)
    }

    private func message(_ nextID: inout Int64, users: Int, n: Int) -> StoredMessage {
        defer { nextID += 1 }
        let recipient = (n &* 7_919 &+ 13) % users + 1
        let sender = StoreBench.partner(of: recipient, pick: n / users, users: users)
        return StoredMessage(id: nextID, from: StoreBench.name(sender), to: StoreBench.name(recipient),
                             text: StoreBench.text(n), at: 1_764_660_000_000)
    }

    private func processCPUMicros() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    // MARK: - Version 2 (the write path before)

    /// The old schema and the old insert statement (pending = 0, as for an online recipient), in group commits
    /// on one connection with the old store's settings: no queue or completions around it, so only the
    /// database's share (process CPU, measured around each transaction).
    private func measureVersion2(users: Int, messages: Int) throws {
        let dir = try TestDirectory()
        try StoreBench.fillVersion2(dir.url, users: users, messages: messages)
        let path = StoreBench.databasePath(dir.url)
        let label = "v2 \(messages) messages, \(users) users"
        print(String(format: "BENCH %@: %.1f bytes per message on disk", label, Double(StoreBench.fileSize(path)) / Double(messages)))
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA cache_size = -\(SQLiteStore.writerCacheKiB); PRAGMA wal_autocheckpoint = 0")
        }
        var nextID = Int64(messages) + 1_000
        for (batch, rounds) in [(100, 328), (1_000, 34)] {
            try queue.writeWithoutTransaction { db in _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            var cpu = 0.0
            for round in 0..<rounds {
                let messages = (0..<batch).map { message(&nextID, users: users, n: round * batch + $0) }
                let start = processCPUMicros()
                try queue.write { db in
                    let insert = try db.cachedStatement(sql: "INSERT INTO messages (id, sender, recipient, body, sent_at, pending) VALUES (?, ?, ?, ?, ?, ?)")
                    for m in messages { try insert.execute(arguments: [m.id, m.from, m.to, m.text, m.at, 0]) }
                }
                cpu += processCPUMicros() - start
            }
            let count = Double(batch * rounds)
            let wal = Double(StoreBench.fileSize(path + "-wal")) / count
            print(String(format: "BENCH %@: group commits of %d inserts: process %.2f µs CPU per message (statements and "
                         + "commit), WAL %.0f bytes (%.3f pages) per message", label, batch, cpu / count, wal, wal / 4_120))
        }
    }
}
