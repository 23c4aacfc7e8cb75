import Foundation
import Glibc
import XCTest
@testable import Gateway

/// TLS on the line port over real sockets: the first byte's three-way decision, refusal of plaintext, broken and
/// stalled handshakes, the per-loop handshake bound, large output through partial sends, and certificate reload.
final class GatewayTLSTests: LiveGatewayTestCase {
    private var certificate: TestCertificate!

    override func setUpWithError() throws {
        try super.setUpWithError()
        certificate = try TestCertificate(commonName: "first")
    }

    override func tearDown() {
        super.tearDown()
        certificate?.remove()
    }

    private func startTLSServer(_ behaviour: RecordingApplication.Behaviour = .init(echo: true),
                                configure: (inout GatewayConfiguration) -> Void = { _ in }) throws {
        let files = certificate.files
        try startServer(behaviour) { configuration in
            configuration.tls = files
            configure(&configuration)
        }
    }

    private var tls: GatewayTLSStatistics { server.tlsStatistics ?? GatewayTLSStatistics() }

    func testTLSThenTheFirstDecryptedByteDecidesJSONOrText() throws {
        try startTLSServer()
        let json = try TLSTestClient(port: port, caFile: certificate.certificateFile)
        json.send("{\"type\":\"ping\"}\n")
        XCTAssertEqual(try json.readLine(), "{\"type\":\"ping\"}")
        let jsonID = try XCTUnwrap(app.waitForOpen(number: 1))
        let text = try TLSTestClient(port: port, caFile: certificate.certificateFile)
        text.send("hello over tls\r\n")
        XCTAssertEqual(try text.readLine(), "hello over tls")
        let textID = try XCTUnwrap(app.waitForOpen(number: 2))
        XCTAssertEqual(app.kind(of: jsonID), .jsonLines)
        XCTAssertEqual(app.kind(of: textID), .textLines)
        XCTAssertEqual(json.peerCommonName, "first")
        XCTAssertEqual(tls.handshakesCompleted, 2)
        XCTAssertEqual(tls.connectionsOpen, 2)
    }

    func testPlaintextStillServedBesideTLS() throws {
        try startTLSServer()
        let (client, id) = try openClient(sending: "plain\n")
        XCTAssertEqual(try client.readLine(), "plain")
        XCTAssertEqual(app.kind(of: id), .textLines)
        XCTAssertEqual(tls.connectionsOpen, 0)
    }

    func testTLS12IsAcceptedAndTheProtocolFloorHolds() throws {
        try startTLSServer()
        let old = try TLSTestClient(port: port, maxVersion: 0x0303)
        XCTAssertEqual(old.version, "TLSv1.2")
        old.send("one-two\n")
        XCTAssertEqual(try old.readLine(), "one-two")
        XCTAssertThrowsError(try TLSTestClient(port: port, maxVersion: 0x0302), "TLS 1.1 is refused")
        eventually("the refused handshake counted") { self.tls.handshakesFailed == 1 }
    }

    func testRequireTLSAnswersPlaintextWithOneLineThenCloses() throws {
        try startTLSServer { $0.requireTLS = true }
        let client = try connect()
        client.send("login alice secret\n")
        XCTAssertEqual(try client.readLine(), "Error. TLS required")
        XCTAssertNil(try client.readLine(), "closed after the line")
        XCTAssertTrue(app.openedIDs.isEmpty, "the application never hears of it")
        XCTAssertEqual(tls.plaintextRefused, 1)
        let secure = try TLSTestClient(port: port)
        secure.send("still fine\n")
        XCTAssertEqual(try secure.readLine(), "still fine")
    }

    func testGarbageAfterAHandshakeByteIsClosedAndTheServerCarriesOn() throws {
        try startTLSServer()
        let client = try connect()
        client.send([0x16] + Array("this is not a ClientHello at all\r\n\r\n".utf8) + [UInt8](repeating: 0xFF, count: 600))
        XCTAssertTrue(try client.waitForClose())
        eventually("failure counted") { self.tls.handshakesFailed == 1 }
        let secure = try TLSTestClient(port: port)
        secure.send("after garbage\n")
        XCTAssertEqual(try secure.readLine(), "after garbage")
        eventually("the garbage connection's slot is free") { self.tls.connectionsOpen == 1 }
    }

    func testMoreThanAFirstFlightBeforeTheHandshakeEndsIsNotBuffered() throws {
        try startTLSServer { configuration in
            configuration.loopCount = 1
            configuration.maxHandshakesPerLoop = 1
        }
        // A record header promising 16 KiB, then far more than any ClientHello, in slot and in queue alike.
        let holder = try connect()
        holder.send([0x16, 0x03, 0x01, 0x40, 0x00])
        eventually("the holder has the slot") { self.tls.connectionsOpen == 1 }
        let flooder = try connect()
        flooder.send([0x16, 0x03, 0x01, 0x40, 0x00] + [UInt8](repeating: 0x41, count: 40_000))
        holder.send([UInt8](repeating: 0x42, count: 40_000))
        XCTAssertTrue(try flooder.waitForClose())
        XCTAssertTrue(try holder.waitForClose())
        eventually("both counted as failed") { self.tls.handshakesFailed == 2 }
    }

