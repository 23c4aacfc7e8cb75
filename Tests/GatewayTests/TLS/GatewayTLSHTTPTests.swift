import Foundation
import Glibc
import XCTest
@testable import Gateway

/// TLS on the HTTP port: pipelined requests that pause reading while OpenSSL still holds their bytes, the
/// 426 refusal of plaintext, and the head deadline bounding the handshake.
final class GatewayTLSHTTPTests: XCTestCase {
    private var server: GatewayServer!
    private var certificate: TestCertificate!
    private var httpPort = 0

    /// Answers every request later, from another thread, with its own path: so requests pile up while the
    /// application works, and the connection stops reading at 32 queued (`HTTPExchange.maxQueuedRequests`).
    private final class LaterApplication: HTTPApplication {
        func handleHTTP(_ request: HTTPRequest, peer: PeerAddress, responder: HTTPResponder) -> Bool {
            let body = Array(request.path.utf8)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(1)) {
                responder.respond(HTTPResponse(status: 200, body: body))
            }
            return true
        }
    }

    private func start(requireTLS: Bool = false, headTimeout: Duration = .seconds(10)) throws {
        certificate = try TestCertificate(commonName: "web")
        var configuration = GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 2)
        configuration.tls = certificate.files
        configuration.requireTLS = requireTLS
        var http = HTTPServerConfiguration(port: 0)
        http.headTimeout = headTimeout
        server = GatewayServer(configuration: configuration, application: RecordingApplication(), http: http,
                               httpApplication: LaterApplication(), logger: LiveGatewayTestCase.quietLogger)
        _ = try server.start()
        httpPort = try XCTUnwrap(server.httpPort)
    }

    override func tearDown() {
        server?.stop()
        server = nil
        certificate?.remove()
        super.tearDown()
    }

    func testPipelinedRequestsOverTLSAreAllAnsweredInOrderAcrossReadingPauses() throws {
        try start()
        let client = try TLSTestClient(port: httpPort, caFile: certificate.certificateFile)
        let count = 100
        // One TLS write of several records (about 50 KB): the first record alone holds more than 32 requests, so
        // the connection stops reading while the later records sit in OpenSSL, where epoll cannot see them.
        let padding = String(repeating: "p", count: 450)
        client.send((0..<count).map { "GET /r\($0) HTTP/1.1\r\nHost: t\r\nX-Padding: \(padding)\r\n\r\n" }.joined())
        var bodies: [String] = []
        while bodies.count < count {
            var head: [String] = []
            while let line = try client.readLine(), !line.isEmpty { head.append(line) }
            XCTAssertEqual(head.first, "HTTP/1.1 200 OK")
            let length = try XCTUnwrap(head.first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) })
            bodies.append(String(decoding: try client.read(count: length), as: UTF8.self))
        }
        XCTAssertEqual(bodies, (0..<count).map { "/r\($0)" })
    }

    func testPlaintextGets426NamingTLSWhenTLSIsRequired() throws {
        try start(requireTLS: true)
        let client = try GatewayTestClient(port: httpPort)
        client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = String(decoding: try client.readToEnd(), as: UTF8.self)
        XCTAssertTrue(response.hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"), response)
        XCTAssertTrue(response.contains("\r\nUpgrade: TLS/1.2\r\n"), response)
        XCTAssertTrue(response.contains("\r\nConnection: Upgrade, close\r\n"), response)
        XCTAssertEqual(server.tlsStatistics?.plaintextRefused, 1)
        let secure = try TLSTestClient(port: httpPort, caFile: certificate.certificateFile)
        secure.send("GET /fine HTTP/1.1\r\nHost: t\r\n\r\n")
        XCTAssertEqual(try secure.readLine(), "HTTP/1.1 200 OK")
    }

    func testTheHeadDeadlineBoundsTheHandshake() throws {
        try start(headTimeout: .milliseconds(300))
        let client = try GatewayTestClient(port: httpPort)
        client.send([0x16, 0x03, 0x01, 0x01, 0x00])
        XCTAssertTrue(try client.waitForClose())
        let deadline = Date(timeIntervalSinceNow: 5)
        while server.tlsStatistics?.handshakesTimedOut != 1, Date() < deadline { usleep(1_000) }
        XCTAssertEqual(server.tlsStatistics?.handshakesTimedOut, 1)
    }
}
