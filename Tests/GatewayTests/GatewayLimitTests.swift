import Foundation
import Gateway
import XCTest

/// The gateway's abuse limits over real sockets (docs/SECURITY.md): open connections and new connections per
/// address (refused with a close at accept, counted), the loopback exemption, and the smaller pre-login size
/// limit on lines and WebSocket messages that the application lifts with `setMessageLimit`.
final class GatewayLimitTests: LiveGatewayTestCase {
    func testOpenConnectionsPerAddressAreCappedAndTheSlotComesBackOnClose() throws {
        try startServer { config in
            config.limitLoopback = true
            config.maxConnectionsPerAddress = 3
            config.connectionRatePerAddress = nil
        }
        var clients = try (0..<3).map { _ in try openClient().0 }
        let refused = try connect()
        XCTAssertTrue(try refused.waitForClose(), "accepted and closed at once")
        eventually("counted") { self.server.limitCounters.refusedAddressFull == 1 }
        XCTAssertEqual(app.openedIDs.count, 3, "the application never heard of the refused one")
        clients.removeFirst().reset()
        eventually("the closed socket is released") { self.server.connectionCount == 3 - 1 }
        clients.append(try openClient().0)
        XCTAssertEqual(server.limitCounters.refusedAddressFull, 1)
    }

    func testLoopbackIsExemptByDefault() throws {
        try startServer { config in
            config.maxConnectionsPerAddress = 2
            config.connectionRatePerAddress = ConnectionRate(burst: 2, per: .seconds(60))
        }
        let clients = try (0..<6).map { _ in try openClient().0 }
        XCTAssertEqual(clients.count, 6)
        XCTAssertEqual(server.limitCounters, GatewayLimitCounters())
    }

    func testNewConnectionsPerAddressAreRateLimited() throws {
        try startServer { config in
            config.limitLoopback = true
            config.maxConnectionsPerAddress = nil
            config.connectionRatePerAddress = ConnectionRate(burst: 3, per: .seconds(60))
        }
        for _ in 0..<3 {
            let (client, _) = try openClient()
            client.reset()
        }
        let refused = try connect()
        XCTAssertTrue(try refused.waitForClose())
        eventually("counted") { self.server.limitCounters.refusedAddressRate == 1 }
        XCTAssertEqual(server.limitCounters.refusedAddressFull, 0)
    }

    func testServerWideCapIsCountedToo() throws {
        try startServer { $0.maxConnections = 2 }
        let kept = try (0..<2).map { _ in try openClient().0 }
        let refused = try connect()
        XCTAssertTrue(try refused.waitForClose())
        eventually("counted") { self.server.limitCounters.refusedServerFull == 1 }
        XCTAssertEqual(kept.count, 2)
    }

    func testLinesAreLimitedToTheInitialSizeUntilTheApplicationRaisesIt() throws {
        try startServer { config in
            config.initialMessageBytes = 16
            config.maxLineBytes = 100
        }
        // At the initial limit exactly: delivered. Then raised: a longer line is delivered too.
        let (raised, raisedID) = try openClient(sending: String(repeating: "a", count: 16) + "\n")
        app.waitUntil("first line") { self.app.lines(of: raisedID).count == 1 }
        // As the chat application does: raise, then reply; the client sends more only after the reply, which the
        // loop writes after applying the raise (one FIFO inbox per loop).
        server.setMessageLimit(.max, for: raisedID)
        server.send(Outbound("welcome\n"), to: [raisedID])
        XCTAssertEqual(try raised.readLine(), "welcome")
        raised.send(String(repeating: "b", count: 100) + "\n")
        app.waitUntil("long line after the raise") { self.app.lineLengths(of: raisedID) == [16, 100] }
        // Raised to the configured maximum, not past it; at that limit a too-long line is not a pre-login one.
        raised.send(String(repeating: "c", count: 101) + "\n")
        XCTAssertEqual(try raised.readLine(), "ERROR line too long")
        XCTAssertEqual(server.limitCounters.initialLimitExceeded, 0)
        // Without the raise, one byte over the initial limit is too long, and counted as a pre-login refusal.
        let (early, earlyID) = try openClient(sending: String(repeating: "d", count: 17) + "\n")
        XCTAssertEqual(try early.readLine(), "ERROR line too long")
        XCTAssertTrue(try early.waitForClose())
        app.waitUntil("closed") { self.app.closeReason(of: earlyID) != nil }
        XCTAssertEqual(app.lines(of: earlyID), [])
        XCTAssertEqual(server.limitCounters.initialLimitExceeded, 1)
    }

    func testWebSocketMessagesAreLimitedToTheInitialSizeUntilRaised() throws {
        app = RecordingApplication()
        var config = GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 2)
        config.initialMessageBytes = 32
        server = GatewayServer(configuration: config, application: app, http: HTTPServerConfiguration(port: 0),
                               logger: Self.quietLogger)
        app.attach(server)
        port = try server.start()
        let httpPort = try XCTUnwrap(server.httpPort)

        let early = try GatewayTestClient(port: httpPort)
        try upgrade(early)
        let earlyID = try XCTUnwrap(app.waitForOpen(number: 1))
        early.send(maskedText(String(repeating: "x", count: 33)))
        XCTAssertEqual(try early.read(count: 4), [0x88, 2, 0x03, 0xF1], "1009 over the pre-login limit")
        app.waitUntil("closed") { self.app.closeReason(of: earlyID) != nil }
        XCTAssertEqual(server.limitCounters.initialLimitExceeded, 1)

        let later = try GatewayTestClient(port: httpPort)
        try upgrade(later)
        let laterID = try XCTUnwrap(app.waitForOpen(number: 2))
        later.send(maskedText(String(repeating: "y", count: 32)))
        app.waitUntil("at the limit") { self.app.lineLengths(of: laterID) == [32] }
        server.setMessageLimit(.max, for: laterID)
        server.send(Outbound("welcome"), to: [laterID])
        XCTAssertEqual(try later.read(count: 9), [0x81, 7] + Array("welcome".utf8))
        later.send(maskedText(String(repeating: "z", count: 120)))
        app.waitUntil("raised") { self.app.lineLengths(of: laterID) == [32, 120] }
    }

    func testLimitKeysGroupIPv6BySlash64() {
        XCTAssertEqual(PeerAddress(host: "2001:db8:a:b:1::2", port: 1).limitKey, "2001:db8:a:b::/64")
        XCTAssertEqual(PeerAddress(host: "2001:db8:a:b:ffff::9", port: 1).limitKey, "2001:db8:a:b::/64")
        XCTAssertEqual(PeerAddress(host: "::ffff:192.0.2.4", port: 1).limitKey, "192.0.2.4")
        XCTAssertEqual(PeerAddress(host: "192.0.2.4", port: 1).limitKey, "192.0.2.4")
    }

    private func upgrade(_ c: GatewayTestClient) throws {
        c.send("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        var head = ""
        while !head.hasSuffix("\r\n\r\n") { head += String(decoding: try c.read(count: 1), as: UTF8.self) }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101"), head)
    }

    private func maskedText(_ payload: String) -> [UInt8] {
        let bytes = Array(payload.utf8)
        precondition(bytes.count < 126)
        let key: [UInt8] = [9, 8, 7, 6]
        return [0x81, 0x80 | UInt8(bytes.count)] + key + bytes.enumerated().map { $1 ^ key[$0 % 4] }
    }
}
