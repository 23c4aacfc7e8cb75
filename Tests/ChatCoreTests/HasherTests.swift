import Foundation
import ParleySupport
import XCTest
@testable import ChatCore

/// argon2id through libargon2, and the worker pool it runs on.
final class HasherTests: XCTestCase {
    /// One real hash at the production parameters: the OWASP encoding, and right/wrong passwords.
    func testDefaultParametersHashAndVerify() throws {
        let hasher = Argon2Hasher()
        defer { hasher.shutdown() }
        let started = Date()
        let encoded = try hashAndWait(hasher, "s3cret!")
        let elapsed = Date().timeIntervalSince(started)
        print("argon2id m=19456 t=2 p=1: \(Int(elapsed * 1000)) ms for one hash (queue hop included)")
        XCTAssertTrue(encoded.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), encoded)
        XCTAssertEqual(hasher.encodedPrefix, "$argon2id$v=19$m=19456,t=2,p=1$")
        XCTAssertTrue(try verifyAndWait(hasher, "s3cret!", encoded))
        XCTAssertFalse(try verifyAndWait(hasher, "s3cret", encoded))
        XCTAssertFalse(try verifyAndWait(hasher, "S3cret!", encoded), "passwords are case-sensitive")
    }

    func testSaltDiffersPerHash() throws {
        let hasher = tinyHasher()
        let first = try hashAndWait(hasher, "same")
        let second = try hashAndWait(hasher, "same")
        XCTAssertNotEqual(first, second)
        XCTAssertNotEqual(salt(first), salt(second))
        XCTAssertEqual(Data(base64Encoded: padded(salt(first)))?.count, 16, "a 16-byte salt")
        XCTAssertTrue(try verifyAndWait(hasher, "same", first))
        XCTAssertTrue(try verifyAndWait(hasher, "same", second))
    }

    /// Verification reads the parameters from the encoded string, so old hashes survive a parameter change.
    func testVerifyUsesTheStoredParameters() throws {
        let tiny = tinyHasher()
        let encoded = try hashAndWait(tiny, "pw")
        XCTAssertTrue(encoded.hasPrefix("$argon2id$v=19$m=64,t=1,p=1$"), encoded)
        let other = Argon2Hasher(memoryKiB: 128, iterations: 3, pool: sharedPool())
        XCTAssertTrue(try verifyAndWait(other, "pw", encoded))
    }

    func testMalformedEncodedStringsNeverMatch() throws {
        let hasher = tinyHasher()
        let good = try hashAndWait(hasher, "pw")
        for bad in ["", "pw", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", String(good.dropLast(3)), "test$pw",
                    good.replacingOccurrences(of: "$argon2id$", with: "$argon2d$")] {
            XCTAssertFalse(try verifyAndWait(hasher, "pw", bad), bad)
        }
        XCTAssertTrue(try verifyAndWait(hasher, "", try hashAndWait(hasher, "")), "an empty password still hashes")
        XCTAssertFalse(try verifyAndWait(hasher, "", good))
    }

    func testWorkNeverRunsOnTheCallerThread() throws {
        let pool = WorkerPool(threads: 2)
        defer { pool.shutdown() }
        let hasher = Argon2Hasher(memoryKiB: 64, iterations: 1, pool: pool)
        let caller = pthread_self()
        let hashed = expectation(description: "hashed")
        let verified = expectation(description: "verified")
        hasher.hash("pw") { encoded in
            XCTAssertEqual(pthread_equal(caller, pthread_self()), 0)
            XCTAssertTrue(pool.isWorkerThread)
            hasher.verify("pw", encoded: encoded) { ok in
                XCTAssertTrue(ok)
                XCTAssertEqual(pthread_equal(caller, pthread_self()), 0)
                XCTAssertTrue(pool.isWorkerThread)
                verified.fulfill()
            }
            hashed.fulfill()
        }
        wait(for: [hashed, verified], timeout: 20)
    }

    /// A hasher with its own pool hashes at the lowest priority, so a login storm takes only spare CPU.
    func testItsOwnPoolRunsAtTheWorkerNiceness() throws {
        let hasher = Argon2Hasher(memoryKiB: 64, iterations: 1)
        defer { hasher.shutdown() }
        let niceness = AsyncResult<Int32>()
        hasher.hash("pw") { _ in niceness.set(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) }
        XCTAssertEqual(try niceness.wait(), Argon2Hasher.workerNiceness)
        XCTAssertEqual(Argon2Hasher.workerNiceness, 19)
    }

    func testDefaultPoolSizeFollowsTheCoreCount() {
        XCTAssertEqual(WorkerPool.defaultThreadCount, CoreCount.online)
        let pool = WorkerPool()
        defer { pool.shutdown() }
        XCTAssertEqual(pool.threadCount, WorkerPool.defaultThreadCount)
    }

    /// `backlog` counts queued and running jobs; past the pool's capacity the answer fails closed.
    func testBacklogAndRefusalWhenFull() throws {
        let pool = WorkerPool(threads: 1, capacity: 2)
        defer { pool.shutdown() }
        let hasher = Argon2Hasher(memoryKiB: 64, iterations: 1, pool: pool)
        let gate = DispatchSemaphore(value: 0)
        let running = expectation(description: "blocker running")
        XCTAssertTrue(pool.submit {
            running.fulfill()
            gate.wait()
        })
        wait(for: [running], timeout: 10)
        let encoded = Argon2Hasher.encode("pw", salt: Array(repeating: 7, count: 16), memoryKiB: 64, iterations: 1, parallelism: 1)
        let first = AsyncResult<Bool>()
        let second = AsyncResult<Bool>()
        hasher.verify("pw", encoded: encoded) { first.set($0) }
        hasher.verify("pw", encoded: encoded) { second.set($0) }
        XCTAssertEqual(hasher.backlog, 3, "one running, two queued")
        let refused = AsyncResult<Bool>()
        hasher.verify("pw", encoded: encoded) { refused.set($0) }
        XCTAssertFalse(try refused.wait(), "a full pool answers 'no match', never 'match'")
        let refusedHash = AsyncResult<String>()
        hasher.hash("pw") { refusedHash.set($0) }
        XCTAssertEqual(try refusedHash.wait(), "")
        gate.signal()
        XCTAssertTrue(try first.wait())
        XCTAssertTrue(try second.wait())
    }

    func testPoolRunsJobsInOrderAndDrainsOnShutdown() throws {
        let pool = WorkerPool(threads: 1, capacity: 100)
        let gate = DispatchSemaphore(value: 0)
        let log = CompletionLog()
        pool.submit { gate.wait() }
        for i in 1...50 { XCTAssertTrue(pool.submit { log.append(i) }) }
        gate.signal()
        pool.shutdown()
        XCTAssertEqual(log.values, Array(1...50), "FIFO, and every queued job ran before shutdown returned")
        XCTAssertFalse(pool.submit { log.append(0) }, "no intake after shutdown")
        XCTAssertEqual(pool.backlog, 0)
        pool.shutdown()  // idempotent
    }

    func testPoolUsesAllItsThreads() {
        let pool = WorkerPool(threads: 3)
        defer { pool.shutdown() }
        // Three jobs that each wait until all three are running can only finish on three threads at once.
        let together = DispatchGroup()
        let all = expectation(description: "all three ran concurrently")
        all.expectedFulfillmentCount = 3
        for _ in 0..<3 { together.enter() }
        for _ in 0..<3 {
            pool.submit {
                together.leave()
                if together.wait(timeout: .now() + 10) == .success { all.fulfill() }
            }
        }
        wait(for: [all], timeout: 20)
    }

    // MARK: - Helpers

    private var pool: WorkerPool?

    /// One pool per test, shut down when it ends.
    private func sharedPool() -> WorkerPool {
        if let pool { return pool }
        let pool = WorkerPool(threads: 2)
        self.pool = pool
        addTeardownBlock { pool.shutdown() }
        return pool
    }

    /// The real argon2id code with tiny parameters, on the test's pool.
    private func tinyHasher() -> Argon2Hasher {
        Argon2Hasher(memoryKiB: 64, iterations: 1, pool: sharedPool())
    }

    private func hashAndWait(_ hasher: Argon2Hasher, _ password: String) throws -> String {
        let box = AsyncResult<String>()
        hasher.hash(password) { box.set($0) }
        return try box.wait()
    }

    private func verifyAndWait(_ hasher: Argon2Hasher, _ password: String, _ encoded: String) throws -> Bool {
        let box = AsyncResult<Bool>()
        hasher.verify(password, encoded: encoded) { box.set($0) }
        return try box.wait()
    }

    /// The salt field of `$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`.
    private func salt(_ encoded: String) -> String {
        String(encoded.split(separator: "$")[3])
    }

    /// libargon2 writes base64 without padding.
    private func padded(_ base64: String) -> String {
        base64 + String(repeating: "=", count: (4 - base64.count % 4) % 4)
    }
}
