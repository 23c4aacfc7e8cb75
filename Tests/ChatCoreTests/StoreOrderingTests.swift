import Foundation
import GRDB
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The serial-queue contract: reads see the writes submitted before them and complete after them; history pages.
final class StoreOrderingTests: XCTestCase {
    func testInboxSeesEarlierWritesAndCompletesAfterThemInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkReadsFollowWrites(store)
    }

    func testInboxSeesEarlierWritesAndCompletesAfterThemInMemory() throws {
        try checkReadsFollowWrites(MemoryStore())
    }

    func testHistoryPagingInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkHistoryPaging(store)
    }

    /// The same pages when part of the history is in the index tables and part in the unindexed tail.
    func testHistoryPagingAcrossTheIndexInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 4)
        defer { store.close() }
        try checkHistoryPaging(store)
    }

    func testHistoryPagingInMemory() throws {
        let store = MemoryStore()
        store.autoRun = true
        try checkHistoryPaging(store)
    }

    /// The same random-ish conversation, queried many ways, gives the same pages from both stores, whether the
    /// messages sit in the index tables, in the unindexed tail, or across both (an index batch of 7 leaves some
    /// of each, and a run of one user per step leaves runs half done between batches), and again after a
    /// reopen rebuilt the tail from the log.
    func testBothStoresAnswerHistoryAndInboxAlike() throws {
        let dir = try TestDirectory()
        var sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 7, indexStepRows: 1)
        defer { sqlite.close() }
        let memory = MemoryStore()
        let names = ["ann", "bob", "cy", "dee"]
        let accounts: [StoreWrite] = names.map { .createAccount(sampleAccount($0)) }
        try sqlite.performAndWait(accounts)
        try memory.performAndWait(accounts)
        for id in Int64(1)...120 {
            let from = names[Int(id * 7 % 4)]
            let to = names[Int((id * 7 + 1 + id % 3) % 4)]
            // Batches of 1 to 4 appends: some end exactly at an index batch, most do not.
            let message = sampleMessage(id, from, to, "m\(id)")
            if id % 4 == 0 {
                XCTAssertEqual(try sqlite.appendAll([message]), try memory.appendAll([message]))
            } else {
                sqlite.append(message) { assertSuccess($0) }
                memory.append(message) { assertSuccess($0) }
            }
        }
        let last = sampleMessage(121, "dee", "ann", "last")
        XCTAssertEqual(try sqlite.appendAll([last]), try memory.appendAll([last]))
        try compareStores(sqlite, memory, names: names)
        // Fewer than an index batch after everything is indexed, so they are still in the tail at close.
        try sqlite.indexNow()
        let unindexed = (Int64(122)...124).map { sampleMessage($0, names[Int($0 % 4)], names[Int(($0 + 2) % 4)], "m\($0)") }
        XCTAssertEqual(try sqlite.appendAll(unindexed), try memory.appendAll(unindexed))
        XCTAssertGreaterThan(sqlite.unindexedCount, 0, "part of the log is in the tail")
        sqlite.close()
        // A run that a crash cut short: some users' entries written above the watermark, the run not finished.
        let queue = try DatabaseQueue(path: dir.url.appendingPathComponent(SQLiteStore.fileName).path)
        try queue.write { db in
            let after = try Int64.fetchOne(db, sql: "SELECT upto FROM log_indexed") ?? 0
            try StoreSQL.indexLog(after: after, upTo: StoreSQL.lastLogID(db), users: 1...2, db)
        }
        try queue.close()
        sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 7, indexStepRows: 1)
        try compareStores(sqlite, memory, names: names)
        let more = (Int64(125)...140).map { sampleMessage($0, names[Int($0 % 4)], names[Int(($0 + 1) % 4)], "m\($0)") }
        XCTAssertEqual(try sqlite.appendAll(more), try memory.appendAll(more), "the interrupted run starts again")
        try compareStores(sqlite, memory, names: names)
        // Each round trip gives the writer a turn, and each turn one step of the run. How many runs there are
        // depends on how the appends were batched (a run seals the ids appended when it starts), so the tail may
        // end with fewer than an index batch: no run is due then, and everything to 124 is indexed.
        var turns = 0
        while sqlite.unindexedCount >= 7 && turns < 100 { turns += 1 }
        XCTAssertLessThan(sqlite.unindexedCount, 7, "no run left due or under way")
        XCTAssertGreaterThanOrEqual(try sqlite.onWriter { _, ledger in ledger.indexedUpTo }, 124,
                                    "the run started again finished, over the entries written twice")
        try sqlite.indexNow()
        XCTAssertEqual(sqlite.unindexedCount, 0)
        try compareStores(sqlite, memory, names: names)
    }

    private func compareStores(_ sqlite: SQLiteStore, _ memory: MemoryStore, names: [String]) throws {
        for owner in names {
            for with in [nil, "nobody"] + names.map(Optional.some) {
                for before in [nil, 118, 60, 7] as [Int64?] {
                    for limit in [0, 1, 5, 500] {
                        let query = HistoryQuery(owner: owner, with: with, before: before, limit: limit)
                        XCTAssertEqual(try sqlite.historyAndWait(query), try memory.historyAndWait(query), "\(query)")
                    }
                }
            }
            for after in [-1, 0, 3, 20, 29, 30, 1_000] as [Int64] {
                for limit in [0, 1, 4, 100] {
                    XCTAssertEqual(try sqlite.inboxAndWait(owner, after: after, limit: limit),
                                   try memory.inboxAndWait(owner, after: after, limit: limit), "\(owner) after \(after) limit \(limit)")
                }
            }
        }
        let (left, right) = (try sqlite.loadSnapshot(), try memory.loadSnapshot())
        XCTAssertEqual(left.inboxes, right.inboxes)
        XCTAssertEqual(left.lastMessageID, right.lastMessageID)
    }

    func testCompletionsRunInSubmissionOrder() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let log = CompletionLog()
        let all = expectation(description: "all complete")
        all.expectedFulfillmentCount = 300
        for i in 0..<300 {
            switch i % 3 {
            case 0:
                store.append(sampleMessage(Int64(i + 1), "ann", "bob", "x")) { _ in
                    log.append(i); all.fulfill()
                }
            case 1:
                store.inbox(InboxQuery(user: "bob", after: 0, limit: 5)) { _ in log.append(i); all.fulfill() }
            default:
                store.history(HistoryQuery(owner: "ann", limit: 3)) { _ in log.append(i); all.fulfill() }
            }
        }
        wait(for: [all], timeout: 30)
        XCTAssertEqual(log.values, Array(0..<300))
    }

    /// Write, read, write, read submitted back to back: each read sees exactly the writes before it, and each
    /// completion comes after the completions of everything submitted earlier.
    private func checkReadsFollowWrites(_ store: any ChatStore) throws {
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let log = CompletionLog()
        let wrote1 = expectation(description: "first write")
        let read1 = expectation(description: "first read")
        let wrote2 = expectation(description: "second write")
        let read2 = expectation(description: "second read")
        let history = expectation(description: "history")
        store.append(sampleMessage(1, "ann", "bob", "hi")) { result in
            XCTAssertEqual(try? result.get().seq, 1)
            log.append(1); wrote1.fulfill()
        }
        store.inbox(InboxQuery(user: "bob", after: 0, limit: 10)) { result in
            XCTAssertEqual(try? result.get().map(\.id), [1])
            log.append(2); read1.fulfill()
        }
        store.append(sampleMessage(2, "ann", "bob", "again")) { _ in }
        store.perform([.advanceCursor(user: "bob", to: 2)]) { result in
            assertSuccess(result)
            log.append(3); wrote2.fulfill()
        }
        store.inbox(InboxQuery(user: "bob", after: 1, limit: 10)) { result in
            XCTAssertEqual(try? result.get().map(\.id), [2])
            log.append(4); read2.fulfill()
        }
        store.history(HistoryQuery(owner: "bob", with: "ann", limit: 10)) { result in
            XCTAssertEqual(try? result.get().map(\.id), [2, 1])
            log.append(5); history.fulfill()
        }
        (store as? MemoryStore)?.runPending()
        wait(for: [wrote1, read1, wrote2, read2, history], timeout: 20, enforceOrder: true)
        XCTAssertEqual(log.values, [1, 2, 3, 4, 5])
    }

    private func checkHistoryPaging(_ store: any ChatStore) throws {
        try store.performAndWait(["ann", "bob", "cy"].map { .createAccount(sampleAccount($0)) })
        // ids 1…30: ann↔bob alternate; every third is between bob and cy instead.
        let messages = (Int64(1)...30).map { id in
            let (from, to) = id % 3 == 0 ? ("bob", "cy") : (id % 2 == 0 ? ("ann", "bob") : ("bob", "ann"))
            return sampleMessage(id, from, to, "m\(id)")
        }
        _ = try store.appendAll(messages)
        let annAndBob = (1...30).filter { $0 % 3 != 0 }.reversed().map(Int64.init)

        let first = try store.historyAndWait(HistoryQuery(owner: "ann", with: "bob", limit: 5))
        XCTAssertEqual(first.map(\.id), Array(annAndBob.prefix(5)), "newest first")
        let second = try store.historyAndWait(HistoryQuery(owner: "ann", with: "bob", before: first.last?.id, limit: 5))
        XCTAssertEqual(second.map(\.id), Array(annAndBob.dropFirst(5).prefix(5)), "the next page starts below the last id")
        let rest = try store.historyAndWait(HistoryQuery(owner: "ann", with: "bob", before: second.last?.id, limit: 100))
        XCTAssertEqual(rest.map(\.id), Array(annAndBob.dropFirst(10)))
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", with: "bob", before: 1, limit: 5)), [])

        let annWithAnyone = try store.historyAndWait(HistoryQuery(owner: "ann", limit: 100))
        XCTAssertEqual(annWithAnyone.map(\.id), annAndBob, "bob↔cy is not ann's business")
        XCTAssertTrue(annWithAnyone.allSatisfy { $0.from == "ann" || $0.to == "ann" })
        let cy = try store.historyAndWait(HistoryQuery(owner: "cy", with: "ann", limit: 100))
        XCTAssertEqual(cy, [], "cy never spoke with ann")
        let bob = try store.historyAndWait(HistoryQuery(owner: "bob", limit: 4))
        XCTAssertEqual(bob.map(\.id), [30, 29, 28, 27], "both directions and both partners")
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "bob", limit: 0)), [])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "bob", limit: -3)), [])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "nobody", limit: 10)), [])
        XCTAssertEqual(first.first, StoredMessage(id: 29, seq: 10, from: "bob", to: "ann", text: "m29", at: 1_029))
    }
}

/// Integers appended from completions on other threads.
final class CompletionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ value: Int) { lock.withLock { items.append(value) } }
    var values: [Int] { lock.withLock { items } }
}
