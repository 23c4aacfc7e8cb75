#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The socket on which this client takes direct connections from other terminal clients (PROTOCOL.md "P2P").
/// Opened before login, so its port goes into the `login` request as `p2pPort`.
///
/// It is bound to the local address of the connection to the server, on a port the kernel picks. The server
/// hands peers the address it sees us on, which (without NAT) is that same local address, so binding there
/// is all peers need; a client talking to a server on 127.0.0.1 opens nothing to the network.
final class PeerListener {
    let fd: Int32
    let port: Int
    /// Pending connections the kernel keeps before `acceptAll()` takes them.
    private static let backlog: Int32 = 16

    private init(fd: Int32, port: Int) {
        self.fd = fd
        self.port = port
    }

    deinit { close(fd) }

    /// Listens beside the server connection `serverFD`. Nil if that fails: the client then declares no
    /// `p2pPort`, and `startprivate` gets the server's "not possible from this client" answer.
    static func open(beside serverFD: Int32) -> PeerListener? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(serverFD, $0, &length) }
        }
        guard named == 0 else { return nil }
        let family = Int32(address.ss_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        PeerSocket.setPort(0, in: &address)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            close(fd)
            return nil
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard found == 0, let port = PeerSocket.port(of: actual), port > 0 else {
            close(fd)
            return nil
        }
        return PeerListener(fd: fd, port: port)
    }

    /// Takes every connection waiting (call when poll() says the socket is readable). The new sockets are
    /// non-blocking; the caller owns them.
    func acceptAll() -> [Int32] {
        var accepted: [Int32] = []
        while true {
            // accept4 is not in the Swift overlay; with one thread and no exec, setting the flags after is as good.
            let fd = accept(self.fd, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                accepted.append(fd)
                continue
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            return accepted  // EAGAIN: none left (or a resource limit: the rest wait for the next round)
        }
    }
}

/// Socket helpers shared by the listener and the links.
enum PeerSocket {
    enum Connecting {
        case connected(Int32)
        case inProgress(Int32)
        case failed
    }

    /// Starts a non-blocking connection to `host:port`. The host must be a numeric address (the server sends
    /// the address it sees the peer on): a name lookup would block the client's only thread.
    static func connect(host: String, port: Int) -> Connecting {
        guard (1...65_535).contains(port) else { return .failed }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else { return .failed }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return .connected(fd) }
        if errno == EINPROGRESS || errno == EINTR { return .inProgress(fd) }
        close(fd)
        return .failed
    }

    /// Whether a non-blocking connect finished well (call when poll() reports the socket writable or in error).
    static func connectSucceeded(_ fd: Int32) -> Bool {
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0
    }

    static func setPort(_ port: UInt16, in address: inout sockaddr_storage) {
        withUnsafeMutablePointer(to: &address) { pointer in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = port.bigEndian }
            case AF_INET6:
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = port.bigEndian }
            default:
                break
            }
        }
    }

    static func port(of address: sockaddr_storage) -> Int? {
        var address = address
        return withUnsafePointer(to: &address) { pointer in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6:
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default:
                nil
            }
        }
    }
}

// The C call whose name `PeerSocket.connect` hides.
private func systemConnect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
