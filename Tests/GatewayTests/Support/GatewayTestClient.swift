import Foundation
import Gateway
import Glibc
import XCTest

/// A blocking TCP client for live tests. Every read has a receive timeout, so a missing reply
/// fails the test instead of hanging it.
///
/// `@unchecked Sendable`: a client is used by one thread at a time (a test may hand it to a
/// reader thread, and then leaves it alone).
final class GatewayTestClient: @unchecked Sendable {
    struct Timeout: Error {}
    struct ConnectFailed: Error { let code: Int32 }

    let fd: Int32
    private var isClosed = false
    private var buffer: [UInt8] = []
    private var sawEOF = false

    private let port: Int

    /// Connects to 127.0.0.1:`port`. `receiveBuffer` shrinks SO_RCVBUF before connecting, so the
    /// server's writes back up quickly (slow-consumer and partial-write tests). With
    /// `connectNow: false` only the socket is created; `connect()` follows later.
    init(port: Int, receiveBuffer: Int32? = nil, timeout: TimeInterval = 10, connectNow: Bool = true) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        if let receiveBuffer { setOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer) }
        setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        var time = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        if connectNow {
            do {
                try connect()
            } catch {
                Glibc.close(fd)
                isClosed = true
                throw error
            }
        }
    }

    func connect() throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result != 0 { throw ConnectFailed(code: errno) }
    }

    deinit {
        if !isClosed { Glibc.close(fd) }
    }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    // MARK: Writing

    func send(_ text: String) {
        send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Half-close: the server reads EOF; this side can still read.
    func shutdownWrites() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Closes with RST instead of FIN (SO_LINGER with a zero timeout); the client is done after this.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        Glibc.close(fd)
        isClosed = true
    }

    // MARK: Reading

    /// Reads one line without its "\n"; nil at EOF. Throws `Timeout` if nothing comes in time.
    func readLine() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            if sawEOF { return nil }
            try fill()
        }
    }

    /// Reads until the server closes; returns everything received (after any buffered bytes).
    func readToEnd() throws -> [UInt8] {
        while !sawEOF { try fill() }
        defer { buffer.removeAll() }
        return buffer
    }

    /// Reads exactly `count` bytes, or fewer at EOF.
    func read(count: Int) throws -> [UInt8] {
        while buffer.count < count && !sawEOF { try fill() }
        let taken = Array(buffer.prefix(count))
        buffer.removeFirst(taken.count)
        return taken
    }

    /// True once the server has closed (EOF or reset), reading and discarding anything before it.
    func waitForClose() throws -> Bool {
        while !sawEOF {
            buffer.removeAll()
            try fill()
        }
        return true
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count > 0 {
            buffer.append(contentsOf: chunk[..<count])
        } else if count == 0 {
            sawEOF = true
        } else if errno == EAGAIN || errno == EWOULDBLOCK {
            throw Timeout()
        } else if errno == EINTR {
            return
        } else {
            sawEOF = true // ECONNRESET: the server is gone either way
        }
    }
}
