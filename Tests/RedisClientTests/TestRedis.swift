import Foundation
import Glibc
import Logging
import ParleySupport
import RedisClient
import XCTest

/// The throwaway redis-server scripts/test starts (`PARLEY_TEST_REDIS`, `PARLEY_TEST_REDIS_DIR`); tests that need
/// it skip when it is not there.
enum TestRedis {
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS"], !url.isEmpty else {
            throw XCTSkip("PARLEY_TEST_REDIS is not set (scripts/test starts a throwaway Redis)")
        }
        return url
    }

    /// Runs `scripts/throwaway-redis ACTION DIR` on the test server (stop, start, restart) and waits for it.
    static func control(_ action: String) throws {
        guard let directory = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS_DIR"], !directory.isEmpty else {
            throw XCTSkip("PARLEY_TEST_REDIS_DIR is not set (scripts/test starts a throwaway Redis)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/throwaway-redis").path
        // posix_spawn and waitpid, not Foundation's Process: its exit monitoring can miss the end of a script
        // whose own child (the server) lives on in a new session.
        let arguments = [script, action, directory]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        let spawned = posix_spawn(&child, script, &actions, nil, &argv, environ)
        guard spawned == 0 else { throw XCTSkip("cannot run \(script): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw XCTSkip("scripts/throwaway-redis \(action) failed (wait status \(status))") }
    }

    /// A started client, stopped when the test ends.
    static func client(_ test: XCTestCase, url: String? = nil, name: String = "test",
                       options: RedisClient.Options = .init()) throws -> RedisClient {
        let client = try RedisClient(url: url ?? self.url(), name: name, logger: Logger(label: "redis-test"),
                                     options: options)
        try client.start()
        test.addTeardownBlock { client.stop() }
        return client
    }

    /// A started client that is up.
    static func upClient(_ test: XCTestCase, url: String? = nil, name: String = "test",
                         options: RedisClient.Options = .init()) throws -> RedisClient {
        let client = try client(test, url: url, name: name, options: options)
        XCTAssertTrue(waitUntil { client.isUp }, "the client did not come up: \(String(describing: client.lastError))")
        return client
    }

    /// How many clients wait in a blocking command (BLPOP) on the server now.
    static func blockedClients(_ observer: RedisClient) -> Int? {
        guard case .success(.bulk(let bytes)) = observer.call(["INFO", "clients"]) else { return nil }
        let line = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("blocked_clients:") }
        return line.flatMap { Int($0.dropFirst("blocked_clients:".count)) }
    }

    /// Key names no other test run uses, so tests share one server without flushing it.
    static func key(_ name: String) -> String { "test:\(getpid()):\(UInt32.random(in: 0...UInt32.max)):\(name)" }
}

/// Polls `condition` until it holds or `seconds` pass: the way tests wait for another thread, never a fixed sleep.
func waitUntil(seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
        if Date() >= deadline { return false }
        usleep(1_000)
    }
    return true
}

/// Values recorded from the client thread, read by the test thread.
final class Recorder<Value: Sendable>: Sendable {
    private let values = PThreadMutex<[Value]>([])

    func record(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
    var count: Int { values.withLock { $0.count } }

    /// Waits for at least `count` values and returns them (fewer if the time ran out).
    func wait(for count: Int = 1, seconds: Double = 5) -> [Value] {
        _ = waitUntil(seconds: seconds) { self.count >= count }
        return all
    }
}

extension RedisClient {
    /// Sends one command and waits for its result (for tests; the client itself never blocks a caller).
    func call(_ arguments: [RedisArgument], seconds: Double = 5) -> Result<RedisReply, RedisError>? {
        let result = Recorder<Result<RedisReply, RedisError>>()
        send(arguments) { result.record($0) }
        return result.wait(seconds: seconds).first
    }

    /// Like `call`, for a script.
    func run(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) -> Result<RedisReply, RedisError>? {
        let result = Recorder<Result<RedisReply, RedisError>>()
        script.run(on: self, keys: keys, arguments: arguments) { result.record($0) }
        return result.wait().first
    }
}
