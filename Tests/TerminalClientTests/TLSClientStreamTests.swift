import XCTest
@testable import CLI
import COpenSSL
import Glibc

/// The client side's TLS over real loopback sockets, against servers that do not speak TLS (the handshakes that
/// succeed, and the certificate checks, run against the real server in tests/e2e/test_tls_client.py): every
/// failure comes back as a sentence, the handshake never blocks past its time, and the wording of refusals.
final class TLSClientStreamTests: XCTestCase {
    func testAPlaintextAnswerIsReportedAsNotTLS() throws {
        let (client, server) = try connectedPair()
        let stream = try TLSClientStream(socket: client, context: TLSClientContext(trust: .none), serverName: "127.0.0.1")
        XCTAssertNotEqual(fcntl(client.fd, F_GETFL) & O_NONBLOCK, 0, "the stream drives a non-blocking socket")
        XCTAssertEqual(stream.handshake(), .waitFor(Int16(POLLIN)), "the ClientHello went out; now the answer")
        XCTAssertTrue(server.writeAll(Array("Error. Invalid command\nmore text to fill a record header\n".utf8)))
        XCTAssertThrowsError(try stream.handshake(timeoutMilliseconds: 2000)) {
            XCTAssertTrue(($0 as? ConnectFailure)?.description.hasPrefix("the server did not answer in TLS") == true,
                          "\($0)")
        }
    }

    func testAServerThatClosesDuringTheHandshakeIsSaidSo() throws {
        let (client, server) = try connectedPair()
        let stream = try TLSClientStream(socket: client, context: TLSClientContext(trust: .none), serverName: "localhost")
        server.close()
        XCTAssertThrowsError(try stream.handshake(timeoutMilliseconds: 2000)) {
            XCTAssertTrue(($0 as? ConnectFailure)?.description.contains("closed the connection during the handshake") == true,
                          "\($0)")
        }
    }

    func testASilentServerRunsTheHandshakeOutOfTime() throws {
        let (client, server) = try connectedPair()
        let stream = try TLSClientStream(socket: client, context: TLSClientContext(trust: .none), serverName: "127.0.0.1")
        let start = ContinuousClock.now
        XCTAssertThrowsError(try stream.handshake(timeoutMilliseconds: 300)) {
            XCTAssertEqual(($0 as? ConnectFailure)?.description, "the TLS handshake did not finish in time")
        }
        XCTAssertLessThan(start.duration(to: .now), .seconds(2))
        withExtendedLifetime(server) {}
    }

    func testReadsAndWritesBeforeTheHandshakeEndWouldBlockWithTheEventToWaitFor() throws {
        let (client, server) = try connectedPair()
        let stream = try TLSClientStream(socket: client, context: TLSClientContext(trust: .none), serverName: "127.0.0.1")
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(buffer.withUnsafeMutableBytes { stream.read(into: $0) }, .wouldBlock)
        XCTAssertEqual(stream.readWaitsFor, Int16(POLLIN))
        XCTAssertFalse(stream.hasBufferedInput)
        withExtendedLifetime(server) {}
    }

    func testACAFileThatCannotBeReadIsNamed() {
        XCTAssertThrowsError(try TLSClientContext(trust: .caFile("/nonexistent/ca.pem"))) {
            XCTAssertEqual(($0 as? ConnectFailure)?.description,
                           "cannot read the CA file /nonexistent/ca.pem: No such file or directory")
        }
    }

    func testTheSystemStoreLoadsAndVerifies() throws {
        XCTAssertTrue(try TLSClientContext(trust: .systemStore).verifies)
        XCTAssertFalse(try TLSClientContext(trust: .none).verifies)
    }

    func testRefusedCertificatesSayWhyAndWhatToDo() {
        XCTAssertEqual(TLSClientStream.verificationFailure(Int(X509_V_ERR_HOSTNAME_MISMATCH), serverName: "chat.lan"),
                       "the server's certificate is not valid for chat.lan (hostname mismatch)")
        XCTAssertTrue(TLSClientStream.verificationFailure(Int(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), serverName: "x")
            .hasSuffix("trust its CA with --ca FILE"))
        XCTAssertTrue(TLSClientStream.verificationFailure(Int(X509_V_ERR_CERT_HAS_EXPIRED), serverName: "x")
            .contains("validity period"))
    }

    func testAddressesAreToldFromNames() {
        XCTAssertTrue(TLSClientStream.isIPAddress("127.0.0.1"))
        XCTAssertTrue(TLSClientStream.isIPAddress("::1"))
        XCTAssertFalse(TLSClientStream.isIPAddress("localhost"))
        XCTAssertFalse(TLSClientStream.isIPAddress("chat.example.org"))
    }

    // MARK: Helpers

    private func connectedPair() throws -> (client: ClientSocket, server: ClientSocket) {
        let listener = try XCTUnwrap(ClientSocketTests.loopbackListener())
        let client = try ClientSocket.connect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2000)
        var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
        XCTAssertEqual(poll(&fds, 1, 2000), 1)
        let server = try XCTUnwrap(listener.acceptAll().first)
        return (client, server)
    }
}
