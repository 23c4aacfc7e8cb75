import ChatCore
import ChatCoreTestSupport
import Foundation
import XCTest
@testable import PostgresStore

/// Appends per second through group commit, PostgreSQL beside SQLite on the same machine: not a timed test,
/// skipped unless `PARLEY_STORE_BENCH=1` (and PARLEY_TEST_POSTGRES for the PostgreSQL half). Run it on a
/// release build:
///
///     PARLEY_STORE_BENCH=1 swift test -c release --disable-swift-testing --filter PostgresStoreBenchmarkTests
///
/// 4 threads append to 200 recipients: "open" submits everything at once (the writer takes big batches),
/// "closed" has each thread wait for each completion (4 in flight: one commit round trip per few messages).
/// `PARLEY_STORE_BENCH_APPENDS` (40 000) changes the size of the open run (the closed run is a tenth).
final class PostgresStoreBenchmarkTests: XCTestCase {
    static let threads = 4
    static let users = 200

    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["PARLEY_STORE_BENCH"] == "1",
                          "the store benchmark runs with PARLEY_STORE_BENCH=1")
    }

    func testAppendThroughput() throws {
        let appends = ProcessInfo.processInfo.environment["PARLEY_STORE_BENCH_APPENDS"].flatMap { Int($0) } ?? 40_000
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try measure("SQLiteStore", try SQLiteStore(directory: dir, logger: postgresTestLogger), appends: appends)
        let database = try PostgresTestDatabase()
        try measure("PostgresStore", try database.open(), appends: appends)
    }

    private func measure(_ label: String, _ store: any ChatStore, appends: Int) throws {
        defer { store.close() }
        try store.write((1...Self.users).map { .createAccount(StoreContract.account("u\($0)")) })
        var nextID = Int64(0)
        for (mode, count) in [("open", appends), ("closed", appends / 10)] {
            let first = nextID + 1
            nextID += Int64(count)
            let start = Self.now()
            let failures = OrderLog()
            let all = DispatchGroup()
            DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
                let perThread = count / Self.threads
                for i in 0..<perThread {
                    let id = first + Int64(thread * perThread + i)
                    let message = StoredMessage(id: id, from: "u\(Int(id) % Self.users + 1)", to: "u\(Int(id * 7) % Self.users + 1)",
                                                text: String(repeating: "x", count: 20 + Int(id * 7) % 161), at: id)
                    all.enter()
                    let done = DispatchSemaphore(value: 0)
                    store.append(message) { result in
                        if case .failure = result { failures.add(1) }
                        all.leave()
                        done.signal()
                    }
                    if mode == "closed" { done.wait() }
                }
            }
            all.wait()
            let seconds = Self.now() - start
            XCTAssertEqual(failures.values, [])
            print(String(format: "BENCH %@ %@ (%d threads): %d appends in %.2f s: %.0f appends/s, %.1f µs per message",
                         label, mode, Self.threads, count, seconds, Double(count) / seconds, seconds * 1e6 / Double(count)))
        }
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
