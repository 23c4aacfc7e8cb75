import Glibc
import Logging
import RedisClient
import XCTest

/// Configuration errors, an unreachable server, stop with work in flight, and thread hygiene.
final class LifecycleTests: XCTestCase {
    func testBadURLsAndNamesSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("http://127.0.0.1:6379", "expected redis://[[user]:password@]host[:port][/db]"),
            ("redis://127.0.0.1:0", "the port must be a number from 1 to 65535"),
            ("redis://127.0.0.1:port", "the port must be a number from 1 to 65535"),
            ("redis://127.0.0.1:6379/x", "the database must be a number"),
            ("rediss://127.0.0.1", "TLS (rediss://) is not supported"),
            ("redis://", "the host is missing"),
            ("redis://bob@127.0.0.1", "a user in the URL needs a password"),
            ("redis://bob:@127.0.0.1", "a user in the URL needs a password"),
            ("redis://:se%2@127.0.0.1", "malformed %-escape"),
            ("redis://:secret@127.0.0.1/x", "the database must be a number"),
            ("rediss://:secret@127.0.0.1", "TLS (rediss://) is not supported"),
        ]
        for (url, why) in cases {
            XCTAssertThrowsError(try RedisClient(url: url, name: "n", logger: Logger(label: "t"))) { error in
                guard case .invalidURL(let message) = error as? RedisError else { return XCTFail("\(error)") }
                XCTAssertTrue(message.contains(why), "\(url): \(message)")
                if let at = url.lastIndex(of: "@") {
                    // Credentials stay out of messages, which end up in logs.
                    XCTAssertTrue(message.hasPrefix(url.hasPrefix("rediss") ? "rediss://***" : "redis://***"), message)
                    XCTAssertTrue(message.contains(url[at...]), "the message names the server: \(message)")
                    XCTAssertFalse(message.contains("secret") || message.contains("se%2"), message)
                } else {
                    XCTAssertTrue(message.hasPrefix(url), "the message names the URL: \(message)")
                }
            }
        }
        XCTAssertThrowsError(try RedisClient(url: "redis://h", name: "has space", logger: Logger(label: "t")))
        XCTAssertEqual(try RedisURL(parsing: "redis://[::1]:7000/4"), RedisURL(host: "::1", port: 7000, database: 4))
        XCTAssertEqual(try RedisURL(parsing: "redis://cache"), RedisURL(host: "cache", port: 6379, database: 0))
    }

    func testRefusedPortIsReportedAndCommandsFailAtOnce() throws {
        let port = try Self.portNobodyListensOn()
        let client = try TestRedis.client(self, url: "redis://127.0.0.1:\(port)")
        XCTAssertTrue(waitUntil { client.lastError != nil })
        XCTAssertEqual(client.lastError, .connectionFailed("127.0.0.1:\(port): Connection refused"))
        XCTAssertEqual(client.lastError?.description, "cannot connect to Redis: 127.0.0.1:\(port): Connection refused")
        XCTAssertEqual(client.call(["PING"], seconds: 1), .failure(.disconnected))
        XCTAssertFalse(client.isUp)
    }

    func testStopCallsEveryPendingCallbackExactlyOnce() throws {
        let client = try TestRedis.upClient(self, options: .init(commandTimeout: .seconds(30)))
        let observer = try TestRedis.upClient(self, name: "observer")
        let count = 5_000
        let calls = (0..<count).map { _ in Recorder<Result<RedisReply, RedisError>>() }
        // BLPOP holds the connection's replies, so everything sent after it is surely still in flight at stop.
        client.send(["BLPOP", .init(TestRedis.key("stop")), 0]) { calls[0].record($0) }
        for index in 1..<count { client.send(["PING"]) { calls[index].record($0) } }
        XCTAssertTrue(waitUntil { TestRedis.blockedClients(observer) == 1 }, "BLPOP did not reach the server")
        client.stop()
        XCTAssertEqual(calls.map(\.count), Array(repeating: 1, count: count), "each callback exactly once")
        XCTAssertEqual(calls[0].all, [.failure(.stopped)])
        XCTAssertTrue(calls.allSatisfy { $0.all == [.failure(.stopped)] })
        // After stop, calls fail at once on the caller's thread.
        XCTAssertEqual(client.call(["PING"], seconds: 0), .failure(.stopped))
        client.stop() // twice is harmless
    }

    func testFiftyStartStopCyclesLeaveNoThreadBehind() throws {
        let url = try TestRedis.url()
        let before = Self.threadCount()
        for cycle in 0..<50 {
            let client = try RedisClient(url: url, name: "cycle-\(cycle)", logger: Logger(label: "t"))
            try client.start()
            XCTAssertTrue(waitUntil { client.isUp })
            XCTAssertEqual(client.call(["PING"]), .success(.status("PONG")))
            client.stop()
        }
        XCTAssertTrue(waitUntil { Self.threadCount() <= before }, "threads: \(before) before, \(Self.threadCount()) after")
    }

    func testNeverStartedClientFailsItsCommandsAtStop() throws {
        let client = try RedisClient(url: "redis://127.0.0.1:1", name: "idle", logger: Logger(label: "t"))
        let result = Recorder<Result<RedisReply, RedisError>>()
        client.send(["PING"]) { result.record($0) }
        XCTAssertEqual(result.count, 0)
        client.stop()
        XCTAssertEqual(result.all, [.failure(.stopped)])
    }

    private static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? -1
    }

    /// A loopback port that was free a moment ago: bound by the kernel's choice, then released.
    private static func portNobodyListensOn() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw XCTSkip("cannot bind a loopback port")
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
