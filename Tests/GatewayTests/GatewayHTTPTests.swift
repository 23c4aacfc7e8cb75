import Foundation
import Gateway
import Logging
import XCTest

/// The HTTP port on the real event loops: request order with a slow application, the head and keep-alive
/// deadlines, static files, and the WebSocket upgrade with its keepalive pings and close frames.
final class GatewayHTTPTests: LiveGatewayTestCase {
    /// Answers `/slow` late from another thread and `/fast` at once, so ordering is tested across threads.
    final class TestHTTPApplication: HTTPApplication, @unchecked Sendable {
        func handleHTTP(_ request: HTTPRequest, peer: PeerAddress, responder: HTTPResponder) -> Bool {
            switch request.path {
            case "/slow":
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) {
                    responder.respond(.json(status: 200, #"{"which":"slow"}"#))
                }
                return true
            case "/fast":
                responder.respond(.json(status: 200, #"{"which":"fast"}"#))
                return true
            default:
                return false
            }
        }
    }

    var httpPort = 0
    var publicDir = ""

    func startHTTP(configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        publicDir = NSTemporaryDirectory() + "gateway-http-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: publicDir + "/js", withIntermediateDirectories: true)
        try "<!doctype html><title>t</title>".write(toFile: publicDir + "/index.html", atomically: true, encoding: .utf8)
        try "export {}".write(toFile: publicDir + "/js/app.js", atomically: true, encoding: .utf8)
        try "secret".write(toFile: publicDir + "/../gateway-secret.txt", atomically: true, encoding: .utf8)
        try? FileManager.default.createSymbolicLink(atPath: publicDir + "/escape.txt", withDestinationPath: publicDir + "/../gateway-secret.txt")
        var http = HTTPServerConfiguration(port: 0, publicDirectory: publicDir)
        http.headTimeout = .milliseconds(300)
        http.keepAliveTimeout = .milliseconds(400)
        http.webSocketPingInterval = .milliseconds(300)
        configure(&http)
        app = RecordingApplication()
        server = GatewayServer(configuration: GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 2),
                               application: app, http: http, httpApplication: TestHTTPApplication(),
                               logger: Self.quietLogger)
        app.attach(server)
        port = try server.start()
        httpPort = try XCTUnwrap(server.httpPort)
    }

    private func client() throws -> GatewayTestClient { try GatewayTestClient(port: httpPort) }

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testPipelinedResponsesKeepRequestOrderWhenTheFirstIsSlow() throws {
        try startHTTP()
        let c = try client()
        c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /fast HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let all = text(try c.readToEnd())
        let slow = try XCTUnwrap(all.range(of: "slow")), fast = try XCTUnwrap(all.range(of: "fast"))
        let page = try XCTUnwrap(all.range(of: "<!doctype html>"))
        XCTAssertLessThan(slow.lowerBound, fast.lowerBound)
        XCTAssertLessThan(fast.lowerBound, page.lowerBound)
    }

    func testIncompleteHeadGets408AndIsClosed() throws {
        try startHTTP()
        let c = try client()
        c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        let reply = text(try c.readToEnd())
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 408"), reply)
    }

    func testIdleKeepAliveConnectionIsClosedQuietly() throws {
        try startHTTP()
        let c = try client()
        c.send("GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
        let reply = text(try c.readToEnd())
        XCTAssertTrue(reply.hasPrefix("HTTP/1.1 200"))
        XCTAssertEqual(reply.components(separatedBy: "HTTP/1.1 ").count, 2, "one response, then a quiet close")
    }

    func testStaticFilesTypesETagAndNoEscape() throws {
        try startHTTP()
        var c = try client()
        c.send("GET /js/app.js HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        let js = text(try c.readToEnd())
        XCTAssertTrue(js.contains("Content-Type: text/javascript"), js)
        XCTAssertTrue(js.contains("Content-Security-Policy: default-src 'self'"), js)
        for path in ["/escape.txt", "/../gateway-secret.txt", "/%2e%2e/gateway-secret.txt", "/js/%2e%2e/%2e%2e/gateway-secret.txt"] {
            c = try client()
            c.send("GET \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            let reply = text(try c.readToEnd())
            XCTAssertFalse(reply.contains("secret"), path)
            XCTAssertTrue(reply.hasPrefix("HTTP/1.1 404") || reply.hasPrefix("HTTP/1.1 400"), "\(path): \(reply.prefix(40))")
        }
        c = try client()
        c.send("POST /index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(text(try c.readToEnd()).hasPrefix("HTTP/1.1 405"))
    }

    private func upgrade(_ c: GatewayTestClient) throws {
        c.send("GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        var head = ""
        while !head.hasSuffix("\r\n\r\n") { head += text(try c.read(count: 1)) }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101"), head)
    }

    private func maskedText(_ payload: String) -> [UInt8] {
        let bytes = Array(payload.utf8)
        let key: [UInt8] = [1, 2, 3, 4]
        return [0x81, 0x80 | UInt8(bytes.count)] + key + bytes.enumerated().map { $1 ^ key[$0 % 4] }
    }

    func testWebSocketMessagesReachTheAppAndSendsAreFramed() throws {
        try startHTTP()
        let c = try client()
        try upgrade(c)
        let id = try XCTUnwrap(app.waitForOpen(number: 1))
        XCTAssertEqual(app.kind(of: id), .webSocket)
        c.send(maskedText(#"{"hello":1}"#))
        app.waitUntil("message") { self.app.lines(of: id) == [#"{"hello":1}"#] }
        server.send(Outbound("hi"), to: [id])
        XCTAssertEqual(try c.read(count: 4), [0x81, 2] + Array("hi".utf8))
        server.close(id)
        XCTAssertEqual(try c.read(count: 4), [0x88, 2, 0x03, 0xE8], "close frame 1000 after what was sent")
    }

    func testSilentWebSocketIsPingedThenDropped() throws {
        try startHTTP()
        let c = try client()
        try upgrade(c)
        let id = try XCTUnwrap(app.waitForOpen(number: 1))
        XCTAssertEqual(try c.read(count: 2), [0x89, 0], "a ping after the interval")
        XCTAssertTrue(try c.waitForClose(), "dropped after a second interval without any frame")
        app.waitUntil("closed") { self.app.closeReason(of: id) != nil }
    }
}
