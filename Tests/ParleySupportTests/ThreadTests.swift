import Foundation
import Glibc
import ParleySupport
import XCTest

/// The joinable thread and the pthread locks.
final class ThreadTests: XCTestCase {
    func testJoinWaitsForTheBody() throws {
        let result = PThreadMutex<[Int]>([])
        let thread = try JoinableThread(name: "test-join") {
            usleep(50_000)
            result.withLock { $0.append(1) }
        }
        thread.join()
        XCTAssertEqual(result.withLock { $0 }, [1], "the body's writes are visible once join returns")
    }

    func testTheThreadIsNamedAndKnowsItself() throws {
        let seen = PThreadMutex<(name: String, isCurrent: Bool)?>(nil)
        let handoff = PThreadMutex<JoinableThread?>(nil)
        let ready = ConditionLock()
        let thread = try JoinableThread(name: "parley-test-a-long-name") {
            // Wait until the starting thread has stored the handle, so the body can ask it.
            var mine: JoinableThread?
            ready.withLock {
                while true {
                    mine = handoff.withLock { $0 }
                    if mine != nil { break }
                    ready.wait()
                }
            }
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0 = (name.trimmingCharacters(in: .newlines), mine!.isCurrent) }
        }
        ready.withLock {
            handoff.withLock { $0 = thread }
            ready.signal()
        }
        thread.join()
        XCTAssertFalse(thread.isCurrent)
        let observed = try XCTUnwrap(seen.withLock { $0 })
        XCTAssertEqual(observed.name, "parley-test-a-l", "Linux keeps the first 15 bytes")
        XCTAssertTrue(observed.isCurrent)
    }

    func testNicenessAppliesToTheNewThreadOnly() throws {
        let before = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        let seen = PThreadMutex<Int32>(-100)
        let thread = try JoinableThread(name: "test-nice", niceness: 19) {
            let value = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            seen.withLock { $0 = value }
        }
        thread.join()
        XCTAssertEqual(seen.withLock { $0 }, 19)
        XCTAssertEqual(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0), before, "the caller keeps its own")
    }

    func testCoreCountIsAtLeastOneAndAtMostTheConfiguredCores() {
        XCTAssertGreaterThanOrEqual(CoreCount.online, 1)
        XCTAssertLessThanOrEqual(CoreCount.online, max(ProcessInfo.processInfo.processorCount, 1), "online, not configured")
    }

    func testStartFailureDescribesItself() {
        XCTAssertTrue(ThreadStartError(code: EAGAIN).description.hasPrefix("pthread_create failed: "))
    }

    func testConditionWaitSleepsUntilSignalled() throws {
        let lock = ConditionLock()
        nonisolated(unsafe) var ready = false
        nonisolated(unsafe) var woke = false
        let waiter = try JoinableThread(name: "test-waiter") {
            lock.withLock {
                while !ready { lock.wait() }
                woke = true
            }
        }
        usleep(20_000)
        XCTAssertFalse(lock.withLock { woke }, "nothing wakes the waiter before the signal")
        lock.withLock {
            ready = true
            lock.signal()
        }
        waiter.join()
        XCTAssertTrue(lock.withLock { woke })
    }

    func testBroadcastWakesEveryWaiter() throws {
        let lock = ConditionLock()
        nonisolated(unsafe) var open = false
        nonisolated(unsafe) var waiting = 0
        nonisolated(unsafe) var passed = 0
        let threads = try (1...3).map { index in
            try JoinableThread(name: "test-broadcast-\(index)") {
                lock.withLock {
                    waiting += 1
                    lock.broadcast()
                    while !open { lock.wait() }
                    passed += 1
                }
            }
        }
        lock.withLock {
            while waiting < 3 { lock.wait() }
            open = true
            lock.broadcast()
        }
        for thread in threads { thread.join() }
        XCTAssertEqual(lock.withLock { passed }, 3)
    }

    func testMutexKeepsConcurrentUpdatesWhole() throws {
        let counter = PThreadMutex(0)
        let threads = try (1...4).map { index in
            try JoinableThread(name: "test-count-\(index)") {
                for _ in 0..<10_000 { counter.withLock { $0 += 1 } }
            }
        }
        for thread in threads { thread.join() }
        XCTAssertEqual(counter.withLock { $0 }, 40_000)
    }
}
