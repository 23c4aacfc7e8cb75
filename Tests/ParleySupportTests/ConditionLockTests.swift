import Foundation
import XCTest
@testable import ParleySupport

/// Timed waits run out on the monotonic clock, and a signal ends them early.
final class ConditionLockTests: XCTestCase {
    func testATimedWaitRunsOutAfterItsTimeAndSaysSo() {
        let lock = ConditionLock()
        let start = MonotonicClock.now()
        let signalled = lock.withLock { lock.wait(seconds: 0.05) }
        let waited = Double(MonotonicClock.now() - start) / 1e9
        XCTAssertFalse(signalled)
        XCTAssertGreaterThanOrEqual(waited, 0.049)
        XCTAssertLessThan(waited, 5, "a deadline on the wrong clock would be hours or already past")
    }

    func testASignalEndsATimedWaitEarly() {
        let lock = ConditionLock()
        let waiting = Flag()
        let waiter = expectation(description: "woken")
        Thread.detachNewThread {
            let woken = lock.withLock { () -> Bool in
                waiting.isSet = true
                return lock.wait(seconds: 30)
            }
            XCTAssertTrue(woken)
            waiter.fulfill()
        }
        while !lock.withLock({ waiting.isSet }) { usleep(1_000) }
        lock.withLock { lock.signal() }
        wait(for: [waiter], timeout: 10)
    }
}

/// A flag read and written only with the lock under test held.
private final class Flag: @unchecked Sendable {
    var isSet = false
}
