import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The store contract (ChatCoreTestSupport/StoreContract.swift) on SQLite; PostgresStoreTests runs the same
/// scenarios on PostgreSQL.
final class StoreContractSQLiteTests: XCTestCase {
    /// Opens a store in one fresh folder, the same folder at every call.
    private func opener() throws -> (TestDirectory, StoreContract.Opener) {
        let dir = try TestDirectory()
        return (dir, { try SQLiteStore(directory: dir.url, logger: storeTestLogger) })
    }

    func testEveryWrite() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.everyWrite(open) } }
    func testSurvivesReopen() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.survivesReopen(open) } }
    func testBadCallFailsAlone() throws {
        let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.badCallFailsAlone(open) }
    }
    func testConcurrentAppendsAreGapFree() throws {
        let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.concurrentAppendsAreGapFree(open) }
    }
    func testInboxPages() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.inboxPages(open) } }
    func testHistoryPages() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.historyPages(open) } }
    func testCursors() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.cursors(open) } }
    func testReadsFollowWrites() throws {
        let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.readsFollowWrites(open) }
    }

    func testRoomsEveryWrite() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.roomsEveryWrite(open) } }
    func testRoomReads() throws { let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.roomReads(open) } }
    func testRoomCursorRuns() throws {
        let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.roomCursorRuns(open) }
    }
    func testRoomsSurviveReopen() throws {
        let (dir, open) = try opener(); try withExtendedLifetime(dir) { try StoreContract.roomsSurviveReopen(open) }
    }

    /// The in-memory double keeps the same contract where it can (it has no reopen).
    func testMemoryStoreKeepsTheContract() throws {
        let store = MemoryStore()
        store.autoRun = true
        try StoreContract.everyWrite { store }
        let other = MemoryStore()
        try StoreContract.readsFollowWrites { other }
        try StoreContract.historyPages { MemoryStore() }
        try StoreContract.cursors { MemoryStore() }
        let rooms = MemoryStore()
        rooms.autoRun = true
        try StoreContract.roomsEveryWrite { rooms }
        try StoreContract.roomReads { MemoryStore() }
    }
}
