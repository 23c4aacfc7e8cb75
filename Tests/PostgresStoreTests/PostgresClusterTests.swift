import Foundation
import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// What only a shared database server brings: several stores (nodes) writing at once, opening at once, and the
/// server restarting under a running store.
final class PostgresClusterTests: XCTestCase {
    /// Two stores on one database append to the same recipients from 4 threads each, with ids from the
    /// sequence: every call succeeds, ids are unique, and each recipient's seqs are 1…n without a gap.
    func testTwoStoresAppendingToTheSameRecipientsStayGapFree() throws {
        let database = try PostgresTestDatabase()
        let nodes = [try database.open(), try database.open()]
        defer { nodes.forEach { $0.close() } }
        let names = ["ann", "bob", "cy", "dee"]
        try nodes[0].write(names.map { .createAccount(StoreContract.account($0)) })
        let perThread = 150
        let outcomes = (0..<(2 * 4 * perThread)).map { _ in Outcome<StoredMessage>() }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            let node = nodes[thread % 2]
            for i in 0..<perThread {
                let n = thread * perThread + i
                // Each batch touches several recipients, in different orders on the two nodes.
                let to = names[(n + thread) % 4], from = names[(n + 1) % 4]
                node.append(StoredMessage(id: 0, from: from, to: to, text: "n\(thread % 2) \(n)", at: Int64(n))) {
                    outcomes[n].set($0)
                }
            }
        }
        let stored = try outcomes.map { try $0.wait().get() }
        XCTAssertEqual(Set(stored.map(\.id)).count, stored.count, "ids unique across both nodes")
        for name in names {
            let seqs = stored.filter { $0.to == name }.map(\.seq).sorted()
            XCTAssertEqual(seqs, Array(1...Int64(seqs.count)), "\(name)'s seqs")
            let inbox = try nodes[1].inboxPage(name, limit: 10_000)
            XCTAssertEqual(inbox.map(\.seq), seqs, "\(name)'s inbox as the other node reads it")
            XCTAssertEqual(try nodes[0].head(name), InboxHead(last: Int64(seqs.count), acked: 0))
        }
        XCTAssertEqual(try nodes[0].loadSnapshot().lastMessageID, stored.map(\.id).max())
    }

    /// Four stores opening a fresh database at the same moment: the schema is created once, every store works.
    func testStoresOpeningTogetherMigrateOnce() throws {
        let database = try PostgresTestDatabase()
        let stores = PThreadBox<[Result<PostgresStore, any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let result = Result { try database.open() }
            stores.update { $0.append(result) }
        }
        let opened = try stores.value.map { try $0.get() }
        defer { opened.forEach { $0.close() } }
        try opened[0].write([.createAccount(StoreContract.account("ann")), .createAccount(StoreContract.account("bob"))])
        _ = try opened[1].appendEach([StoreContract.message(1, "ann", "bob", "hi")])
        XCTAssertEqual(try opened[2].inboxPage("bob").map(\.text), ["hi"])
        XCTAssertEqual(try opened[3].loadSnapshot().accounts.map(\.name), ["ann", "bob"])
        let version = try database.connect().execute("SELECT value FROM meta WHERE key = 'schema.version'")
        XCTAssertEqual(version.rowCount, 1)
        XCTAssertEqual(version.string(0, 0), String(PostgresSchema.version))
    }

    /// The server restarts while calls wait for the writer: they fail with `.unavailable` (none acknowledged),
    /// the store reconnects by itself, later calls succeed on the same store, and everything acknowledged
    /// before the restart is still there.
    func testServerRestartFailsInFlightCallsAndTheStoreRecovers() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write([.createAccount(StoreContract.account("ann")), .createAccount(StoreContract.account("bob"))])
        _ = try store.appendEach([StoreContract.message(1, "ann", "bob", "before")])
        XCTAssertTrue(store.isAvailable)

        let release = try StoreContract.holdWriter(store)
        let inFlight = (0..<3).map { _ in Outcome<StoredMessage>() }
        for (n, outcome) in inFlight.enumerated() {
            store.append(StoreContract.message(Int64(10 + n), "ann", "bob", "during")) { outcome.set($0) }
        }
        try PostgresTestDatabase.restartServer()
        release()
        for outcome in inFlight {
            guard case .failure(let error) = try outcome.wait() else { return XCTFail("a call succeeded on a dead connection") }
            guard case .unavailable = error as? StoreError else { return XCTFail("expected .unavailable, got \(error)") }
        }

        // Later calls succeed without reopening: the first may still meet the reconnect backoff, so retry
        // until a deadline.
        let deadline = Date().addingTimeInterval(30)
        var after: StoredMessage?
        while after == nil && Date() < deadline {
            let outcome = Outcome<StoredMessage>()
            store.append(StoreContract.message(20, "ann", "bob", "after")) { outcome.set($0) }
            switch try outcome.wait() {
            case .success(let message): after = message
            case .failure(let error):
                guard case .unavailable = error as? StoreError else { return XCTFail("expected .unavailable, got \(error)") }
            }
        }
        XCTAssertEqual(after?.seq, 2, "the failed calls took no seq")
        XCTAssertTrue(store.isAvailable)
        XCTAssertEqual(try store.inboxPage("bob").map(\.text), ["before", "after"])
    }

    /// PostgreSQL crashes while appends stream in: every append acknowledged before is there after the WAL
    /// is replayed. A batch's COMMIT does not wait for the disk (PostgresStore.pipelinedAppends), so this
    /// checks that no append is acknowledged before the wait for the disk that follows it.
    func testAcknowledgedAppendsSurviveACrash() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write([.createAccount(StoreContract.account("ann")), .createAccount(StoreContract.account("bob"))])
        let acknowledged = PThreadBox<[String]>([])
        let stop = PThreadBox(false)
        let sending = DispatchGroup()
        DispatchQueue.global().async(group: sending) {
            var n = 0
            while !stop.value {
                // Bursts of 50, so that batches hold several messages, the next once the last one is answered.
                let last = Outcome<StoredMessage>()
                for i in 0..<50 {
                    let text = "m\(n + i)"
                    store.append(StoredMessage(id: 0, from: "ann", to: "bob", text: text, at: 1)) { result in
                        if case .success = result { acknowledged.update { $0.append(text) } }
                        if i == 49 { last.set(result) }
                    }
                }
                n += 50
                _ = try? last.wait()
            }
        }
        let deadline = Date().addingTimeInterval(30)
        while acknowledged.value.count < 1_000 && Date() < deadline { usleep(10_000) }
        try PostgresTestDatabase.restartServer(crashing: true)
        stop.update { $0 = true }
        sending.wait()
        let before = acknowledged.value
        XCTAssertGreaterThanOrEqual(before.count, 1_000)

        var stored: Set<String> = []
        let readDeadline = Date().addingTimeInterval(30)
        var after: Int64 = 0
        while Date() < readDeadline {
            guard let page = try? store.inboxPage("bob", after: after, limit: 1_000) else { usleep(100_000); continue }
            if page.isEmpty { break }
            stored.formUnion(page.map(\.text))
            after = page.last?.seq ?? after
        }
        let lost = before.filter { !stored.contains($0) }
        XCTAssertEqual(lost, [], "acknowledged before the crash, missing after it")
    }
}

/// A value several threads update under a lock.
final class PThreadBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    func update(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
    var value: T { lock.withLock { stored } }
}
