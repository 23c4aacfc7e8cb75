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
                store.append(sampleMessage(id, "ann", "bob", "t\(thread)")) { result in
                    if case .failure = result { failures.append(Int(id)) }
                    all.fulfill()
                }
            }
        }
        XCTAssertEqual(store.queueDepth, 1_000)
        gate.signal()
        wait(for: [all], timeout: 60)

        XCTAssertEqual(failures.values, [])
        let inbox = try store.inboxAndWait("bob")
        XCTAssertEqual(inbox.map(\.seq), Array(1...1_000), "gap-free, in commit order")
        XCTAssertEqual(Set(inbox.map(\.id)).count, 1_000)
        let transactions = store.commitCount - commitsBefore
        XCTAssertLessThanOrEqual(transactions, 3, "1 for the gate call, then the 1,000 queued calls in one batch")
    }

    /// Commit spacing: a message after a quiet moment is committed at once; the calls that arrive within the
    /// spacing after a commit started wait for its end and then share one commit.
    func testCallsWithinTheSpacingShareOneCommitAndALoneOneWaitsForNothing() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, commitSpacing: .seconds(2))
        defer { store.close() }
        let start = Date()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.5, "the first commit waits for no spacing")
        let commitsBefore = store.commitCount
        let all = expectation(description: "all calls complete")
        all.expectedFulfillmentCount = 50
        for id in 1...50 {
            store.append(sampleMessage(Int64(id), "ann", "bob", "m\(id)")) { result in
                if case .success = result { all.fulfill() }
            }
        }
        wait(for: [all], timeout: 30)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 1.9, "they waited for the spacing")
        XCTAssertEqual(store.commitCount - commitsBefore, 1, "the 50 calls in one commit")
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.seq), Array(1...50))
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
                store.append(sampleMessage(id, "bob", "ann", "x")) { result in
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
        XCTAssertEqual(outcomes, ["ok", "failed", "failed", "ok", "ok"])
        XCTAssertEqual(store.commitCount - commitsBefore, 1, "one batch for all three (the gate call counted before)")
        try checkAfterGoodBadGood(store)
    }

    func testBadCallFailsAloneInItsBatchInMemory() throws {
        let store = MemoryStore()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let commitsBefore = store.commitCount
        let outcomes = try submitGoodBadGood(store) { store.runPending() }
        XCTAssertEqual(outcomes, ["ok", "failed", "failed", "ok", "ok"])
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
        store.append(sampleMessage(1, "ann", "bob", "a")) { result in
            log.append((try? result.get()) == nil ? 0 : 1)
        }
        store.perform([.recordSeen(user: "ann", at: 5)]) { result in log.append((try? result.get()) == nil ? 0 : 1) }
        store.inbox(InboxQuery(user: "bob", after: 0, limit: 10)) { result in log.append((try? result.get()) == nil ? 0 : 1) }
        store.runPending()
        XCTAssertEqual(log.values, [0, 0, 0])
        XCTAssertEqual(try store.inboxAndWait("bob"), [])
        XCTAssertEqual(try store.loadSnapshot().lastSeen, [:])
        XCTAssertEqual(try store.appendAll([sampleMessage(1, "ann", "bob", "a")]).map(\.seq), [1], "the failed batch took no seq")
    }

    func testMemoryStoreQueuesUntilRunAndBatchesEverything() throws {
        let store = MemoryStore()
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let before = store.commitCount
        let log = CompletionLog()
        for id in Int64(1)...10 {
            store.append(sampleMessage(id, "ann", "bob", "x")) { _ in
                log.append(Int(id))
                // Work queued by a completion runs in the same runPending call, as a later batch.
                if id == 10 {
                    store.inbox(InboxQuery(user: "bob", after: 0, limit: 100)) { result in
                        log.append((try? result.get().count) ?? -1)
                    }
                }
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

    /// Submits good, a bad append (duplicate id), a bad call (its second write breaks a rule, so its first, a new
    /// account and a cursor, must roll back too), then two good appends; then `release`.
    private func submitGoodBadGood(_ store: any ChatStore, release: () -> Void) throws -> [String] {
        let appends = (0..<4).map { _ in AsyncResult<Result<StoredMessage, any Error>>() }
        let bad = AsyncResult<Result<Void, any Error>>()
        store.append(sampleMessage(1, "ann", "bob", "good 1")) { appends[0].set($0) }
        store.append(sampleMessage(1, "ann", "bob", "same id")) { appends[1].set($0) }
        store.perform([.createAccount(sampleAccount("cy")), .advanceCursor(user: "bob", to: 1),
                       .createAccount(sampleAccount("ann"))]) { bad.set($0) }
        store.append(sampleMessage(3, "bob", "ann", "good 2")) { appends[2].set($0) }
        store.append(sampleMessage(4, "ann", "bob", "good 3")) { appends[3].set($0) }
        release()
        func outcome<T>(_ result: Result<T, any Error>) -> String {
            if case .success = result { return "ok" }
            return "failed"
        }
        return [outcome(try appends[0].wait()), outcome(try appends[1].wait()), outcome(try bad.wait()),
                outcome(try appends[2].wait()), outcome(try appends[3].wait())]
    }

    private func checkAfterGoodBadGood(_ store: any ChatStore) throws {
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.id), [1, 4])
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.seq), [1, 2], "the failed append took no seq")
        XCTAssertEqual(try store.inboxAndWait("ann").map(\.id), [3])
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.accounts.map(\.name), ["ann", "bob"], "cy rolled back with its failed call")
        XCTAssertEqual(snapshot.inboxes["bob"], InboxHead(last: 2, acked: 0), "the cursor rolled back too")
        try store.performAndWait([.createAccount(sampleAccount("cy"))])
        XCTAssertEqual(try store.appendAll([sampleMessage(2, "ann", "cy", "retry"), sampleMessage(5, "cy", "bob", "hi")]).map(\.seq),
                       [1, 3], "the store is still usable")
        XCTAssertEqual(try store.inboxAndWait("cy").map(\.text), ["retry"])
    }
}
