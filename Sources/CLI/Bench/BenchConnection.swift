import Glibc

/// One client socket of `parley bench`: non-blocking, with its own input and output buffers, speaking
/// PROTOCOL.md as JSON lines or as WebSocket text messages (client frames masked, RFC 6455 §5.3).
final class BenchConnection {
    enum Role: Equatable {
        /// A fan-out client: receives everything, and sends if its index is below the sender count.
        case member(Int)
        /// A login-storm attempt: logs in, logs out, goes away.
        case storm
        /// Logs in, then never reads again (a slow consumer, as a stalled phone would be).
        case stalled
    }

    enum Phase: Equatable {
        case connecting
        case upgrading
        case loggingIn
        case online
        case closed
    }

    let fd: Int32
    let role: Role
    let user: String
    let webSocket: Bool
    var phase: Phase = .connecting
    /// When the connection was opened (monotonic ns), for the login latency.
    let openedAt: UInt64
    var triedRegister = false
    /// Refused as `busy` while logging in: when to try again (monotonic ns).
    var retryLoginAt: UInt64?
    /// Bytes received and not yet parsed into messages.
    private var input: [UInt8] = []
    /// A WebSocket message arriving in several frames.
    private var fragments: [UInt8] = []
    private var output: [UInt8] = []
    private var outputStart = 0
    private var maskState: UInt32

    init(fd: Int32, role: Role, user: String, webSocket: Bool, now: UInt64) {
        self.fd = fd
        self.role = role
        self.user = user
        self.webSocket = webSocket
        openedAt = now
        maskState = UInt32(truncatingIfNeeded: now) | 1
    }

    var hasPendingOutput: Bool { outputStart < output.count }

    /// Opens a non-blocking TCP connection to `address`; the connect completes later (POLLOUT).
    static func open(_ address: sockaddr_in, receiveBuffer: Int32? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var target = address
        let rc = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS {
            close(fd)
            return nil
        }
        return fd
    }

    /// The connect finished: start the WebSocket upgrade, or go straight to the login on native TCP.
    func connected(host: String, port: Int, path: String) -> Bool {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else { return false }
        if webSocket {
            phase = .upgrading
            // The key is not secret (RFC 6455 §4.1 asks for a random nonce; the server only echoes its hash).
            let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: cGFybGV5IGJlbmNoIGtleQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            output.append(contentsOf: request.utf8)
        } else {
            phase = .loggingIn
        }
        return true
    }

    /// Queues one PROTOCOL.md request (a JSON object without its newline).
    func send(_ json: [UInt8]) {
        if webSocket {
            appendFrame(opcode: 0x1, payload: json)
        } else {
            output.append(contentsOf: json)
            output.append(UInt8(ascii: "\n"))
        }
    }

    private func appendFrame(opcode: UInt8, payload: [UInt8]) {
        output.append(0x80 | opcode)
        let length = payload.count
        if length < 126 {
            output.append(0x80 | UInt8(length))
        } else if length <= 0xFFFF {
            output.append(0x80 | 126)
            output.append(UInt8(length >> 8))
            output.append(UInt8(length & 0xFF))
        } else {
            output.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { output.append(UInt8(truncatingIfNeeded: length >> shift)) }
        }
        // xorshift: masks only need to be unpredictable to browsers' scripts, not to us.
        maskState ^= maskState << 13
        maskState ^= maskState >> 17
        maskState ^= maskState << 5
        let mask = withUnsafeBytes(of: maskState.bigEndian) { Array($0) }
        output.append(contentsOf: mask)
        let start = output.count
        output.append(contentsOf: payload)
        for index in 0..<length { output[start + index] ^= mask[index & 3] }
    }

    /// Writes what the kernel takes. Returns false when the socket failed.
    func flush() -> Bool {
        while outputStart < output.count {
            let written = output.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + outputStart, output.count - outputStart, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR { return true }
                return false
            }
            outputStart += written
        }
        output.removeAll(keepingCapacity: output.capacity <= 65_536)
        outputStart = 0
        return true
    }

    /// Reads what is there and hands each complete message to `message`. Returns false on EOF or error.
    func read(into buffer: UnsafeMutableRawBufferPointer, _ message: (ArraySlice<UInt8>) -> Void) -> Bool {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count == 0 { return false }
            if count < 0 { return errno == EAGAIN || errno == EINTR }
            input.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            guard parse(message) else { return false }
            if count < buffer.count { return true }
        }
    }

    private func parse(_ message: (ArraySlice<UInt8>) -> Void) -> Bool {
        var offset = 0
        defer { if offset > 0 { input.removeFirst(offset) } }
        if phase == .upgrading {
            guard let end = Self.find([13, 10, 13, 10], in: input[...]) else { return true }
            guard input.starts(with: Array("HTTP/1.1 101".utf8)) else { return false }
            offset = end + 4
            phase = .loggingIn
        }
        if !webSocket {
            while let newline = input[offset...].firstIndex(of: UInt8(ascii: "\n")) {
                message(input[offset..<newline])
                offset = newline + 1
            }
            return true
        }
        while input.count - offset >= 2 {
            let first = input[offset], second = input[offset + 1]
            var length = Int(second & 0x7F)
            var header = 2
            if length == 126 {
                guard input.count - offset >= 4 else { break }
                length = Int(input[offset + 2]) << 8 | Int(input[offset + 3])
                header = 4
            } else if length == 127 {
                guard input.count - offset >= 10 else { break }
                length = 0
                for index in 0..<8 { length = length << 8 | Int(input[offset + 2 + index]) }
                header = 10
            }
            guard input.count - offset >= header + length else { break }
            let payload = input[(offset + header)..<(offset + header + length)]
            offset += header + length
            let fin = first & 0x80 != 0
            switch first & 0x0F {
            case 0x0, 0x1:
                if fin && fragments.isEmpty {
                    message(payload)
                } else {
                    fragments.append(contentsOf: payload)
                    if fin {
                        message(fragments[...])
                        fragments.removeAll()
                    }
                }
            case 0x9:
                appendFrame(opcode: 0xA, payload: Array(payload))
            case 0x8:
                return false
            default:
                break
            }
        }
        return true
    }

    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == needle[0] {
                var match = true
                for k in 1..<needle.count where haystack[index + k] != needle[k] {
                    match = false
                    break
                }
                if match { return index }
            }
            index += 1
        }
        return nil
    }
}
