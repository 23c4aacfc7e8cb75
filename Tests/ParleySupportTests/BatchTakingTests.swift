import ParleySupport
import XCTest

/// A store writer's way of taking its queue as a batch.
final class BatchTakingTests: XCTestCase {
    func testAQueueThatFitsSwapsBuffersAndALongerOneGivesItsFront() {
        var queue = [1, 2, 3]
        queue.reserveCapacity(64)
        var batch: [Int] = []
        queue.moveFront(upTo: 3, into: &batch)
        XCTAssertEqual(batch, [1, 2, 3])
        XCTAssertEqual(queue, [])
        XCTAssertGreaterThanOrEqual(batch.capacity, 64, "the batch took over the queue's buffer")

        queue = [4, 5, 6, 7, 8]
        batch.removeAll(keepingCapacity: true)
        queue.moveFront(upTo: 2, into: &batch)
        XCTAssertEqual(batch, [4, 5])
        XCTAssertEqual(queue, [6, 7, 8], "the rest stays queued, in order")

        batch.removeAll(keepingCapacity: true)
        queue.moveFront(upTo: 10, into: &batch)
        XCTAssertEqual(batch, [6, 7, 8])
        XCTAssertTrue(queue.isEmpty)
    }
}
