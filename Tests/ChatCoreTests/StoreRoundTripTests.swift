import Foundation
import Logging
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Every `StoreWrite` read back through the snapshot and the queries, on both stores; reopening; durability.
final class StoreRoundTripTests: XCTestCase {
    func testEveryWriteRoundTripsInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try exerciseEveryWrite(store)
    }

    func testEveryWriteRoundTripsInMemory() throws {
        let store = MemoryStore()
        store.autoRun = true
        try exerciseEveryWrite(store)
    }

    func testSurvivesReopen() throws {
        let dir = try TestDirectory()
        do {
            let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
            try store.performAndWait([
                .createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob")), .createAccount(sampleAccount("cy")),
                .setBlock(blocker: "bob", blocked: "cy", isBlocked: true),
                .insertToken(TokenRecord(digest: "d1", user: "ann", expiresAt: 5_000)),
            ])
            _ = try store.appendAll([sampleMessage(7, "ann", "bob", "while you were out"), sampleMessage(8, "cy", "ann", "seen"),
                                     sampleMessage(9, "cy", "bob", "later")])
            try store.performAndWait([.advanceCursor(user: "ann", to: 1), .recordSeen(user: "cy", at: 4_000)])
            store.close()
        }
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.accounts.map(\.name), ["ann", "bob", "cy"])
        XCTAssertEqual(snapshot.blocks, ["bob": ["cy"]])
        XCTAssertEqual(snapshot.tokens, [TokenRecord(digest: "d1", user: "ann", expiresAt: 5_000)])
        XCTAssertEqual(snapshot.lastMessageID, 9)
        XCTAssertEqual(snapshot.inboxes, ["bob": InboxHead(last: 2, acked: 0), "ann": InboxHead(last: 1, acked: 1)])
        XCTAssertEqual(snapshot.lastSeen, ["cy": 4_000])
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.text), ["while you were out", "later"])
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.seq), [1, 2])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", limit: 10)).map(\.id), [8, 7])
        XCTAssertEqual(try store.appendAll([sampleMessage(10, "ann", "bob", "more")]).map(\.seq), [3],
                       "the inbox head is restored at open")
    }

    /// docs/ARCHITECTURE.md §5: GRDB's pool turns the writer down to NORMAL; the store must turn it back to FULL.
    func testWriterSynchronousIsFull() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        XCTAssertEqual(try store.writerSynchronousLevel(), 2)
        try store.performAndWait([.createAccount(sampleAccount("ann"))])
        XCTAssertEqual(try store.writerSynchronousLevel(), 2, "still FULL after the writer thread committed")
        XCTAssertEqual(try store.journalMode(), "wal")
    }

    /// Indexing steps commit without an fsync; the group commits after them are FULL again.
    func testWriterSynchronousIsFullAfterIndexing() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 2, indexStepRows: 1)
        defer { store.close() }
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        _ = try store.appendAll([sampleMessage(1, "ann", "bob", "a"), sampleMessage(2, "bob", "ann", "b")])
        var turns = 0
        while store.unindexedCount > 0 && turns < 100 { turns += 1 }
        XCTAssertEqual(store.unindexedCount, 0)
        XCTAssertEqual(try store.writerSynchronousLevel(), 2)
    }

    func testCreatesTheDataDirectory() throws {
        let dir = try TestDirectory()
        let nested = dir.url.appendingPathComponent("a/b", isDirectory: true)
        let store = try SQLiteStore(path: nested.path, logger: storeTestLogger)
        store.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: nested.appendingPathComponent(SQLiteStore.fileName).path))
    }

    func testCallsAfterCloseFailOffTheCallerThread() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        store.close()
        store.close()  // idempotent
        let failed = expectation(description: "perform fails")
        let caller = pthread_self()
        store.perform([.createAccount(sampleAccount("ann"))]) { result in
            XCTAssertEqual(pthread_equal(caller, pthread_self()), 0, "completion ran on the caller's thread")
            if case .failure(let error) = result { XCTAssertEqual(error as? StoreError, .closed) } else { XCTFail("accepted after close") }
            failed.fulfill()
        }
        wait(for: [failed], timeout: 10)
        XCTAssertThrowsError(try store.loadSnapshot())
    }

    func testCloseRunsWorkQueuedBeforeIt() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        let done = expectation(description: "queued write completes")
        store.perform([.createAccount(sampleAccount("ann"))]) { result in
            assertSuccess(result)
            done.fulfill()
        }
        store.close()
        wait(for: [done], timeout: 10)
        let reopened = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { reopened.close() }
        XCTAssertEqual(try reopened.loadSnapshot().accounts.map(\.name), ["ann"])
    }

    /// The shared scenario: each write, then what the store says afterwards.
    private func exerciseEveryWrite(_ store: any ChatStore, file: StaticString = #filePath, line: UInt = #line) throws {
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        try store.performAndWait([.setPasswordHash(user: "ann", hash: "$new")])
        var snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.accounts, [AccountRecord(name: "ann", passwordHash: "$new", createdAt: 1),
                                           AccountRecord(name: "bob", passwordHash: "$bob", createdAt: 1)], file: file, line: line)
        XCTAssertThrowsError(try store.performAndWait([.setPasswordHash(user: "nobody", hash: "x")]), file: file, line: line)
        XCTAssertThrowsError(try store.performAndWait([.createAccount(sampleAccount("ann"))]), "duplicate name", file: file, line: line)

        let first = sampleMessage(1, "ann", "bob", "one")
        let second = sampleMessage(2, "ann", "bob", "two")
        let appended = try store.appendAll([first, second, sampleMessage(3, "bob", "ann", "back")])
        XCTAssertEqual(appended.map(\.seq), [1, 2, 1], "seq per recipient", file: file, line: line)
        XCTAssertEqual(try store.inboxAndWait("bob"), [first.withSeq(1), second.withSeq(2)], file: file, line: line)
        XCTAssertEqual(try store.inboxAndWait("ann"), [sampleMessage(3, "bob", "ann", "back").withSeq(1)], file: file, line: line)
        XCTAssertThrowsError(try store.appendAll([first]), "duplicate id", file: file, line: line)
        XCTAssertThrowsError(try store.appendAll([sampleMessage(9, "ann", "ghost", "x")]), "recipient must exist", file: file, line: line)
        XCTAssertThrowsError(try store.appendAll([sampleMessage(9, "ghost", "ann", "x")]), "sender must exist", file: file, line: line)

        try store.performAndWait([.advanceCursor(user: "bob", to: 2)])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 2), [], file: file, line: line)
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "bob", limit: 10)).map(\.id), [3, 2, 1],
                       "acknowledged messages stay in history", file: file, line: line)
        XCTAssertEqual(try store.loadSnapshot().inboxes, ["bob": InboxHead(last: 2, acked: 2), "ann": InboxHead(last: 1, acked: 0)],
                       file: file, line: line)
        XCTAssertThrowsError(try store.performAndWait([.advanceCursor(user: "ghost", to: 0)]), file: file, line: line)
        try store.performAndWait([.recordSeen(user: "ann", at: 50), .recordSeen(user: "ann", at: 70)])
        XCTAssertEqual(try store.loadSnapshot().lastSeen, ["ann": 70], "only the latest", file: file, line: line)
        XCTAssertThrowsError(try store.performAndWait([.recordSeen(user: "ghost", at: 1)]), file: file, line: line)

        try store.performAndWait([.setBlock(blocker: "ann", blocked: "bob", isBlocked: true),
                                  .setBlock(blocker: "ann", blocked: "bob", isBlocked: true)])
        XCTAssertEqual(try store.loadSnapshot().blocks, ["ann": ["bob"]], file: file, line: line)
        try store.performAndWait([.setBlock(blocker: "ann", blocked: "bob", isBlocked: false),
                                  .setBlock(blocker: "bob", blocked: "ann", isBlocked: false)])
        XCTAssertEqual(try store.loadSnapshot().blocks, [:], file: file, line: line)

        let early = TokenRecord(digest: "aa", user: "ann", expiresAt: 100)
        let late = TokenRecord(digest: "bb", user: "bob", expiresAt: 200)
        let other = TokenRecord(digest: "cc", user: "bob", expiresAt: 300)
        try store.performAndWait([.insertToken(early), .insertToken(late), .insertToken(other)])
        XCTAssertThrowsError(try store.performAndWait([.insertToken(early)]), "duplicate digest", file: file, line: line)
        try store.performAndWait([.deleteToken(digest: "cc"), .deleteToken(digest: "zz")])
        XCTAssertEqual(try store.loadSnapshot().tokens, [early, late], file: file, line: line)
        try store.performAndWait([.deleteExpiredTokens(now: 100)])
        snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.tokens, [late], "expiresAt <= now is expired", file: file, line: line)
        XCTAssertEqual(snapshot.lastMessageID, 3, file: file, line: line)
    }
}

