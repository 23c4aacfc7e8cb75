import Glibc

/// A non-blocking TCP listener on the client side (the terminal client takes its peers' direct connections on
/// one). It owns its descriptor.
final class ListeningSocket {
    let fd: Int32
    /// The port the kernel gave it.
    let port: Int

    private init(fd: Int32, port: Int) {
        self.fd = fd
        self.port = port
    }

    deinit { _ = Glibc.close(fd) }

    /// Listens on `address` (its port 0 picks a free one). Nil if any step fails.
    static func open(on address: sockaddr_storage, backlog: Int32) -> ListeningSocket? {
        var address = address
        let family = Int32(address.ss_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard SystemCall.check(fd) == nil else { return nil }
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard SystemCall.check(bound) == nil, SystemCall.check(listen(fd, backlog)) == nil,
              let actual = SocketAddress.local(of: fd), let port = SocketAddress.port(of: actual), port > 0 else {
            _ = Glibc.close(fd)
            return nil
        }
        return ListeningSocket(fd: fd, port: port)
    }

    /// Takes every connection waiting (call when poll() says the listener is readable). The new sockets are
    /// non-blocking, with Nagle off.
    func acceptAll() -> [ClientSocket] {
        var accepted: [ClientSocket] = []
        while true {
            switch SystemCall.accept(fd) {
            case .success(let fd):
                // accept4 is not in the Swift overlay; with one thread and no exec, setting the flags after is as good.
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                let socket = ClientSocket(adopting: fd)
                socket.disableNagle()
                accepted.append(socket)
            case .failure(let error) where error.code == ECONNABORTED:
                continue  // that one gave up while queued; others may be behind it
            case .failure:
                return accepted  // EAGAIN: none left (or a resource limit: the rest wait for the next round)
            }
        }
    }
}

/// The bits of socket addresses the client needs: which address a socket is bound to, and its port.
enum SocketAddress {
    /// The local address of the socket `fd`.
    static func local(of fd: Int32) -> sockaddr_storage? {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return SystemCall.check(named) == nil ? address : nil
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
