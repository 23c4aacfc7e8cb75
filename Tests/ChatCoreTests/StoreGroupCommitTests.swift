import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Group commit (many calls, few transactions) and error isolation (one bad call fails alone).
final class StoreGroupCommitTests: XCTestCase {
    /// 1,000 calls from 8 threads while the writer is busy: all complete, all are stored, and they share a
    /// handful of transactions. The writer is held by a completion that waits for a gate, which stands in for a
    /// slow fsync and makes the batching deterministic.
    func testConcurrentCallsShareTransactions() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let commitsBefore = store.commitCount

        let gate = DispatchSemaphore(value: 0)
        let held = expectation(description: "writer held")
        store.perform([]) { _ in
            held.fulfill()
            gate.wait()
        }
        wait(for: [held], timeout: 10)

        let all = expectation(description: "all calls complete")
        all.expectedFulfillmentCount = 1_000
        let failures = CompletionLog()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<125 {
                let id = Int64(thread * 125 + i + 1)
                store.perform([.insertMessage(sampleMessage(id, "ann", "bob", "t\(thread)"), pending: true)]) { result in
                    if case .failure = result { failures.append(Int(id)) }
                    all.fulfill()
                }
            }
        }
        XCTAssertEqual(store.queueDepth, 1_000)
        gate.signal()
        wait(for: [all], timeout: 60)

        XCTAssertEqual(failures.values, [])
        XCTAssertEqual(try store.pendingAndWait("bob").count, 1_000)
        let transactions = store.commitCount - commitsBefore
        XCTAssertLessThanOrEqual(transactions, 3, "1 for the gate call, then the 1,000 queued calls in one batch")
    }

    /// Without any holding: still everything completes, and never more transactions than calls.
    func testUnheldConcurrentCallsAllComplete() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let commitsBefore = store.commitCount
        let all = expectation(description: "all calls complete")
        all.expectedFulfillmentCount = 1_000
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<125 {
                let id = Int64(thread * 125 + i + 1)
                store.perform([.insertMessage(sampleMessage(id, "bob", "ann", "x"), pending: false)]) { result in
                    assertSuccess(result)
                    all.fulfill()
                }
            }
        }
        wait(for: [all], timeout: 60)
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", limit: 1_000)).count, 1_000)
        let transactions = store.commitCount - commitsBefore
        XCTAssertGreaterThan(transactions, 0)
        XCTAssertLessThanOrEqual(transactions, 1_000)
    }

    /// A bad call in a batch fails alone (its own writes rolled back), its neighbours commit, the store goes on.
    func testBadCallFailsAloneInItsBatchInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let gate = DispatchSemaphore(value: 0)
        let held = expectation(description: "writer held")
        store.perform([]) { _ in
            held.fulfill()
            gate.wait()
        }
        wait(for: [held], timeout: 10)
        let commitsBefore = store.commitCount
        let outcomes = try submitGoodBadGood(store) { gate.signal() }
        XCTAssertEqual(outcomes, ["ok", "failed", "ok"])
        XCTAssertEqual(store.commitCount - commitsBefore, 1, "one batch for all three (the gate call counted before)")
        try checkAfterGoodBadGood(store)
    }

    func testBadCallFailsAloneInItsBatchInMemory() throws {
        let store = MemoryStore()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let commitsBefore = store.commitCount
        let outcomes = try submitGoodBadGood(store) { store.runPending() }
        XCTAssertEqual(outcomes, ["ok", "failed", "ok"])
        XCTAssertEqual(store.commitCount - commitsBefore, 1)
        try checkAfterGoodBadGood(store)
    }

    /// A failed commit fails every call in the batch and keeps none of its writes; the next batch works.
    func testFailedCommitFailsTheWholeBatchInMemory() throws {
        let store = MemoryStore()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        struct DiskFull: Error {}
        store.failNextBatch(with: DiskFull())
        let log = CompletionLog()
        store.perform([.insertMessage(sampleMessage(1, "ann", "bob", "a"), pending: true)]) { result in
            log.append((try? result.get()) == nil ? 0 : 1)
        }
        store.pendingMessages(for: "bob") { result in log.append((try? result.get()) == nil ? 0 : 1) }
        store.runPending()
        XCTAssertEqual(log.values, [0, 0])
        XCTAssertEqual(try store.pendingAndWait("bob"), [])
        try store.performAndWait([.insertMessage(sampleMessage(1, "ann", "bob", "a"), pending: true)])
        XCTAssertEqual(try store.pendingAndWait("bob").count, 1)
    }

    func testMemoryStoreQueuesUntilRunAndBatchesEverything() throws {
        let store = MemoryStore()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let before = store.commitCount
        let log = CompletionLog()
        for id in Int64(1)...10 {
            store.perform([.insertMessage(sampleMessage(id, "ann", "bob", "x"), pending: true)]) { _ in
                log.append(Int(id))
                // Work queued by a completion runs in the same runPending call, as a later batch.
                if id == 10 { store.pendingMessages(for: "bob") { result in log.append((try? result.get().count) ?? -1) } }
            }
        }
        XCTAssertEqual(store.queuedCount, 10)
        XCTAssertEqual(log.values, [], "nothing runs before runPending")
        store.runPending()
        XCTAssertEqual(log.values, Array(1...10) + [10])
        XCTAssertEqual(store.commitCount - before, 1)
        XCTAssertEqual(store.queuedCount, 0)
    }

    // MARK: - Helpers

    /// Submits good, bad (second write breaks a rule; its first write must roll back too), good; then `release`.
    private func submitGoodBadGood(_ store: any ChatStore, release: () -> Void) throws -> [String] {
        let boxes = (0..<3).map { _ in AsyncResult<Result<Void, any Error>>() }
        store.perform([.insertMessage(sampleMessage(1, "ann", "bob", "good 1"), pending: true)]) { boxes[0].set($0) }
        store.perform([.insertMessage(sampleMessage(2, "ann", "bob", "bad"), pending: true),
                       .createAccount(sampleAccount("ann"))]) { boxes[1].set($0) }
        store.perform([.insertMessage(sampleMessage(3, "bob", "ann", "good 2"), pending: true)]) { boxes[2].set($0) }
        release()
        return try boxes.map { box in
            if case .success = try box.wait() { return "ok" }
            return "failed"
        }
    }

    private func checkAfterGoodBadGood(_ store: any ChatStore) throws {
        XCTAssertEqual(try store.pendingAndWait("bob").map(\.id), [1], "message 2 rolled back with its failed call")
        XCTAssertEqual(try store.pendingAndWait("ann").map(\.id), [3])
        try store.performAndWait([.insertMessage(sampleMessage(2, "ann", "bob", "retry"), pending: true)])
        XCTAssertEqual(try store.pendingAndWait("bob").map(\.id), [1, 2], "the store is still usable")
    }
}