// MARK: - Helpers shared by the Store*, Hasher* and Credentials* tests

let storeTestLogger = Logger(label: "parley.tests.store")

func sampleAccount(_ name: String) -> AccountRecord {
    AccountRecord(name: name, passwordHash: "$" + name, createdAt: 1)
}

func sampleMessage(_ id: Int64, _ from: String, _ to: String, _ text: String) -> StoredMessage {
    StoredMessage(id: id, from: from, to: to, text: text, at: 1_000 + id)
}

extension StoredMessage {
    /// The same message at `seq` in its recipient's inbox.
    func withSeq(_ seq: Int64) -> StoredMessage {
        var copy = self
        copy.seq = seq
        return copy
    }
}

/// A fresh directory under the system temp folder, removed when released.
final class TestDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Waits for one asynchronous result without sleeping: the completion signals a semaphore.
final class AsyncResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var value: T?

    func set(_ value: T) {
        lock.withLock { self.value = value }
        ready.signal()
    }

    /// The value if it has been set, without waiting.
    var current: T? { lock.withLock { value } }

    func wait(seconds: Double = 20) throws -> T {
        guard ready.wait(timeout: .now() + seconds) == .success else { throw TestTimeout() }
        return lock.withLock { value! }
    }
}

struct TestTimeout: Error {}

