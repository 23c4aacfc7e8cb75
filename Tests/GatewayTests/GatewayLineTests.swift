import XCTest
@testable import Gateway

/// Line streams over real sockets: the first-byte kind decision, framing, and the line limit.
final class GatewayLineTests: LiveGatewayTestCase {
    func testFirstByteDecidesTheKind() throws {
        try startServer()
        let (_, json) = try openClient(sending: "{\"type\":\"ping\"}\n")
        let (_, text) = try openClient(sending: "hello there\r\n")
        let (_, empty) = try openClient(sending: "\n")
        let (_, space) = try openClient(sending: " {}\n")
        XCTAssertEqual(app.kind(of: json), .jsonLines)
        XCTAssertEqual(app.kind(of: text), .textLines)
        XCTAssertEqual(app.kind(of: empty), .textLines)
        XCTAssertEqual(app.kind(of: space), .textLines, "only the very first byte counts")
        app.waitUntil("all four lines") {
            self.app.events.filter { if case .received = $0 { true } else { false } }.count == 4
        }
        XCTAssertEqual(app.lines(of: json), ["{\"type\":\"ping\"}"])
        XCTAssertEqual(app.lines(of: text), ["hello there"], "CRLF is stripped")
        XCTAssertEqual(app.lines(of: empty), [""], "an empty first line is delivered")
        XCTAssertEqual(app.lines(of: space), [" {}"])
    }

    func testEchoRoundTrip() throws {
        try startServer(.init(echo: true))
        let (client, _) = try openClient(sending: "one\n")
        client.send("two\r\n\nthree\n")
        XCTAssertEqual(try client.readLine(), "one")
        XCTAssertEqual(try client.readLine(), "two")
        XCTAssertEqual(try client.readLine(), "")
        XCTAssertEqual(try client.readLine(), "three")
    }

    func testLinesSplitAtEveryOffsetOverASocket() throws {
        try startServer()
        let message = Array("alpha\r\n\nbeta\n{\"k\":\"v\"}\n".utf8)
        let expected = ["alpha", "", "beta", "{\"k\":\"v\"}"]
        var clients: [GatewayTestClient] = []
        for offset in 1..<message.count {
            // Open with the prefix alone, so the server's first read cannot contain the rest.
            let (client, id) = try openClient(sending: String(decoding: message[..<offset], as: UTF8.self))
            client.send(Array(message[offset...]))
            app.waitUntil("4 lines at split \(offset)") { self.app.lines(of: id).count >= 4 }
            XCTAssertEqual(app.lines(of: id), expected, "split at \(offset)")
            clients.append(client)
        }
    }

    func testLinesSentOneByteAtATime() throws {
        try startServer(.init(echo: true))
        let (client, id) = try openClient(sending: "{")
        for byte in Array("\"a\":1}\r\nxy\n\n".utf8) { client.send([byte]) }
        XCTAssertEqual(try client.readLine(), "{\"a\":1}")
        XCTAssertEqual(try client.readLine(), "xy")
        XCTAssertEqual(try client.readLine(), "")
        XCTAssertEqual(app.kind(of: id), .jsonLines)
    }

    func testLineOfExactlyTheLimitIsDelivered() throws {
        try startServer()
        let (client, id) = try openClient(sending: "a\n")
        client.send([UInt8](repeating: UInt8(ascii: "x"), count: 65_536) + Array("\nafter\r\n".utf8))
        app.waitUntil("three lines") { self.app.lineLengths(of: id).count == 3 }
        XCTAssertEqual(app.lineLengths(of: id), [1, 65_536, 5])
        XCTAssertFalse(app.events.contains(.lineTooLong(id)))
    }

    func testLineOverTheLimitIsReportedAndTheAnswerArrivesBeforeTheClose() throws {
        try startServer()
        let (client, id) = try openClient(sending: "ok\n")
        // More follows the long line: unread input at close time is what lingering protects against.
        client.send([UInt8](repeating: UInt8(ascii: "y"), count: 65_537) + Array("\nnever\n".utf8)
            + [UInt8](repeating: UInt8(ascii: "z"), count: 100_000))
        XCTAssertEqual(try client.readLine(), "ERROR line too long")
        XCTAssertNil(try client.readLine(), "closed after the error")
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .closedByApplication)
        XCTAssertEqual(app.lines(of: id), ["ok"], "nothing is delivered after the long line")
        XCTAssertEqual(app.events.filter { $0 == .lineTooLong(id) }.count, 1)
    }

    func testLineTooLongLeftOpenByTheAppIsClosedByTheGateway() throws {
        try startServer(.init(answerLineTooLong: false)) { $0.closeFlushTimeout = .milliseconds(200) }
        let (client, id) = try openClient(sending: "{")
        client.send([UInt8](repeating: UInt8(ascii: "y"), count: 70_000))
        app.waitUntil("line too long") { self.app.events.contains(.lineTooLong(id)) }
        XCTAssertTrue(try client.waitForClose())
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .lineTooLong)
    }
}
