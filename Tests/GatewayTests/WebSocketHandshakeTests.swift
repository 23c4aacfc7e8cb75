import XCTest
@testable import Gateway

/// The opening handshake (RFC 6455 §4.2): the accept value, each refusal with its status, the
/// Origin policy, and the hand-off from the HTTP parser to a session.
final class WebSocketHandshakeTests: XCTestCase {
    private let rfcKey = "dGhlIHNhbXBsZSBub25jZQ=="

    private func upgradeRequest(_ extra: [(String, String)] = [], removing: Set<String> = [],
                                method: HTTPMethod = .get, version: HTTPVersion = .http1_1) -> HTTPRequest {
        var pairs = [("Host", "chat.example:8080"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                     ("Sec-WebSocket-Key", rfcKey), ("Sec-WebSocket-Version", "13")]
        pairs.removeAll { removing.contains($0.0) }
        return HTTPRequest(method: method, target: "/ws", version: version, headers: HTTPHeaders(pairs + extra))
    }

    private func status(_ result: WebSocketHandshake.Result) -> Int {
        switch result {
        case .accept(let response), .reject(let response): response.status
        }
    }

    func testRFCExampleAcceptValue() {
        XCTAssertEqual(WebSocketHandshake.acceptValue(forKey: rfcKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    func testValidRequestIsAcceptedWithAByteExact101() {
        guard case .accept(let response) = WebSocketHandshake().evaluate(upgradeRequest()) else {
            return XCTFail("expected accept")
        }
        let bytes = response.serialize(keepAlive: true, date: "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n")
    }

    func testTokensAreCaseInsensitiveAndMayBeInLists() {
        let request = upgradeRequest([("Connection", "keep-alive, UPGRADE"), ("Upgrade", "WebSocket")],
                                     removing: ["Connection", "Upgrade"])
        XCTAssertEqual(status(WebSocketHandshake().evaluate(request)), 101)
    }

    func testRefusals() {
        let handshake = WebSocketHandshake()
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(method: .post))), 405)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(version: .http1_0))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(removing: ["Upgrade"]))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest([("Upgrade", "h2c")], removing: ["Upgrade"]))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(removing: ["Connection"]))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(removing: ["Host"]))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest(removing: ["Sec-WebSocket-Key"]))), 400)
        XCTAssertEqual(status(handshake.evaluate(upgradeRequest([("Sec-WebSocket-Key", rfcKey)]))), 400, "two keys")
    }

    func testKeyMustBeSixteenBytesOfBase64() {
        let handshake = WebSocketHandshake()
        for key in ["dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25j", "AAAAAAAAAAAAAAAAAAAAAAAA",
                    "dGhlIHNhbXBsZSBub25jZQ==x", "dGhlIHNhbXBsZSBub25j*Q==", "", "dGhlIHNhbXBsZSBub25jZSE="] {
            let request = upgradeRequest([("Sec-WebSocket-Key", key)], removing: ["Sec-WebSocket-Key"])
            XCTAssertEqual(status(handshake.evaluate(request)), 400, key)
        }
        let other = upgradeRequest([("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA==")], removing: ["Sec-WebSocket-Key"])
        XCTAssertEqual(status(handshake.evaluate(other)), 101)
    }

    func testWrongOrMissingVersionGets426NamingVersion13() {
        for version in [["8"], ["12"], ["13", "8"], []] {
            let request = upgradeRequest(version.map { ("Sec-WebSocket-Version", $0) }, removing: ["Sec-WebSocket-Version"])
            guard case .reject(let response) = WebSocketHandshake().evaluate(request) else { return XCTFail("\(version)") }
            XCTAssertEqual(response.status, 426)
            XCTAssertEqual(response.headers["Sec-WebSocket-Version"], "13")
            XCTAssertTrue(response.closeConnection)
        }
    }

    func testOriginPolicy() {
        let handshake = WebSocketHandshake(allowedOrigins: ["https://app.example"])
        let cases: [(String?, Int)] = [
            (nil, 101),                                 // non-browser clients send none
            ("http://chat.example:8080", 101),          // same host over http
            ("https://CHAT.example:8080", 101),         // over https, case-insensitive
            ("https://app.example", 101),               // listed
            ("http://chat.example", 403),               // port differs
            ("https://evil.example", 403),
            ("null", 403),
        ]
        for (origin, expected) in cases {
            let request = upgradeRequest(origin.map { [("Origin", $0)] } ?? [])
            XCTAssertEqual(status(handshake.evaluate(request)), expected, origin ?? "no Origin")
        }
    }

    func testRefusalsCloseTheConnectionWithAJSONBody() {
        guard case .reject(let response) = WebSocketHandshake().evaluate(upgradeRequest([("Origin", "https://evil.example")])) else {
            return XCTFail("expected reject")
        }
        XCTAssertEqual(response.status, 403)
        XCTAssertTrue(response.closeConnection)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self),
                       #"{"error":{"code":"forbidden_origin","message":"Origin not allowed"}}"#)
        let text = String(decoding: response.serialize(for: upgradeRequest(), date: "D"), as: UTF8.self)
        XCTAssertTrue(text.contains("\r\nConnection: close\r\n"))
    }

    func testFromRawBytesToTheFirstFrame() {
        let head = "GET /ws HTTP/1.1\r\nHost: localhost:9000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(rfcKey)\r\nSec-WebSocket-Version: 13\r\nOrigin: http://localhost:9000\r\n\r\n"
        let input = Array(head.utf8) + makeClientFrame(0x1, Array("hi".utf8))
        for (name, chunks) in [("whole", Chunking.whole(input))] + Chunking.all(input) {
            let result = HTTPParserTests.feed(chunks, HTTPParserConfiguration())
            guard case .upgrade(let leftover) = result.outcome, let request = result.requests.first else {
                return XCTFail("\(name): expected an upgrade, got \(result.outcome)")
            }
            XCTAssertEqual(status(WebSocketHandshake().evaluate(request)), 101, name)
            XCTAssertEqual(WebSocketSession().receive(leftover), [.text(Array("hi".utf8))], name)
        }
    }
}
