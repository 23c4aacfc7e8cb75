import XCTest
@testable import Gateway

/// What a connection accepts and how it frames output, by state: the framing survives draining, the
/// application's close refuses its later sends but not the gateway's own control frames.
final class ConnectionStateTests: XCTestCase {
    /// A route application that ignores everything (only the state around it is under test).
    private final class SilentApplication: StreamApplication {
        func streamOpened(_ id: ConnectionID, kind: StreamKind, peer: PeerAddress) {}
        func streamReceived(_ message: ArraySlice<UInt8>, on id: ConnectionID) {}
        func streamLineTooLong(_ id: ConnectionID) {}
        func streamClosed(_ id: ConnectionID, reason: CloseReason) {}
    }

    private func connection(_ door: Connection.Door = .lines) -> Connection {
        Connection(fd: -1, id: ConnectionID(loop: 0, slot: 0, sequence: 1), token: 1, peer: PeerAddress(host: "127.0.0.1", port: 1),
                   door: door, maxQueuedOutputBytes: 100)
    }

    func testNothingIsQueuedBeforeTheFirstByte() {
        let c = connection()
        XCTAssertFalse(c.acceptsOutput)
        XCTAssertFalse(c.acceptsControlFrames)
        XCTAssertNil(c.stream)
    }

    func testJSONLinesKeepTheirFramingWhileDraining() {
        let c = connection()
        c.state = .lines(LineStream(kind: .jsonLines, maxLineBytes: 10))
        XCTAssertEqual(c.outputPart, .line)
        XCTAssertTrue(c.acceptsOutput)
        c.state = .draining(.closedByApplication, was: c.stream)
        XCTAssertEqual(c.outputPart, .line, "output queued before the close keeps its newline")
        XCTAssertTrue(c.acceptsOutput)
        XCTAssertEqual(c.drainingReason, .closedByApplication)
        c.state = .lingering
        XCTAssertFalse(c.acceptsOutput)
        XCTAssertTrue(c.isLingering)
    }

    func testTextLinesAndHTTPSendThePayloadAlone() {
        let lines = connection()
        lines.state = .lines(LineStream(kind: .textLines, maxLineBytes: 10))
        XCTAssertEqual(lines.outputPart, .payload)
        let http = connection(.http)
        http.state = .http(HTTPExchange(parser: HTTPParser(configuration: HTTPParserConfiguration())))
        XCTAssertEqual(http.outputPart, .payload)
        XCTAssertNotNil(http.httpExchange)
    }

    func testAfterTheApplicationsCloseOnlyControlFramesAreTaken() {
        let c = connection(.http)
        let link = WebSocketLink(route: WebSocketRoute(application: SilentApplication()))
        c.state = .webSocket(link)
        XCTAssertEqual(c.outputPart, .webSocketFrame)
        c.isCloseRequested = true
        c.state = .draining(.closedByApplication, was: c.stream)
        XCTAssertFalse(c.acceptsOutput, "a send after the application's close is dropped")
        XCTAssertTrue(c.acceptsControlFrames, "the close handshake still finishes")
        XCTAssertTrue(c.webSocketLink === link)
        XCTAssertEqual(c.outputPart, .webSocketFrame)
        c.state = .closed
        XCTAssertTrue(c.isClosed)
        XCTAssertFalse(c.acceptsControlFrames)
    }

    func testARouteStartsAtItsInitialLimitAndBinaryNeedsABinaryApplication() {
        let limited = WebSocketLink(route: WebSocketRoute(application: SilentApplication(), maxMessageBytes: 1_000,
                                                          initialMessageBytes: 100))
        XCTAssertEqual(limited.session.maxMessageBytes, 100)
        XCTAssertEqual(limited.maxMessageBytes, 1_000)
        XCTAssertNil(limited.binaryApplication)
        let echo = WebSocketLink(route: WebSocketEchoApplication().route)
        XCTAssertEqual(echo.session.maxMessageBytes, WebSocketEchoApplication.maxMessageBytes)
        XCTAssertNotNil(echo.binaryApplication)
    }
}
