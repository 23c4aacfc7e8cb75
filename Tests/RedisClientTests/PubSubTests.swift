import RedisClient
import XCTest

struct Message: Sendable, Equatable {
    let channel: String
    let payload: [UInt8]
}

/// Pub/sub between two clients, as two cluster nodes use it.
final class PubSubTests: XCTestCase {
    func testMessageGoesFromOneClientToAnother() throws {
        let listener = try TestRedis.upClient(self, name: "listener")
        let speaker = try TestRedis.upClient(self, name: "speaker")
        let channel = TestRedis.key("node-1"), everyone = TestRedis.key("all")
        let received = Recorder<Message>(), confirmed = Recorder<Result<Void, RedisError>>()
        listener.subscribe([channel, everyone], onMessage: { received.record(Message(channel: $0, payload: $1)) },
                           subscribed: { confirmed.record($0) })
        XCTAssertEqual(confirmed.wait().count, 1)
        XCTAssertNoThrow(try confirmed.all.first?.get())

        let payload: [UInt8] = [0, 1, 2, 255, 0] + Array("bonjour".utf8)
        let delivered = Recorder<Result<RedisReply, RedisError>>()
        speaker.publish(channel, payload) { delivered.record($0) }
        speaker.publish(everyone, [42]) { delivered.record($0) }
        XCTAssertEqual(delivered.wait(for: 2).map { $0.integerValue }, [1, 1], "one subscriber got each")
        XCTAssertEqual(received.wait(for: 2), [Message(channel: channel, payload: payload),
                                               Message(channel: everyone, payload: [42])])
    }

    func testUnsubscribedChannelIsNoLongerHeard() throws {
        let listener = try TestRedis.upClient(self)
        let channel = TestRedis.key("gone")
        let confirmed = Recorder<Result<Void, RedisError>>()
        listener.subscribe([channel], onMessage: { _, _ in }, subscribed: { confirmed.record($0) })
        XCTAssertEqual(confirmed.wait().count, 1)
        XCTAssertEqual(listener.call(["PUBLISH", .init(channel), "x"])?.integerValue, 1)
        listener.unsubscribe([channel])
        XCTAssertTrue(waitUntil { listener.call(["PUBLISH", .init(channel), "x"])?.integerValue == 0 })
    }

    func testSubscriptionMadeBeforeStartIsActiveWhenUp() throws {
        let listener = try RedisClient(url: try TestRedis.url(), name: "early", logger: .init(label: "redis-test"))
        addTeardownBlock { listener.stop() }
        let channel = TestRedis.key("early")
        let received = Recorder<Message>()
        listener.subscribe([channel], onMessage: { received.record(Message(channel: $0, payload: $1)) })
        try listener.start()
        XCTAssertTrue(waitUntil { listener.isUp })
        // Up means subscribed: the first publish after it is heard.
        XCTAssertEqual(listener.call(["PUBLISH", .init(channel), "first"])?.integerValue, 1)
        XCTAssertEqual(received.wait(), [Message(channel: channel, payload: Array("first".utf8))])
    }
}
