import RedisClient
import XCTest

/// Commands and replies over a real connection: every reply kind, binary safety, pipelining, databases, scripts.
final class CommandTests: XCTestCase {
    func testEveryReplyKind() throws {
        let client = try TestRedis.upClient(self)
        let key = TestRedis.key("kinds"), list = TestRedis.key("list")
        XCTAssertEqual(client.call(["SET", .init(key), "hello"]), .success(.status("OK")))
        XCTAssertEqual(client.call(["GET", .init(key)]), .success(.bulk(Array("hello".utf8))))
        XCTAssertEqual(client.call(["GET", .init(TestRedis.key("missing"))]), .success(.null))
        XCTAssertEqual(client.call(["INCRBY", .init(TestRedis.key("counter")), 41]), .success(.integer(41)))
        XCTAssertEqual(client.call(["RPUSH", .init(list), "a", "b"]), .success(.integer(2)))
        XCTAssertEqual(client.call(["LRANGE", .init(list), 0, -1]), .success(.array([.bulk([97]), .bulk([98])])))
        XCTAssertEqual(client.call(["EXISTS", .init(list)])?.integerValue, 1)
        guard case .success(.error(let message)) = client.call(["INCR", .init(list)]) else {
            return XCTFail("INCR on a list must be an error reply")
        }
        XCTAssertTrue(message.hasPrefix("WRONGTYPE"), message)
        guard case .success(.error(let unknown)) = client.call(["NO-SUCH-COMMAND"]) else {
            return XCTFail("an unknown command must be an error reply")
        }
        XCTAssertTrue(unknown.contains("unknown command"), unknown)
        // An error reply leaves the connection good.
        XCTAssertEqual(client.call(["PING"]), .success(.status("PONG")))
    }

    func testBinaryKeysAndValuesKeepEveryByte() throws {
        let client = try TestRedis.upClient(self)
        let key = RedisArgument(Array(TestRedis.key("bin").utf8) + [0, 255, 0, 10, 13])
        let value = (0...255).map { UInt8($0) } + [0, 0, 13, 10, 36] // NUL, CR LF and '$' inside the value
        XCTAssertEqual(client.call(["SET", key, RedisArgument(value)]), .success(.status("OK")))
        XCTAssertEqual(client.call(["GET", key]), .success(.bulk(value)))
        XCTAssertEqual(client.call(["STRLEN", key]), .success(.integer(Int64(value.count))))
        XCTAssertEqual(client.call(["SET", key, ""]), .success(.status("OK")))
        XCTAssertEqual(client.call(["GET", key]), .success(.bulk([])))
    }

    func testTenThousandPipelinedCommandsAnswerInOrder() throws {
        let client = try TestRedis.upClient(self)
        let key = RedisArgument(TestRedis.key("pipeline"))
        let replies = Recorder<Int64>()
        for _ in 0..<10_000 {
            client.send(["INCR", key]) { result in
                if case .success(.integer(let value)) = result { replies.record(value) } else { replies.record(-1) }
            }
        }
        let seen = replies.wait(for: 10_000, seconds: 20)
        XCTAssertEqual(seen.count, 10_000)
        XCTAssertEqual(seen, Array(1...10_000), "replies must come back in the order the commands were sent")
    }

    func testDatabaseInURLIsSelected() throws {
        let base = try TestRedis.url()
        let inThree = try TestRedis.upClient(self, url: base + "/3")
        let inZero = try TestRedis.upClient(self, url: base)
        let key = RedisArgument(TestRedis.key("db"))
        XCTAssertEqual(inThree.call(["SET", key, "three"]), .success(.status("OK")))
        XCTAssertEqual(inThree.call(["GET", key]), .success(.bulk(Array("three".utf8))))
        XCTAssertEqual(inZero.call(["GET", key]), .success(.null))
    }

    func testCompareAndSetScriptSurvivesAFlushedScriptCache() throws {
        let client = try TestRedis.upClient(self)
        let claim = RedisScript("""
            if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
            return 0
            """)
        let key = RedisArgument(TestRedis.key("cas"))
        XCTAssertEqual(client.call(["SET", key, "node-a"]), .success(.status("OK")))
        XCTAssertEqual(client.run(claim, keys: [key], arguments: ["node-b", "node-c"]), .success(.integer(0)))
        XCTAssertEqual(client.run(claim, keys: [key], arguments: ["node-a", "node-b"]), .success(.integer(1)))
        XCTAssertEqual(client.call(["GET", key]), .success(.bulk(Array("node-b".utf8))))
        // What a Redis restart does to loaded scripts: the next call meets NOSCRIPT and must still run.
        XCTAssertEqual(client.call(["SCRIPT", "FLUSH"]), .success(.status("OK")))
        XCTAssertEqual(client.run(claim, keys: [key], arguments: ["node-b", "node-a"]), .success(.integer(1)))
        XCTAssertEqual(client.call(["GET", key]), .success(.bulk(Array("node-a".utf8))))
        // A Lua error is the caller's to see.
        let broken = RedisScript("return redis.call('NO-SUCH-COMMAND')")
        guard case .success(.error(let message)) = client.run(broken, keys: [], arguments: []) else {
            return XCTFail("a failing script must give an error reply")
        }
        XCTAssertTrue(message.contains("nknown"), message)
    }

    func testCommandWithoutNameIsRefused() throws {
        let client = try TestRedis.upClient(self)
        XCTAssertEqual(client.call([]), .failure(.invalidCommand("a command needs a name")))
    }
}

extension Result where Success == RedisReply {
    var integerValue: Int64? { (try? get())?.integer }
}
