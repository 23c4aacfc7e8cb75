import RedisClient
import XCTest

/// What the client does when Redis goes away and comes back: fail fast, report down then up, resubscribe.
/// These tests stop and start the shared test server, and always leave it running.
final class ReconnectTests: XCTestCase {
    func testStoppedRedisFailsCommandsFastAndTheClientComesBack() throws {
        let client = try TestRedis.upClient(self, options: .init(commandTimeout: .seconds(30)))
        let observer = try TestRedis.upClient(self, name: "observer")
        let states = Recorder<Bool>()
        client.onStateChange { states.record($0) }
        let channel = TestRedis.key("after-stop")
        let received = Recorder<Message>(), confirmed = Recorder<Result<Void, RedisError>>()
        client.subscribe([channel], onMessage: { received.record(Message(channel: $0, payload: $1)) },
                         subscribed: { confirmed.record($0) })
        XCTAssertEqual(confirmed.wait().count, 1)

        // A command surely in flight: BLPOP on an empty list waits on the server until the server goes.
        let blocked = Recorder<Result<RedisReply, RedisError>>()
        client.send(["BLPOP", .init(TestRedis.key("never")), 0]) { blocked.record($0) }
        XCTAssertTrue(waitUntil { TestRedis.blockedClients(observer) == 1 }, "BLPOP did not reach the server")

        try TestRedis.control("stop")
        var restarted = false
        defer { if !restarted { try? TestRedis.control("start") } }
        XCTAssertEqual(blocked.wait(), [.failure(.disconnected)])
        XCTAssertTrue(waitUntil { states.all == [false] }, "down must be reported: \(states.all)")

        // While down: a command fails at once, it does not wait for Redis.
        let started = Date()
        XCTAssertEqual(client.call(["PING"], seconds: 1), .failure(.disconnected))
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        XCTAssertFalse(client.isUp)
        guard case .connectionFailed(let why) = client.lastError else { return XCTFail("\(String(describing: client.lastError))") }
        XCTAssertFalse(why.isEmpty)

        try TestRedis.control("start")
        restarted = true
        XCTAssertTrue(waitUntil { states.all == [false, true] }, "up must follow: \(states.all)")
        XCTAssertNil(client.lastError)
        XCTAssertEqual(client.call(["PING"]), .success(.status("PONG")))
        XCTAssertTrue(waitUntil { observer.isUp })
        XCTAssertEqual(observer.call(["PUBLISH", .init(channel), "again"])?.integerValue, 1, "resubscribed when up")
        XCTAssertEqual(received.wait(), [Message(channel: channel, payload: Array("again".utf8))])
    }

    func testRestartedRedisIsReportedDownThenUpAndSubscriptionsResume() throws {
        let client = try TestRedis.upClient(self)
        let publisher = try TestRedis.upClient(self, name: "publisher")
        let states = Recorder<Bool>()
        client.onStateChange { states.record($0) }
        let channel = TestRedis.key("after-restart")
        let received = Recorder<Message>(), confirmed = Recorder<Result<Void, RedisError>>()
        client.subscribe([channel], onMessage: { received.record(Message(channel: $0, payload: $1)) },
                         subscribed: { confirmed.record($0) })
        XCTAssertEqual(confirmed.wait().count, 1)

        try TestRedis.control("restart")
        XCTAssertTrue(waitUntil { states.all == [false, true] }, "down then up: \(states.all)")
        XCTAssertTrue(waitUntil { publisher.isUp && client.isUp })
        XCTAssertEqual(publisher.call(["PUBLISH", .init(channel), "back"])?.integerValue, 1)
        XCTAssertEqual(received.wait(), [Message(channel: channel, payload: Array("back".utf8))])
        XCTAssertEqual(client.call(["PING"]), .success(.status("PONG")))
    }

    func testReplyThatNeverComesTimesOutAndTheClientRecovers() throws {
        let options = RedisClient.Options(connectTimeout: .milliseconds(500), commandTimeout: .milliseconds(300))
        let client = try TestRedis.upClient(self, options: options)
        let pauser = try TestRedis.upClient(self, name: "pauser")
        let states = Recorder<Bool>()
        client.onStateChange { states.record($0) }
        // CLIENT PAUSE holds every other client's commands unanswered, as a hung server would.
        XCTAssertEqual(pauser.call(["CLIENT", "PAUSE", 1500, "ALL"]), .success(.status("OK")))
        let results = Recorder<Result<RedisReply, RedisError>>()
        client.send(["GET", .init(TestRedis.key("paused"))]) { results.record($0) }
        client.send(["GET", .init(TestRedis.key("paused"))]) { results.record($0) }
        XCTAssertEqual(results.wait(for: 2, seconds: 3), [.failure(.timeout), .failure(.disconnected)])
        XCTAssertTrue(waitUntil { states.all.first == false })
        XCTAssertTrue(waitUntil(seconds: 10) { states.all == [false, true] }, "recovers after the pause: \(states.all)")
        XCTAssertEqual(client.call(["PING"]), .success(.status("PONG")))
    }
}