extension ChatStore {
    /// `perform`, waited for; runs a `MemoryStore`'s queue if it does not run by itself.
    func performAndWait(_ writes: [StoreWrite]) throws {
        let box = AsyncResult<Result<Void, any Error>>()
        perform(writes) { box.set($0) }
        (self as? MemoryStore)?.runPending()
        try box.wait().get()
    }

    /// Appends each message (one call each, submitted back to back), waited for; the stored messages with
    /// their seqs. Throws the first failure.
    func appendAll(_ messages: [StoredMessage]) throws -> [StoredMessage] {
        let boxes = messages.map { _ in AsyncResult<Result<StoredMessage, any Error>>() }
        for (message, box) in zip(messages, boxes) { append(message) { box.set($0) } }
        (self as? MemoryStore)?.runPending()
        return try boxes.map { try $0.wait().get() }
    }

    func inboxAndWait(_ user: String, after: Int64 = 0, limit: Int = 1_000) throws -> [StoredMessage] {
        let box = AsyncResult<Result<[StoredMessage], any Error>>()
        inbox(InboxQuery(user: user, after: after, limit: limit)) { box.set($0) }
        (self as? MemoryStore)?.runPending()
        return try box.wait().get()
    }

    func historyAndWait(_ query: HistoryQuery) throws -> [StoredMessage] {
        let box = AsyncResult<Result<[StoredMessage], any Error>>()
        history(query) { box.set($0) }
        (self as? MemoryStore)?.runPending()
        return try box.wait().get()
    }
}

/// Fails the test with the error when `result` is a failure.
func assertSuccess<T>(_ result: Result<T, any Error>, file: StaticString = #filePath, line: UInt = #line) {
    if case .failure(let error) = result { XCTFail("unexpected failure: \(error)", file: file, line: line) }
}
