import Glibc

/// A bound, listening, non-blocking TCP socket and the accept call that drains it.
///
/// Each port has one listener, owned by loop 0, which hands accepted sockets to the loops
/// round-robin (see `EventLoop.acceptConnections`). The alternative, an SO_REUSEPORT listener per
/// loop, lets the kernel spread connections by a hash of the 4-tuple instead: no hand-off, but an
/// uneven split for few clients, a second bind dance for port 0, and no single place to enforce
/// `maxConnections`. At chat scale one accepting thread is far from a bottleneck.
///
/// Loop-confined: created by `start()`, then touched only on loop 0's thread.
final class Listener {
    let fd: Int32
    /// The bound port; differs from the requested one when that was 0.
    let port: Int

    init(host: String, port: Int, backlog: Int32 = 511) throws(GatewayError) {
        let address = try SocketAddress(host: host, port: port)
        let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor: Int32
        let boundPort: Int
        do {
            descriptor = try Syscall.call("socket") { socket(address.family, socketType, 0) }
        } catch {
            throw GatewayError(error)
        }
        do {
            // Restarting the server must not wait out TIME_WAIT on the old connections.
            Syscall.setOption(descriptor, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
            if address.family == AF_INET6 {
                // "::" serves IPv4 too (as mapped addresses), whatever the system default says.
                Syscall.setOption(descriptor, level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY, value: 0)
            }
            try address.withSockaddr { pointer, length throws(SystemError) in
                _ = try Syscall.call("bind") { bind(descriptor, pointer, length) }
            }
            _ = try Syscall.call("listen") { listen(descriptor, backlog) }
            boundPort = try Self.boundPort(of: descriptor)
        } catch {
            Syscall.close(descriptor)
            throw GatewayError(error)
        }
        fd = descriptor
        self.port = boundPort
    }

    /// Accepts one connection; the new socket is already non-blocking and close-on-exec.
    func accept() throws(SystemError) -> IOResult<(fd: Int32, peer: PeerAddress)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemError) in
                try Syscall.accept(fd, address: address, length: &length)
            }
        }
        switch result {
        case .wouldBlock:
            return .wouldBlock
        case .processed(let client):
            return .processed((client, PeerAddress(storage)))
        }
    }

    /// Releasing the listener closes it; loop 0 drops it on stop, after deregistering it.
    deinit {
        Syscall.close(fd)
    }

    private static func boundPort(of fd: Int32) throws(SystemError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(SystemError) in
                try Syscall.call("getsockname") { getsockname(fd, address, &length) }
            }
        }
        return PeerAddress(storage).port
    }
}

/// A numeric IPv4 or IPv6 socket address parsed from configuration text.
private enum SocketAddress {
    case v4(sockaddr_in)
    case v6(sockaddr_in6)

    init(host: String, port: Int) throws(GatewayError) {
        let numeric = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, numeric, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            self = .v4(v4)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, numeric, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            self = .v6(v6)
            return
        }
        throw .invalidAddress(host)
    }

    var family: Int32 {
        switch self {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    func withSockaddr<Result>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> Result
    ) throws(SystemError) -> Result {
        switch self {
        case .v4(var address):
            return try withUnsafePointer(to: &address) { pointer throws(SystemError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemError) in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(var address):
            return try withUnsafePointer(to: &address) { pointer throws(SystemError) in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw throws(SystemError) in
                    try body(raw, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }
}

extension PeerAddress {
    /// Formats a kernel-filled address as numeric text (inet_ntop) and host-order port.
    init(_ storage: sockaddr_storage) {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch Int32(storage.ss_family) {
        case AF_INET:
            let (host, port) = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                    return (Self.string(from: text), Int(UInt16(bigEndian: address.pointee.sin_port)))
                }
            }
            self.init(host: host, port: port)
        case AF_INET6:
            let (host, port) = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    return (Self.string(from: text), Int(UInt16(bigEndian: address.pointee.sin6_port)))
                }
            }
            self.init(host: host, port: port)
        default:
            self.init(host: "unknown", port: 0)
        }
    }

    private static func string(from text: [CChar]) -> String {
        text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
