import XCTest
@testable import Gateway

/// Slot reuse and generations: a token outlives its connection only as a dead token.
final class ConnectionTableTests: XCTestCase {
    private var sequence: UInt64 = 0

    private func insert(into table: inout ConnectionTable) -> Connection {
        sequence += 1
        return table.insert(loop: 0, sequence: sequence) { token, id in
            Connection(fd: -1, id: id, token: token, peer: PeerAddress(host: "127.0.0.1", port: 1), door: .lines,
                       maxQueuedOutputBytes: 10)
        }
    }

    func testTokenOfARemovedConnectionFindsNothingEvenAfterItsSlotIsReused() {
        var table = ConnectionTable()
        let first = insert(into: &table)
        XCTAssertTrue(table.connection(forToken: first.token) === first)
        XCTAssertTrue(table.connection(for: first.id) === first)

        table.remove(first)
        XCTAssertNil(table.connection(forToken: first.token))
        XCTAssertNil(table.connection(for: first.id))

        let second = insert(into: &table)
        XCTAssertEqual(second.token & 0xFFFF_FFFF, first.token & 0xFFFF_FFFF, "the slot is reused")
        XCTAssertNotEqual(second.token, first.token, "with a new generation")
        XCTAssertNil(table.connection(forToken: first.token), "a stale event for the old owner is dropped")
        XCTAssertTrue(table.connection(forToken: second.token) === second)
        XCTAssertEqual(second.id.slot, first.id.slot)
        XCTAssertNotEqual(second.id, first.id, "an id is not reused with its slot")
        XCTAssertNil(table.connection(for: first.id), "so a send to the old connection finds nothing")
        XCTAssertTrue(table.connection(for: second.id) === second)
        XCTAssertNil(table.connection(for: ConnectionID(loop: 0, slot: 5_000, sequence: 1)), "a slot never used")
    }

    func testRemovingTwiceOrAStrangerChangesNothing() {
        var table = ConnectionTable()
        let kept = insert(into: &table)
        let gone = insert(into: &table)
        table.remove(gone)
        table.remove(gone)
        XCTAssertEqual(table.count, 1)
        XCTAssertTrue(table.connection(forToken: kept.token) === kept)
        let reused = insert(into: &table)
        table.remove(gone)
        XCTAssertTrue(table.connection(forToken: reused.token) === reused, "an old handle cannot free a new owner")
    }

    func testReservedTokensNeverMatchAConnection() {
        var table = ConnectionTable()
        for _ in 0..<100 { _ = insert(into: &table) }
        XCTAssertNil(table.connection(forToken: ConnectionTable.wakeToken))
        XCTAssertNil(table.connection(forToken: ConnectionTable.listenerToken))
        XCTAssertEqual(table.count, 100)
        XCTAssertEqual(table.all.count, 100)
    }
}
