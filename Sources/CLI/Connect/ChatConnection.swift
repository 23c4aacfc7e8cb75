import ChatCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One JSON object the server sent: a reply (with `re`) or an event.
struct ServerFrame {
    let value: JSONValue

    var type: String { value["type"]?.stringValue ?? "" }
    /// The request id this frame answers (the client only sends numeric ids).
    var re: Int64? { value["re"]?.integerValue }
    subscript(key: String) -> JSONValue? { value[key] }
    func string(_ key: String) -> String? { value[key]?.stringValue }
    func bool(_ key: String) -> Bool { value[key]?.boolValue ?? false }

    /// An `error` frame as a `ChatError`; an unknown code keeps the server's text.
    var chatError: ChatError {
        let code = string("code").flatMap(ErrorCode.init(rawValue:)) ?? .internalError
        return ChatError(code, string("message") ?? "", attemptsLeft: value["attemptsLeft"]?.integerValue.map(Int.init),
                         retryAfter: value["retryAfter"]?.integerValue.map(Int.init))
    }
}

/// Why the connection could not be opened.
struct ConnectFailure: Error, CustomStringConvertible {
    let description: String
}

/// The native TCP connection to the server, speaking NDJSON (PROTOCOL.md). Blocking socket; the session's
/// poll() loop calls `readAvailable()` only when the socket is readable, so nothing here waits needlessly.
/// Requests carry increasing numeric ids; the caller matches replies by `re`.
final class ChatConnection {
    let fd: Int32
    private var inbox: [UInt8] = []
    private var nextID: Int64 = 1
    /// A line from the server longer than this is a broken server, not a message: the connection is dropped.
    private let maxLine = 1 << 20

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit { close(fd) }

    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address), trying each address in turn,
    /// giving up on each after `timeoutMilliseconds`.
    static func open(host: String, port: Int, timeoutMilliseconds: Int32 = 10_000) throws(ConnectFailure) -> ChatConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ConnectFailure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = errno; continue }
            if let error = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen, timeoutMilliseconds) {
                lastError = error
                close(fd)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return ChatConnection(fd: fd)
        }
        throw ConnectFailure(description: "cannot connect to \(host) port \(port): \(String(cString: strerror(lastError)))")
    }

    /// A non-blocking connect bounded by a poll(); the socket is blocking again afterwards. Returns errno or nil.
    private static func connect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t,
                                _ timeout: Int32) -> Int32? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        let result = systemConnect(fd, address, length)
        if result == 0 { return nil }
        guard errno == EINPROGRESS else { return errno }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        var ready: Int32
        repeat { ready = poll(&pfd, 1, timeout) } while ready < 0 && errno == EINTR
        guard ready > 0 else { return ready == 0 ? ETIMEDOUT : errno }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 else { return errno }
        return error == 0 ? nil : error
    }

    /// Sends one request with a fresh id and returns the id. False result (nil): the connection is gone.
    @discardableResult
    func send(_ request: ClientRequest) -> Int64? {
        let id = nextID
        nextID += 1
        var line = RequestEncoder.encode(request, id: id)
        line.append(0x0A)
        return writeAll(line) ? id : nil
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                systemSend(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if n > 0 {
                offset += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    enum ReadResult {
        case frames([ServerFrame])
        case closed
    }

    /// Reads what the socket holds (call when poll() says it is readable) and returns the complete lines as
    /// frames. A line that is not JSON is skipped: one bad line must not end the session.
    func readAvailable() -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n < 0, errno == EINTR || errno == EAGAIN { return .frames([]) }
        guard n > 0 else { return .closed }
        inbox.append(contentsOf: buffer[..<n])
        var frames: [ServerFrame] = []
        var start = 0
        while let newline = inbox[start...].firstIndex(of: 0x0A) {
            let line = inbox[start..<newline]
            start = newline + 1
            if let value = try? JSONParser.parse(line) { frames.append(ServerFrame(value: value)) }
        }
        inbox.removeFirst(start)
        if inbox.count > maxLine { return .closed }
        return .frames(frames)
    }

    /// Stops sending; the server sees the end of the stream.
    func shutdownWrite() {
        _ = shutdown(fd, Int32(SHUT_WR))
    }
}

// The C calls whose names the class's own methods hide.
private func systemConnect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    send(fd, bytes, count, Int32(MSG_NOSIGNAL))
}