    func testAStalledHandshakeIsClosedAtTheDeadline() throws {
        try startTLSServer { $0.firstByteTimeout = .milliseconds(400) }
        let client = try connect()
        // The first 5 bytes of a record header promising 512 bytes, then nothing.
        client.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        let started = Date()
        XCTAssertTrue(try client.waitForClose())
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        eventually("timeout counted") { self.tls.handshakesTimedOut == 1 }
        XCTAssertEqual(tls.handshakesFailed, 0)
    }

    func testHandshakesBeyondTheLoopsBoundWaitForASlot() throws {
        try startTLSServer { configuration in
            configuration.loopCount = 1
            configuration.maxHandshakesPerLoop = 1
        }
        let staller = try connect()
        staller.send([0x16, 0x03, 0x01, 0x02, 0x00])
        eventually("the staller holds the only slot") { self.tls.connectionsOpen == 1 }
        let finished = WaitableCounter()
        let port = self.port
        Thread.detachNewThread {
            if let waiting = try? TLSTestClient(port: port) {
                waiting.send("admitted\n")
                if (try? waiting.readLine()) == "admitted" { finished.increment() }
            }
        }
        usleep(300_000)
        XCTAssertEqual(tls.handshakesCompleted, 0, "the second handshake waits while the slot is taken")
        // A plaintext stream on the same loop is not held up by the queued handshake.
        let (plain, _) = try openClient(sending: "plain\n")
        XCTAssertEqual(try plain.readLine(), "plain")
        staller.reset()
        XCTAssertTrue(finished.wait(atLeast: 1), "the queued handshake completes once the slot frees")
        XCTAssertEqual(tls.handshakesCompleted, 1)
        XCTAssertEqual(tls.handshakesFailed, 1)
    }

    func testLargeOutputCrossesPartialSendsWhole() throws {
        try startTLSServer()
        let client = try TLSTestClient(port: port, receiveBuffer: 4096)
        let line = String(repeating: "0123456789abcdef", count: 4000)  // 64 000 bytes
        client.send(line + "\n" + line + "\n")
        XCTAssertEqual(try client.readLine(), line)
        XCTAssertEqual(try client.readLine(), line)
    }

    func testManySmallMessagesShareRecordsAndWrites() throws {
        try startTLSServer(.init())
        let client = try TLSTestClient(port: port)
        client.send("open\n")
        let id = try XCTUnwrap(app.waitForOpen(number: 1))
        let before = server.outputStatistics
        let messages = (0..<200).map { Outbound("message \($0)\n") }
        for message in messages { server.send(message, to: [id]) }
        for index in 0..<200 { XCTAssertEqual(try client.readLine(), "message \(index)") }
        // The tallies are published at the end of the loop's tick, which may follow the client's read.
        eventually("all frames counted") { self.server.outputStatistics.framesWritten - before.framesWritten == 200 }
        let after = server.outputStatistics
        XCTAssertLessThan(after.writeCalls - before.writeCalls, 200, "messages of one tick leave in one write")
    }

    func testReloadServesTheNewCertificateToNewConnectionsOnly() throws {
        try startTLSServer()
        let old = try TLSTestClient(port: port)
        old.send("before\n")
        XCTAssertEqual(try old.readLine(), "before")
        try certificate.write(commonName: "second")
        try server.reloadTLS()
        let new = try TLSTestClient(port: port, caFile: certificate.certificateFile)
        XCTAssertEqual(new.peerCommonName, "second")
        XCTAssertEqual(old.peerCommonName, "first")
        old.send("after\n")
        XCTAssertEqual(try old.readLine(), "after", "an open connection keeps its session")
        XCTAssertEqual(tls.reloads, 1)

        try "not a key".write(toFile: certificate.keyFile, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try server.reloadTLS(), "a bad key is refused")
        let third = try TLSTestClient(port: port)
        XCTAssertEqual(third.peerCommonName, "second", "the context in use stays")
        XCTAssertEqual(tls.reloads, 1)
    }

    func testAMissingCertificateStopsTheStart() throws {
        var configuration = GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 1)
        configuration.tls = TLSFiles(certificateFile: certificate.directory.path + "/missing.pem",
                                     keyFile: certificate.keyFile)
        let gateway = GatewayServer(configuration: configuration, application: RecordingApplication(),
                                    logger: Self.quietLogger)
        XCTAssertThrowsError(try gateway.start()) { error in
            guard case GatewayError.tlsSetup(let reason)? = error as? GatewayError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(reason.contains("missing.pem"), reason)
        }
    }

    func testRequireTLSWithoutACertificateIsRejected() {
        var configuration = GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 1)
        configuration.requireTLS = true
        XCTAssertThrowsError(try configuration.validate())
    }
}
