import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// `parley migrate`'s target side: what the importer is handed is what a store opened on the database then
/// holds, rooms included, and the stores go on from it.
final class PostgresImporterTests: XCTestCase {
    func testRoomsArriveAsGivenAndTheStoreGoesOn() throws {
        let database = try PostgresTestDatabase()
        let rooms = [
            RoomRecord(name: "deck", owner: "hans", createdAt: 5, lastSeq: 3,
                       members: [RoomMember(user: "hans", joinedAt: 5), RoomMember(user: "leia", joinedAt: 6)], banned: ["rey"]),
            RoomRecord(name: "empty", owner: nil, createdAt: 7),
        ]
        let importer = try PostgresImporter(url: database.url)
        try importer.addAccounts(["hans", "leia", "rey"].map(StoreContract.account))
        try importer.addMessages([StoreContract.message(2, "hans", "leia", "direct").placedAt(seq: 1)])
        try importer.addRooms(rooms)
        let said = [RoomMessage(id: 1, room: "deck", seq: 1, from: "hans", text: "one", at: 10),
                    RoomMessage(id: 3, room: "deck", seq: 2, from: "leia", text: "two\twith a tab", at: 11),
                    RoomMessage(id: 4, room: "deck", seq: 3, from: "hans", text: "three", at: 12)]
        try importer.addRoomMessages(Array(said[..<2]))
        try importer.addRoomMessages(Array(said[2...]))
        try importer.addRoomCursors(["leia": ["deck": 2], "hans": ["deck": 3]])
        try importer.addInboxHeads(["leia": InboxHead(last: 1, acked: 0)])
        try importer.commit()
        XCTAssertEqual(importer.counts["rooms"], 2)
        XCTAssertEqual(importer.counts["room messages"], 3)
        XCTAssertEqual(importer.counts["room cursors"], 2)

        let store = try database.open()
        defer { store.close() }
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.rooms, rooms)
        XCTAssertEqual(snapshot.roomCursors, ["leia": ["deck": 2], "hans": ["deck": 3]])
        XCTAssertEqual(snapshot.lastMessageID, 4)
        XCTAssertEqual(try store.roomPages([RoomLogQuery(room: "deck", .after(0), limit: 10)]), [said])
        let next = try store.appendRoomEach([RoomMessage(id: 0, room: "deck", from: "leia", text: "four", at: 13)])[0]
        XCTAssertEqual(next.seq, 4)
        XCTAssertGreaterThan(next.id, 4, "the sequence stands above the room messages' ids too")

        XCTAssertThrowsError(try PostgresImporter(url: database.url), "the database holds data now") { error in
            XCTAssertEqual(error as? PostgresStoreError, .notEmpty("3 accounts, 1 messages, 2 rooms, 0 bookkeeping values"))
        }
    }
}

private extension StoredMessage {
    func placedAt(seq: Int64) -> StoredMessage {
        var copy = self
        copy.seq = seq
        return copy
    }
}
