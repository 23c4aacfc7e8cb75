import XCTest
@testable import CLI
import Glibc

/// The client side's socket type over real loopback sockets: connecting (waiting and not), the typed results
/// of reads and writes, the listener, and the names errors are reported by.
final class ClientSocketTests: XCTestCase {
    func testAWaitingConnectGivesABlockingSocketThatTalks() throws {
        let listener = try XCTUnwrap(Self.loopbackListener())
        let client = try ClientSocket.connect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2000)
        let server = try XCTUnwrap(acceptOne(listener))
        XCTAssertEqual(fcntl(client.fd, F_GETFL) & O_NONBLOCK, 0, "blocking again once connected")
        XCTAssertTrue(client.writeAll(Array("ping\n".utf8)))
        XCTAssertTrue(waitFor(POLLIN, on: server.fd))
        XCTAssertEqual(read(server), .bytes(5))
        server.shutdownWrite()
        XCTAssertEqual(read(client), .closed, "the end of the stream")
    }

    func testARefusedConnectSaysSoInTheSystemsWords() throws {
        let port = try XCTUnwrap(Self.loopbackListener()).port  // closed again at once: nobody listens there
        XCTAssertThrowsError(try ClientSocket.connect(host: "127.0.0.1", port: port, timeoutMilliseconds: 2000)) {
            XCTAssertEqual(($0 as? ConnectFailure)?.description,
                           "cannot connect to 127.0.0.1 port \(port): Connection refused")
        }
    }

    func testANonBlockingConnectAndItsTypedResults() throws {
        let listener = try XCTUnwrap(Self.loopbackListener())
        let client: ClientSocket
        switch ClientSocket.startConnecting(numericHost: "127.0.0.1", port: listener.port) {
        case .connected(let socket), .inProgress(let socket): client = socket
        case .failed: return XCTFail("could not start")
        }
        XCTAssertTrue(waitFor(POLLOUT, on: client.fd))
        XCTAssertNil(client.connectError)
        let server = try XCTUnwrap(acceptOne(listener))
        XCTAssertEqual(read(client), .wouldBlock, "nothing sent yet")
        XCTAssertTrue(server.writeAll([1, 2, 3]))
        XCTAssertTrue(waitFor(POLLIN, on: client.fd))
        XCTAssertEqual(read(client), .bytes(3))
        server.close()
        // The first write may still be taken; once the reset is back, writes say the peer is gone (no SIGPIPE).
        var result = IOResult.bytes(0)
        for _ in 0..<50 {
            result = [UInt8](repeating: 0, count: 1024).withUnsafeBytes { client.write($0) }
            if case .bytes = result { usleep(10_000) } else { break }
        }
        XCTAssertTrue(result == .closed || result == .failed(OSError(code: ECONNRESET)), "\(result)")
    }

    func testANonBlockingConnectToNobodyReportsTheRefusal() throws {
        let port = try XCTUnwrap(Self.loopbackListener()).port
        guard case .inProgress(let client) = ClientSocket.startConnecting(numericHost: "127.0.0.1", port: port) else {
            return  // refused on the spot: nothing left to observe
        }
        XCTAssertTrue(waitFor(POLLOUT, on: client.fd))
        let error = client.connectError
        XCTAssertEqual(error, OSError(code: ECONNREFUSED))
        XCTAssertEqual(error?.name, "ECONNREFUSED")
    }

    func testOnlyNumericHostsAndRealPortsAreTriedWithoutWaiting() {
        for (host, port) in [("localhost", 80), ("127.0.0.1", 0), ("127.0.0.1", 70_000)] {
            guard case .failed = ClientSocket.startConnecting(numericHost: host, port: port) else {
                return XCTFail("\(host) \(port)")
            }
        }
    }

    func testTheListenerTakesEveryWaitingConnectionAndThenNone() throws {
        let listener = try XCTUnwrap(Self.loopbackListener())
        XCTAssertEqual(listener.acceptAll().count, 0, "none waiting: returns at once")
        let clients = try (0..<3).map { _ in
            try ClientSocket.connect(host: "127.0.0.1", port: listener.port, timeoutMilliseconds: 2000)
        }
        XCTAssertTrue(waitFor(POLLIN, on: listener.fd))
        usleep(20_000)  // let the last handshakes land in the queue
        let accepted = listener.acceptAll()
        XCTAssertEqual(accepted.count, clients.count)
        for socket in accepted { XCTAssertNotEqual(fcntl(socket.fd, F_GETFL) & O_NONBLOCK, 0, "non-blocking") }
    }

    func testErrorNames() {
        XCTAssertEqual(OSError(code: ECONNRESET).name, "ECONNRESET")
        XCTAssertEqual(OSError(code: ETIMEDOUT).description, "ETIMEDOUT: Connection timed out")
        XCTAssertEqual(OSError(code: 9999).name, "errno 9999")
    }

    // MARK: Helpers

    static func loopbackListener() -> ListeningSocket? {
        var address = sockaddr_storage()
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_family = sa_family_t(AF_INET)
                $0.pointee.sin_addr.s_addr = inet_addr("127.0.0.1")
            }
        }
        return ListeningSocket.open(on: address, backlog: 8)
    }

    private func acceptOne(_ listener: ListeningSocket) -> ClientSocket? {
        guard waitFor(POLLIN, on: listener.fd) else { return nil }
        return listener.acceptAll().first
    }

    private func waitFor(_ event: Int32, on fd: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(event), revents: 0)]
        return poll(&fds, 1, 2000) == 1
    }

    private func read(_ socket: ClientSocket) -> IOResult {
        var buffer = [UInt8](repeating: 0, count: 64)
        return buffer.withUnsafeMutableBytes { socket.read(into: $0) }
    }
}
