import Glibc
import ParleySupport
import RedisClient
import XCTest

/// Throughput of a pipelined burst and the round trip of one command, printed for docs/PERFORMANCE.md-style
/// notes. Runs only with PARLEY_REDIS_BENCH=1 (it takes seconds and its numbers depend on the machine); it asserts
/// only that every command was answered. Compare with
/// `redis-benchmark -q -n 100000 -P 16 -t set,get` and a custom `PUBLISH` run on the same server.
final class BenchmarkTests: XCTestCase {
    private let burst = 100_000

    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["PARLEY_REDIS_BENCH"] == "1" else {
            throw XCTSkip("set PARLEY_REDIS_BENCH=1 to run the Redis client benchmark")
        }
    }

    func testPipelinedBurstAndRoundTrip() throws {
        let client = try TestRedis.upClient(self, name: "bench", options: .init(commandTimeout: .seconds(30)))
        let key = RedisArgument(TestRedis.key("bench"))
        let channel = RedisArgument(TestRedis.key("bench-channel"))
        let value = RedisArgument(Array(repeating: UInt8(ascii: "x"), count: 3))

        let sets = measureBurst(client) { client.send(["SET", key, value], done: $0) }
        let publishes = measureBurst(client) { client.send(["PUBLISH", channel, value], done: $0) }
        print("redis-client bench: \(burst) pipelined SET from one thread: \(Int(sets)) commands/s")
        print("redis-client bench: \(burst) pipelined PUBLISH from one thread: \(Int(publishes)) commands/s")

        var latencies: [UInt64] = []
        let done = Completion()
        for _ in 0..<10_000 {
            let start = DispatchTime.now().uptimeNanoseconds
            done.reset()
            client.send(["SET", key, value]) { _ in done.finish() }
            done.wait()
            latencies.append(DispatchTime.now().uptimeNanoseconds - start)
        }
        latencies.sort()
        let p50 = Double(latencies[latencies.count / 2]) / 1000
        let p99 = Double(latencies[latencies.count * 99 / 100]) / 1000
        print("redis-client bench: single SET round trip over 10000: p50 \(p50) µs, p99 \(p99) µs")
    }

    /// Sends `burst` commands as fast as one thread can, then waits for the last reply; returns commands/s.
    private func measureBurst(_ client: RedisClient, _ send: (@escaping RedisCompletion) -> Void) -> Double {
        let answered = Counter(), done = Completion()
        let total = burst
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<total {
            send { result in
                if case .success = result, answered.increment() == total { done.finish() }
            }
        }
        done.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertEqual(answered.value, total)
        return Double(total) / seconds
    }
}

/// A one-shot signal the test thread sleeps on (a condition variable, so the wait adds no polling delay).
private final class Completion: @unchecked Sendable {
    private let lock = ConditionLock()
    private var finished = false // guarded by lock

    func reset() { lock.withLock { finished = false } }
    func finish() { lock.withLock { finished = true; lock.signal() } }
    func wait() { lock.withLock { while !finished { lock.wait() } } }
}

private final class Counter: Sendable {
    private let count = PThreadMutex(0)
    func increment() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}
