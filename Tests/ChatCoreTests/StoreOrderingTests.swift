import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The serial-queue contract: reads see the writes submitted before them and complete after them; history pages.
final class StoreOrderingTests: XCTestCase {
    func testPendingSeesEarlierWritesAndCompletesAfterThemInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkReadsFollowWrites(store)
    }

    func testPendingSeesEarlierWritesAndCompletesAfterThemInMemory() throws {
        try checkReadsFollowWrites(MemoryStore())
    }

    func testHistoryPagingInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkHistoryPaging(store)
    }

    func testHistoryPagingInMemory() throws {
        let store = MemoryStore()
        store.autoRun = true
        try checkHistoryPaging(store)
    }

    /// The same random-ish conversation, queried many ways, gives the same pages from both stores.
    func testBothStoresAnswerHistoryAlike() throws {
        let dir = try TestDirectory()
        let sqlite = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { sqlite.close() }
        let memory = MemoryStore()
        let names = ["ann", "bob", "cy", "dee"]
        var writes: [StoreWrite] = names.map { .createAccount(sampleAccount($0)) }
        for id in Int64(1)...120 {
            let from = names[Int(id * 7 % 4)]
            let to = names[Int((id * 7 + 1 + id % 3) % 4)]
            writes.append(.insertMessage(sampleMessage(id, from, to, "m\(id)"), pending: id % 5 == 0))
        }
        try sqlite.performAndWait(writes)
        try memory.performAndWait(writes)
        for owner in names {
            for with in [nil] + names.map(Optional.some) {
                for before in [nil, 60, 7] as [Int64?] {
                    for limit in [0, 1, 5, 500] {
                        let query = HistoryQuery(owner: owner, with: with, before: before, limit: limit)
                        XCTAssertEqual(try sqlite.historyAndWait(query), try memory.historyAndWait(query), "\(query)")
                    }
                }
            }
            XCTAssertEqual(try sqlite.pendingAndWait(owner), try memory.pendingAndWait(owner))
        }
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
                store.perform([.insertMessage(sampleMessage(Int64(i + 1), "ann", "bob", "x"), pending: true)]) { _ in
                    log.append(i); all.fulfill()
                }
            case 1:
                store.pendingMessages(for: "bob") { _ in log.append(i); all.fulfill() }
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
        store.perform([.insertMessage(sampleMessage(1, "ann", "bob", "hi"), pending: true)]) { result in
            assertSuccess(result)
            log.append(1); wrote1.fulfill()
        }
        store.pendingMessages(for: "bob") { result in
            XCTAssertEqual(try? result.get().map(\.id), [1])
            log.append(2); read1.fulfill()
        }
        store.perform([.insertMessage(sampleMessage(2, "ann", "bob", "again"), pending: true), .markDelivered([1])]) { _ in
            log.append(3); wrote2.fulfill()
        }
        store.pendingMessages(for: "bob") { result in
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
        var writes: [StoreWrite] = ["ann", "bob", "cy"].map { .createAccount(sampleAccount($0)) }
        // ids 1…30: ann↔bob alternate; every third is between bob and cy instead.
        for id in Int64(1)...30 {
            let (from, to) = id % 3 == 0 ? ("bob", "cy") : (id % 2 == 0 ? ("ann", "bob") : ("bob", "ann"))
            writes.append(.insertMessage(sampleMessage(id, from, to, "m\(id)"), pending: false))
        }
        try store.performAndWait(writes)
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
        XCTAssertEqual(first.first, StoredMessage(id: 29, from: "bob", to: "ann", text: "m29", at: 1_029))
    }
}

/// Integers appended from completions on other threads.
final class CompletionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ value: Int) { lock.withLock { items.append(value) } }
    var values: [Int] { lock.withLock { items } }
}
