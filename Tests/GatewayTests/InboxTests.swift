import Glibc
import XCTest
@testable import Gateway

/// The inbox's doorbell rule: ring only when going from empty to non-empty, and never for the
/// loop's own posts; order is FIFO whoever posts.
final class InboxTests: XCTestCase {
    /// Reads and resets the eventfd counter; 0 when it was not rung.
    private func rings(_ descriptor: Int32) -> UInt64 {
        var value: UInt64 = 0
        return read(descriptor, &value, 8) == 8 ? value : 0
    }

    func testOnlyTheFirstPostFromAnotherThreadRingsTheLoop() throws {
        let inbox = Inbox()
        let wake = try inbox.makeWakeDescriptor()
        let id = ConnectionID(loop: 0, slot: 0, sequence: 1)
        for _ in 0..<3 { XCTAssertTrue(inbox.post(.close(id))) }
        XCTAssertEqual(rings(wake), 1, "one wake-up for a burst: the loop drains everything at once")

        var items: [InboxItem] = []
        inbox.takeAll(into: &items)
        XCTAssertEqual(items.count, 3)
        XCTAssertFalse(inbox.hasItems)
        inbox.post(.close(id))
        XCTAssertEqual(rings(wake), 1, "empty again, so the next post rings")
    }

    func testPostsFromTheLoopThreadDoNotRing() throws {
        let inbox = Inbox()
        let wake = try inbox.makeWakeDescriptor()
        inbox.bindToCurrentThread()
        XCTAssertTrue(inbox.isOnLoopThread)
        inbox.post(.close(ConnectionID(loop: 0, slot: 0, sequence: 1)))
        XCTAssertEqual(rings(wake), 0, "the loop checks its inbox before sleeping")
        XCTAssertTrue(inbox.hasItems)
    }

    func testItemsKeepPostingOrderAcrossThreadsAndCloseRefusesMore() throws {
        let inbox = Inbox()
        _ = try inbox.makeWakeDescriptor()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for number in 0..<250 {
                inbox.post(.close(ConnectionID(loop: 0, slot: 0, sequence: UInt64(thread * 1_000 + number))))
            }
        }
        var items: [InboxItem] = []
        inbox.takeAll(into: &items)
        var last = [UInt64](repeating: 0, count: 4)
        for case .close(let id) in items {
            let sequence = id.rawValue & 0xFFFF_FFFF
            let thread = Int(sequence / 1_000)
            XCTAssertGreaterThanOrEqual(sequence, last[thread], "thread \(thread) reordered")
            last[thread] = sequence
        }
        XCTAssertEqual(items.count, 1_000)

        inbox.post(.close(ConnectionID(loop: 0, slot: 0, sequence: 7)))
        XCTAssertEqual(inbox.close().count, 1, "what was left is handed back")
        XCTAssertFalse(inbox.post(.close(ConnectionID(loop: 0, slot: 0, sequence: 8))), "a closed inbox refuses")
    }
}
