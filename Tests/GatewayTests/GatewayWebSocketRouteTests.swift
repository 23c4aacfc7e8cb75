import Foundation
import Gateway
import XCTest

/// WebSocket routes on the real event loops: each path's own application and limits, the ready-made echo
/// application, and the order of an application's reply and the gateway's own frames from the same read.
final class GatewayWebSocketRouteTests: LiveGatewayTestCase {
    var httpPort = 0
    /// The application of the `/ws/other` route (`app` is the gateway's own, behind `/ws`).
    var routeApp: RecordingApplication!

    override func tearDown() {
        super.tearDown()
        routeApp = nil
    }

    /// Starts a gateway with `/ws` (the recording `app`), `/ws/echo` and `/ws/other` (a second recording app
    /// limited to 16-byte messages, binary refused).
    func startRoutes() throws {
        app = RecordingApplication()
        routeApp = RecordingApplication()
        let echo = WebSocketEchoApplication()
        var http = HTTPServerConfiguration(port: 0)
        http.webSocketRoutes["/ws/echo"] = echo.route
        http.webSocketRoutes["/ws/other"] = WebSocketRoute(application: routeApp, maxMessageBytes: 16)
        server = GatewayServer(configuration: GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 2),
                               application: app, http: http, logger: Self.quietLogger)
        app.attach(server)
        routeApp.attach(server)
        echo.attach(server)
        port = try server.start()
        httpPort = try XCTUnwrap(server.httpPort)
    }

    private func upgradedClient(path: String) throws -> GatewayTestClient {
        let c = try GatewayTestClient(port: httpPort)
        c.send("GET \(path) HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        var head = ""
        while !head.hasSuffix("\r\n\r\n") { head += String(decoding: try c.read(count: 1), as: UTF8.self) }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101"), head)
        return c
    }

    /// A masked client frame (FIN set) with a payload under 126 bytes.
    private func masked(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let key: [UInt8] = [9, 8, 7, 6]
        return [0x80 | opcode, 0x80 | UInt8(payload.count)] + key + payload.enumerated().map { $1 ^ key[$0 % 4] }
    }

    func testEchoRouteSendsTextAndBinaryBackAndTheGatewaysApplicationHearsNothing() throws {
        try startRoutes()
        let c = try upgradedClient(path: "/ws/echo")
        c.send(masked(0x1, Array("héllo".utf8)))
        XCTAssertEqual(try c.read(count: 8), [0x81, 6] + Array("héllo".utf8))
        c.send(masked(0x2, [0, 1, 2, 0xFF]))
        XCTAssertEqual(try c.read(count: 6), [0x82, 4, 0, 1, 2, 0xFF], "binary comes back as binary")
        c.send(masked(0x8, [0x03, 0xE8]))
        XCTAssertEqual(try c.read(count: 4), [0x88, 2, 0x03, 0xE8])
        XCTAssertTrue(try c.waitForClose())
        XCTAssertTrue(app.events.isEmpty, "the gateway's application never sees an echo connection")
    }

    func testAReplyGoesOutBeforeTheCloseFrameAnsweringTheNextFrameOfTheSameRead() throws {
        try startRoutes()
        let c = try upgradedClient(path: "/ws/echo")
        c.send(masked(0x1, Array("one".utf8)) + masked(0x9, Array("p".utf8)) + masked(0x8, [0x03, 0xE8]))
        XCTAssertEqual(try c.read(count: 5), [0x81, 3] + Array("one".utf8), "the echo first")
        XCTAssertEqual(try c.read(count: 3), [0x8A, 1, UInt8(ascii: "p")], "then the pong")
        XCTAssertEqual(try c.read(count: 4), [0x88, 2, 0x03, 0xE8], "then the close frame")
        XCTAssertTrue(try c.waitForClose())
    }

    func testEachRouteHasItsOwnApplicationAndLimits() throws {
        try startRoutes()
        let c = try upgradedClient(path: "/ws/other")
        let id = try XCTUnwrap(routeApp.waitForOpen(number: 1))
        XCTAssertEqual(routeApp.kind(of: id), .webSocket)
        c.send(masked(0x1, Array("sixteen bytes ok".utf8)))
        routeApp.waitUntil("message") { self.routeApp.lines(of: id) == ["sixteen bytes ok"] }
        c.send(masked(0x1, Array("seventeen bytes!!".utf8)))
        XCTAssertEqual(try c.read(count: 4), [0x88, 2, 0x03, 0xF1], "1009: over this route's limit")
        routeApp.waitUntil("closed") { self.routeApp.closeReason(of: id) == .peerClosed }
        XCTAssertTrue(app.events.isEmpty, "the gateway's application never sees another route's connection")
    }

    func testBinaryIsRefusedWhereTheApplicationTakesOnlyText() throws {
        try startRoutes()
        let c = try upgradedClient(path: "/ws/other")
        let id = try XCTUnwrap(routeApp.waitForOpen(number: 1))
        c.send(masked(0x2, [1, 2, 3]))
        let close = try c.read(count: 4)
        XCTAssertEqual(close[0], 0x88)
        XCTAssertEqual(Array(close[2...3]), [0x03, 0xEB], "1003: unsupported data")
        routeApp.waitUntil("closed") { self.routeApp.closeReason(of: id) == .closedByApplication }
        XCTAssertTrue(routeApp.lines(of: id).isEmpty)
    }

    func testAnUnknownWebSocketPathIsNotFound() throws {
        try startRoutes()
        let c = try GatewayTestClient(port: httpPort)
        c.send("GET /ws/nowhere HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        let reply = String(decoding: try c.readToEnd(), as: UTF8.self)
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 404"), reply)
    }
}
