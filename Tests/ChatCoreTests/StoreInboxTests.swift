import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Inboxes on both stores: seqs per recipient, cursors, inbox pages, login history, the snapshot's heads.
final class StoreInboxTests: XCTestCase {
    func testSeqsAreGapFreePerRecipientInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 5)
        defer { store.close() }
        try checkGapFreeSeqs(store)
    }

    func testSeqsAreGapFreePerRecipientInMemory() throws {
        try checkGapFreeSeqs(MemoryStore())
    }

    func testFailedAppendsConsumeNoSeqInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkFailedAppends(store)
    }

    func testFailedAppendsConsumeNoSeqInMemory() throws {
        try checkFailedAppends(MemoryStore())
    }

    func testCursorOnlyMovesForwardInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try checkCursor(store)
    }

    func testCursorOnlyMovesForwardInMemory() throws {
        try checkCursor(MemoryStore())
    }

    func testInboxPagesInSQLite() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 4)
        defer { store.close() }
        try checkInboxPages(store)
    }

    func testInboxPagesInMemory() throws {
        try checkInboxPages(MemoryStore())
    }

    /// whoelsesince's source: the latest logout per user, the same after a restart.
    func testLoginHistorySurvivesReopen() throws {
        let dir = try TestDirectory()
        do {
            let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
            try store.performAndWait(["ann", "bob", "cy"].map { .createAccount(sampleAccount($0)) })
            try store.performAndWait([.recordSeen(user: "ann", at: 1_000), .recordSeen(user: "bob", at: 2_000)])
            try store.performAndWait([.recordSeen(user: "ann", at: 3_000)])
            XCTAssertEqual(try store.loadSnapshot().lastSeen, ["ann": 3_000, "bob": 2_000])
            store.close()
        }
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        XCTAssertEqual(try store.loadSnapshot().lastSeen, ["ann": 3_000, "bob": 2_000])
    }

    func testLoginHistoryRoundTripsInMemory() throws {
        let store = MemoryStore()
        try store.performAndWait(["ann", "bob"].map { .createAccount(sampleAccount($0)) })
        try store.performAndWait([.recordSeen(user: "ann", at: 1_000), .recordSeen(user: "ann", at: 900)])
        XCTAssertEqual(try store.loadSnapshot().lastSeen, ["ann": 900], "the latest recorded, not the largest")
        XCTAssertEqual(MemoryStore(snapshot: try store.loadSnapshot()).lastSeenForTests, ["ann": 900])
    }

    /// Heads for every user with a message or a cursor, nobody else; they survive a reopen (the last seqs come
    /// back from the index and the tail, the cursors from their table).
    func testSnapshotHeads() throws {
        let dir = try TestDirectory()
        do {
            let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 3)
            try checkSnapshotHeads(store)
            store.close()
        }
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 3)
        defer { store.close() }
        XCTAssertEqual(try store.loadSnapshot().inboxes, Self.expectedHeads)
        XCTAssertEqual(try store.appendAll([sampleMessage(100, "dee", "bob", "next")]).map(\.seq), [4])
        try checkSnapshotHeads(MemoryStore())
    }

    // MARK: - Scenarios

    /// Four users writing to each other in batches of different sizes: each recipient's seqs are 1, 2, 3, … in
    /// the order the appends were submitted.
    private func checkGapFreeSeqs(_ store: any ChatStore) throws {
        let names = ["ann", "bob", "cy", "dee"]
        try store.performAndWait(names.map { .createAccount(sampleAccount($0)) })
        var expected: [String: [Int64]] = [:]
        var id: Int64 = 0
        for batch in 1...12 {
            var messages: [StoredMessage] = []
            for i in 0..<batch {
                id += 1
                let to = names[(batch * 3 + i) % 4]
                messages.append(sampleMessage(id, names[(batch + i * 5 + 1) % 4], to, "m\(id)"))
                expected[to, default: []].append(id)
            }
            let stored = try store.appendAll(messages)
            for message in stored {
                XCTAssertEqual(message.seq, Int64(expected[message.to]!.firstIndex(of: message.id)! + 1))
            }
        }
        for name in names {
            let inbox = try store.inboxAndWait(name)
            XCTAssertEqual(inbox.map(\.id), expected[name] ?? [], name)
            XCTAssertEqual(inbox.map(\.seq), (0..<inbox.count).map { Int64($0 + 1) }, name)
        }
    }

    /// In one batch: good, duplicate id, unknown recipient, unknown sender, good. The failures take no seq.
    private func checkFailedAppends(_ store: any ChatStore) throws {
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        let boxes = (0..<5).map { _ in AsyncResult<Result<StoredMessage, any Error>>() }
        store.append(sampleMessage(1, "ann", "bob", "one")) { boxes[0].set($0) }
        store.append(sampleMessage(1, "ann", "bob", "dup")) { boxes[1].set($0) }
        store.append(sampleMessage(2, "ann", "ghost", "x")) { boxes[2].set($0) }
        store.append(sampleMessage(3, "ghost", "bob", "x")) { boxes[3].set($0) }
        store.append(sampleMessage(4, "ann", "bob", "two")) { boxes[4].set($0) }
        (store as? MemoryStore)?.runPending()
        let results = try boxes.map { try $0.wait() }
        XCTAssertEqual(try results[0].get().seq, 1)
        for failed in results[1...3] { XCTAssertThrowsError(try failed.get()) }
        XCTAssertEqual(try results[4].get().seq, 2)
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.text), ["one", "two"])
        XCTAssertEqual(try store.loadSnapshot().lastMessageID, 4)
    }

    private func checkCursor(_ store: any ChatStore) throws {
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        _ = try store.appendAll((1...5).map { sampleMessage(Int64($0), "ann", "bob", "m\($0)") })
        try store.performAndWait([.advanceCursor(user: "bob", to: 3)])
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 5, acked: 3))
        try store.performAndWait([.advanceCursor(user: "bob", to: 1), .advanceCursor(user: "bob", to: 0)])
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 5, acked: 3), "never backwards")
        XCTAssertThrowsError(try store.performAndWait([.advanceCursor(user: "bob", to: 6)]), "beyond the inbox")
        XCTAssertThrowsError(try store.performAndWait([.advanceCursor(user: "ghost", to: 0)]), "unknown user")
        try store.performAndWait([.advanceCursor(user: "bob", to: 5)])
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 5, acked: 5))
        // An ack in the same batch as the append that made it possible.
        let box = AsyncResult<Result<Void, any Error>>()
        store.append(sampleMessage(6, "ann", "bob", "m6")) { _ in }
        store.perform([.advanceCursor(user: "bob", to: 6)]) { box.set($0) }
        (store as? MemoryStore)?.runPending()
        try box.wait().get()
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 6, acked: 6))
    }

    private func checkInboxPages(_ store: any ChatStore) throws {
        try store.performAndWait([.createAccount(sampleAccount("ann")), .createAccount(sampleAccount("bob"))])
        // Odd ids to bob, even ids to ann: bob's seq n is id 2n − 1.
        let messages: [StoredMessage] = (Int64(1)...30).map { id in
            id % 2 == 1 ? sampleMessage(id, "ann", "bob", "m\(id)") : sampleMessage(id, "bob", "ann", "m\(id)")
        }
        _ = try store.appendAll(messages)
        XCTAssertEqual(try store.inboxAndWait("bob", after: 0, limit: 3).map(\.id), [1, 3, 5])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 3, limit: 3).map(\.seq), [4, 5, 6])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 13, limit: 50).map(\.id), [27, 29])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 15, limit: 50), [])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 0, limit: 0), [])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 0, limit: -1), [])
        XCTAssertEqual(try store.inboxAndWait("bob", after: -5, limit: 2).map(\.seq), [1, 2])
        XCTAssertEqual(try store.inboxAndWait("nobody", after: 0, limit: 10), [])
        XCTAssertEqual(try store.inboxAndWait("ann", after: 14, limit: 10), [sampleMessage(30, "bob", "ann", "m30").withSeq(15)])
        XCTAssertEqual(InboxQuery(user: "x", after: 0, limit: 50_000).effectiveLimit, InboxQuery.maxLimit)
    }

    static let expectedHeads = ["bob": InboxHead(last: 3, acked: 2), "cy": InboxHead(last: 1, acked: 0),
                                "dee": InboxHead(last: 0, acked: 0)]

    private func checkSnapshotHeads(_ store: any ChatStore) throws {
        try store.performAndWait(["ann", "bob", "cy", "dee", "eve"].map { .createAccount(sampleAccount($0)) })
        XCTAssertEqual(try store.loadSnapshot().inboxes, [:])
        _ = try store.appendAll([sampleMessage(1, "ann", "bob", "a"), sampleMessage(2, "ann", "cy", "b"),
                                 sampleMessage(3, "cy", "bob", "c"), sampleMessage(4, "eve", "bob", "d")])
        try store.performAndWait([.advanceCursor(user: "bob", to: 2), .advanceCursor(user: "dee", to: 0)])
        XCTAssertEqual(try store.loadSnapshot().inboxes, Self.expectedHeads, "ann and eve have neither messages nor a cursor")
    }
}

extension MemoryStore {
    /// Login history as a fresh store seeded from a snapshot holds it.
    var lastSeenForTests: [String: Int64] { (try? loadSnapshot().lastSeen) ?? [:] }
}
