import Foundation
import Logging
import XCTest
@testable import ChatCore
import ChatCoreTestSupport

// WIP (drop on merge with store-v3): the store tests helpers, parked while the store tests are rewritten.
let storeTestLogger = Logger(label: "parley.tests.store")

func sampleAccount(_ name: String) -> AccountRecord {
    AccountRecord(name: name, passwordHash: "$" + name, createdAt: 1)
}

func sampleMessage(_ id: Int64, _ from: String, _ to: String, _ text: String) -> StoredMessage {
    StoredMessage(id: id, from: from, to: to, text: text, at: 1_000 + id)
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

    func inboxAndWait(_ user: String, after: Int64 = 0) throws -> [StoredMessage] {
        let box = AsyncResult<Result<[StoredMessage], any Error>>()
        inbox(InboxQuery(user: user, after: after, limit: 10_000)) { box.set($0) }
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
/// Integers appended from completions on other threads.
final class CompletionLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    func append(_ value: Int) { lock.withLock { items.append(value) } }
    var values: [Int] { lock.withLock { items } }
}
