import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// The store contract (ChatCoreTestSupport/StoreContract.swift) on a real PostgreSQL, each test on a fresh
/// database; StoreContractSQLiteTests runs the same scenarios on SQLite.
final class PostgresStoreContractTests: XCTestCase {
    private func run(_ scenario: (StoreContract.Opener) throws -> Void) throws {
        let database = try PostgresTestDatabase()
        try scenario { try database.open() }
    }

    func testEveryWrite() throws { try run(StoreContract.everyWrite) }
    func testSurvivesReopen() throws { try run(StoreContract.survivesReopen) }
    func testBadCallFailsAlone() throws { try run(StoreContract.badCallFailsAlone) }
    func testConcurrentAppendsAreGapFree() throws { try run(StoreContract.concurrentAppendsAreGapFree) }
    func testInboxPages() throws { try run(StoreContract.inboxPages) }
    func testHistoryPages() throws { try run(StoreContract.historyPages) }
    func testCursors() throws { try run(StoreContract.cursors) }
    func testReadsFollowWrites() throws { try run(StoreContract.readsFollowWrites) }
    func testRoomsEveryWrite() throws { try run(StoreContract.roomsEveryWrite) }
    func testRoomReads() throws { try run(StoreContract.roomReads) }
    func testRoomCursorRuns() throws { try run(StoreContract.roomCursorRuns) }
    func testRoomsSurviveReopen() throws { try run(StoreContract.roomsSurviveReopen) }

    /// Many calls queued while the writer is held go out in one transaction.
    func testQueuedCallsShareOneCommit() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write([.createAccount(StoreContract.account("ann")), .createAccount(StoreContract.account("bob"))])
        let release = try StoreContract.holdWriter(store)
        let before = store.commitCount
        let outcomes = (1...500).map { _ in Outcome<StoredMessage>() }
        for (n, outcome) in outcomes.enumerated() {
            store.append(StoreContract.message(Int64(n + 1), "ann", "bob", "m")) { outcome.set($0) }
        }
        XCTAssertEqual(store.queueDepth, 500)
        release()
        XCTAssertEqual(try outcomes.map { try $0.wait().get().seq }, Array(1...500))
        XCTAssertLessThanOrEqual(store.commitCount - before, 2, "the held call's batch, then all 500 in one")
    }

    /// A message handed over with id 0 gets one from the sequence; hub-chosen ids keep the sequence above them;
    /// reserved ids come from the same sequence.
    func testIdsFromTheSequence() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write([.createAccount(StoreContract.account("ann")), .createAccount(StoreContract.account("bob"))])
        let first = try store.appendEach([StoredMessage(id: 0, from: "ann", to: "bob", text: "a", at: 1)])[0]
        XCTAssertGreaterThan(first.id, 0)
        _ = try store.appendEach([StoreContract.message(first.id + 100, "ann", "bob", "hub id")])
        let next = try store.appendEach([StoredMessage(id: 0, from: "bob", to: "ann", text: "b", at: 2)])[0]
        XCTAssertGreaterThan(next.id, first.id + 100, "the sequence went above the hub's id")
        let reserved = Outcome<[Int64]>()
        store.reserveMessageIDs(count: 3) { reserved.set($0) }
        let ids = try reserved.wait().get()
        XCTAssertEqual(ids.count, 3)
        XCTAssertEqual(Set(ids).count, 3)
        XCTAssertGreaterThan(ids.min() ?? 0, next.id)
        XCTAssertEqual(try store.loadSnapshot().lastMessageID, next.id)
    }
}
