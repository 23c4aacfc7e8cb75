import XCTest
@testable import Gateway

/// The timer heap with explicit times: no clock, no sleeping.
final class TimerQueueTests: XCTestCase {
    private func drain(_ queue: inout TimerQueue<String>, at now: UInt64) -> [String] {
        var fired: [String] = []
        while let action = queue.popExpired(now: now) { fired.append(action) }
        return fired
    }

    func testFiresInDeadlineOrderAndTiesInScheduleOrder() {
        var queue = TimerQueue<String>()
        queue.schedule(at: 30, "c")
        queue.schedule(at: 10, "a1")
        queue.schedule(at: 20, "b")
        queue.schedule(at: 10, "a2")
        queue.schedule(at: 10, "a3")
        XCTAssertEqual(queue.nextDeadline(), 10)
        XCTAssertEqual(drain(&queue, at: 9), [])
        XCTAssertEqual(drain(&queue, at: 20), ["a1", "a2", "a3", "b"])
        XCTAssertEqual(queue.nextDeadline(), 30)
        XCTAssertEqual(drain(&queue, at: 100), ["c"])
        XCTAssertNil(queue.nextDeadline())
        XCTAssertTrue(queue.isEmpty)
    }

    func testCancelledTimersNeverFire() {
        var queue = TimerQueue<String>()
        let first = queue.schedule(at: 10, "first")
        queue.schedule(at: 20, "second")
        let third = queue.schedule(at: 30, "third")
        queue.cancel(first)
        queue.cancel(third)
        queue.cancel(third)
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.nextDeadline(), 20, "a cancelled head is skipped")
        XCTAssertEqual(drain(&queue, at: 100), ["second"])
    }

    func testCancellingAFiredTimerDoesNothing() {
        var queue = TimerQueue<String>()
        let id = queue.schedule(at: 5, "once")
        XCTAssertEqual(drain(&queue, at: 5), ["once"])
        queue.cancel(id)
        queue.schedule(at: 6, "next")
        XCTAssertEqual(drain(&queue, at: 6), ["next"])
    }

    func testRepeatingTimerKeepsItsPeriod() {
        var queue = TimerQueue<String>()
        queue.schedule(at: 100, repeatingEvery: 50, "tick")
        XCTAssertEqual(drain(&queue, at: 100), ["tick"], "fires once per call even though it reschedules")
        XCTAssertEqual(queue.nextDeadline(), 150)
        XCTAssertEqual(drain(&queue, at: 160), ["tick"])
        XCTAssertEqual(queue.nextDeadline(), 200, "the period is counted from the deadline, not from when it ran")
    }

    func testRepeatingTimerSkipsMissedPeriodsInsteadOfBursting() {
        var queue = TimerQueue<String>()
        queue.schedule(at: 100, repeatingEvery: 10, "tick")
        XCTAssertEqual(drain(&queue, at: 1_000), ["tick"])
        XCTAssertEqual(queue.nextDeadline(), 1_010)
    }

    func testCancelStopsARepeatingTimer() {
        var queue = TimerQueue<String>()
        let id = queue.schedule(at: 10, repeatingEvery: 10, "tick")
        XCTAssertEqual(drain(&queue, at: 10), ["tick"])
        queue.cancel(id)
        XCTAssertEqual(drain(&queue, at: 1_000), [])
        XCTAssertNil(queue.nextDeadline())
    }

    func testManyCancellationsKeepTheHeapConsistent() {
        var queue = TimerQueue<String>()
        var ids: [TimerID] = []
        for index in 0..<1_000 {
            ids.append(queue.schedule(at: UInt64(1_000 - index), "t\(1_000 - index)"))
        }
        for (index, id) in ids.enumerated() where index % 10 != 0 { queue.cancel(id) }
        XCTAssertEqual(queue.count, 100)
        let fired = drain(&queue, at: .max)
        XCTAssertEqual(fired.count, 100)
        XCTAssertEqual(fired.map { UInt64($0.dropFirst())! }, fired.map { UInt64($0.dropFirst())! }.sorted())
    }

    func testActionsScheduledBetweenPopsAreSeen() {
        var queue = TimerQueue<String>()
        queue.schedule(at: 10, "first")
        var fired: [String] = []
        while let action = queue.popExpired(now: 20) {
            fired.append(action)
            if action == "first" { queue.schedule(at: 15, "scheduled while firing") }
        }
        XCTAssertEqual(fired, ["first", "scheduled while firing"])
    }

    func testDurationNanoseconds() {
        XCTAssertEqual(Duration.seconds(2).nanoseconds, 2_000_000_000)
        XCTAssertEqual(Duration.milliseconds(1_500).nanoseconds, 1_500_000_000)
        XCTAssertEqual(Duration.nanoseconds(7).nanoseconds, 7)
        XCTAssertEqual(Duration.seconds(-1).nanoseconds, 0)
        XCTAssertEqual(Duration.zero.nanoseconds, 0)
    }
}
