import XCTest
@testable import ChatCore

/// The hub's room cursors on their own: moves only forward, what the store has and has not been given, the flush
/// and a session's end taking the same moves without writing any twice.
final class RoomCursorTests: XCTestCase {
    func testMovesGoForwardOnlyAndAFlushWritesEachPositionOnceAtItsLatestSeq() {
        var cursors = RoomCursors(stored: [:])
        XCTAssertFalse(cursors.hasUnsaved)
        XCTAssertTrue(cursors.advance("ann", in: "a", to: 2))
        XCTAssertTrue(cursors.advance("bob", in: "a", to: 1))
        XCTAssertTrue(cursors.advance("ann", in: "a", to: 5))
        XCTAssertFalse(cursors.advance("ann", in: "a", to: 4), "never back")
        XCTAssertFalse(cursors.advance("bob", in: "a", to: 1), "not to where it is")
        XCTAssertEqual(cursors.seq(of: "ann", in: "a"), 5)
        XCTAssertEqual(cursors.seq(of: "ann", in: "b"), 0, "a room never moved in starts at 0")
        XCTAssertTrue(cursors.hasUnsaved)
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "ann", room: "a", to: 5),
                                              .advanceRoomCursor(user: "bob", room: "a", to: 1)], "in the order they first moved")
        XCTAssertFalse(cursors.hasUnsaved)
        XCTAssertEqual(cursors.takeWrites(), [])
        cursors.advance("bob", in: "a", to: 3)
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "bob", room: "a", to: 3)], "moved again after a flush")
    }

    func testPositionsReadFromTheStoreAreNotWrittenBack() {
        var cursors = RoomCursors(stored: ["ann": ["a": 4, "b": 2]])
        XCTAssertEqual(cursors.seq(of: "ann", in: "a"), 4)
        XCTAssertFalse(cursors.hasUnsaved)
        XCTAssertFalse(cursors.advance("ann", in: "a", to: 4))
        XCTAssertEqual(cursors.takeWrites(), [])

        // A cluster node's login folds in what another node stored: the further position wins, and a stored one
        // is not written back, while a local move beyond it still is.
        cursors.merge("ann", in: "b", stored: 7)
        cursors.merge("ann", in: "c", stored: 1)
        XCTAssertEqual(cursors.seq(of: "ann", in: "b"), 7)
        XCTAssertEqual(cursors.takeWrites(), [])
        cursors.advance("ann", in: "a", to: 9)
        cursors.merge("ann", in: "a", stored: 6)
        XCTAssertEqual(cursors.seq(of: "ann", in: "a"), 9)
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "ann", room: "a", to: 9)])
        cursors.advance("ann", in: "b", to: 8)
        cursors.merge("ann", in: "b", stored: 10)
        XCTAssertEqual(cursors.takeWrites(), [], "the store already has more than the local move")
    }

    func testASessionsEndTakesItsMovesOutOfTheFlushAndALaterMoveIsWrittenOnce() {
        var cursors = RoomCursors(stored: [:])
        cursors.advance("ann", in: "b", to: 2)
        cursors.advance("ann", in: "a", to: 3)
        cursors.advance("bob", in: "a", to: 1)
        XCTAssertEqual(cursors.takeWrites(of: "ann"), [.advanceRoomCursor(user: "ann", room: "a", to: 3),
                                                       .advanceRoomCursor(user: "ann", room: "b", to: 2)], "by room")
        XCTAssertEqual(cursors.takeWrites(of: "ann"), [])
        XCTAssertEqual(cursors.takeWrites(of: "cy"), [], "nobody known")
        // ann moves again before the flush: her position is listed a second time, and written once, at the first
        // listing's place.
        cursors.advance("ann", in: "a", to: 4)
        cursors.advance("ann", in: "a", to: 5)
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "ann", room: "a", to: 5),
                                              .advanceRoomCursor(user: "bob", room: "a", to: 1)])
        XCTAssertEqual(cursors.takeWrites(), [])
    }

    func testOneUsersRoomsMoveTogetherEachOnlyForward() {
        var cursors = RoomCursors(stored: ["ann": ["a": 5]])
        cursors.advance("ann", toEach: [(room: "a", seq: 3), (room: "b", seq: 2), (room: "c", seq: 0)])
        XCTAssertEqual(cursors.seq(of: "ann", in: "a"), 5, "not back")
        XCTAssertEqual(cursors.seq(of: "ann", in: "b"), 2)
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "ann", room: "b", to: 2)], "only what moved")
        cursors.advance("ann", toEach: [(room: "a", seq: 6), (room: "b", seq: 2)])
        XCTAssertEqual(cursors.takeWrites(), [.advanceRoomCursor(user: "ann", room: "a", to: 6)])
    }

    /// The directory's settle: a member's cursors go to what this node has delivered of each of their rooms.
    func testTheDirectoryMovesAMembersCursorsToWhatWasDeliveredInEachRoom() {
        let directory = RoomDirectory([RoomRecord(name: "a", owner: "ann", createdAt: 1, lastSeq: 4, members: [
            RoomMember(user: "ann", joinedAt: 1), RoomMember(user: "bob", joinedAt: 1)]),
                                       RoomRecord(name: "b", owner: "ann", createdAt: 1, lastSeq: 2, members: [
            RoomMember(user: "ann", joinedAt: 1)])], cursors: ["ann": ["a": 1]])
        directory.room("a")!.deliveredSeq = 4
        directory.room("b")!.deliveredSeq = 2
        directory.advanceToDelivered("ann")
        directory.advanceToDelivered("cy")
        XCTAssertEqual(directory.cursor(of: "ann", in: "a"), 4)
        XCTAssertEqual(directory.cursor(of: "ann", in: "b"), 2)
        XCTAssertEqual(directory.cursor(of: "bob", in: "a"), 0, "only the member asked for")
        // A member's rooms are a set: the two moves come in either order.
        let writes = directory.takeCursorWrites()
        XCTAssertEqual(writes.count, 2)
        XCTAssertTrue(writes.contains(.advanceRoomCursor(user: "ann", room: "a", to: 4)))
        XCTAssertTrue(writes.contains(.advanceRoomCursor(user: "ann", room: "b", to: 2)))
    }
}
