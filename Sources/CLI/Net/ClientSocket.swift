import Glibc

/// Why the connection to the server could not be opened, in the words `parley connect` prints.
struct ConnectFailure: Error, CustomStringConvertible {
    let description: String
}

/// One TCP connection of the client side: the terminal client's link to the server and to its peers, and each
/// of `parley bench`'s clients. It owns its descriptor (closed once, by `close()` or at the latest on deinit)
/// and reports every read and write as an `IOResult`, so no caller looks at error numbers.
///
/// Two ways in: `connect(host:port:timeoutMilliseconds:)` waits (bounded) and gives a blocking socket, for the
/// one server connection, which the client's poll() loop reads only when it is readable; `startConnecting`
/// returns at once with a non-blocking socket whose connect finishes later (poll() reports it writable, then
/// `connectError` says how it went), for sockets that share a poll() loop with others.
final class ClientSocket {
    let fd: Int32
    private var isClosed = false

    /// Takes ownership of `fd`.
    init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        // Not retried on EINTR: on Linux the descriptor is released even then.
        _ = Glibc.close(fd)
    }

    // MARK: Connecting

    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address), trying each address in turn and giving up
    /// on each after `timeoutMilliseconds`. The socket is blocking, with Nagle off (requests are single lines).
    static func connect(host: String, port: Int, timeoutMilliseconds: Int32) throws(ConnectFailure) -> ClientSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw ConnectFailure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = OSError(code: ECONNREFUSED)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if let error = SystemCall.check(fd) {
                lastError = error
                continue
            }
            let socket = ClientSocket(adopting: fd)
            if let error = socket.connectWaiting(to: info.pointee.ai_addr, length: info.pointee.ai_addrlen,
                                                 timeoutMilliseconds: timeoutMilliseconds) {
                lastError = error
                continue  // `socket` closes as it goes
            }
            socket.disableNagle()
            return socket
        }
        throw ConnectFailure(description: "cannot connect to \(host) port \(port): \(lastError.message)")
    }

    /// A non-blocking connect bounded by a poll(); the socket is blocking again afterwards.
    private func connectWaiting(to address: UnsafeMutablePointer<sockaddr>, length: socklen_t,
                                timeoutMilliseconds: Int32) -> OSError? {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        guard let error = SystemCall.check(Glibc.connect(fd, address, length)) else { return nil }
        guard error.code == EINPROGRESS else { return error }
        var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
        while true {
            switch SystemCall.poll(&fds, timeoutMilliseconds: timeoutMilliseconds) {
            case .interrupted: continue
            case .failed(let error): return error
            case .ready(0): return OSError(code: ETIMEDOUT)
            case .ready: return connectError
            }
        }
    }

    enum Connecting {
        /// Connected already (it happens on loopback).
        case connected(ClientSocket)
        /// Under way: poll() for POLLOUT, then ask `connectError`.
        case inProgress(ClientSocket)
        case failed
    }

    /// Starts a non-blocking connection to `host:port`. The host must be a numeric address: a name lookup would
    /// block the caller's only thread.
    static func startConnecting(numericHost host: String, port: Int) -> Connecting {
        guard (1...65_535).contains(port) else { return .failed }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else { return .failed }
        defer { freeaddrinfo(list) }
        return startConnecting(family: info.pointee.ai_family, to: info.pointee.ai_addr,
                               length: info.pointee.ai_addrlen, receiveBufferBytes: nil)
    }

    /// Starts a non-blocking connection to an IPv4 address. `receiveBufferBytes` shrinks (or grows) the
    /// kernel's receive buffer before the connection exists, which is when it counts.
    static func startConnecting(to address: sockaddr_in, receiveBufferBytes: Int32? = nil) -> Connecting {
        var target = address
        return withUnsafeMutablePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                startConnecting(family: AF_INET, to: $0, length: socklen_t(MemoryLayout<sockaddr_in>.size),
                                receiveBufferBytes: receiveBufferBytes)
            }
        }
    }

    private static func startConnecting(family: Int32, to address: UnsafeMutablePointer<sockaddr>, length: socklen_t,
                                        receiveBufferBytes: Int32?) -> Connecting {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard SystemCall.check(fd) == nil else { return .failed }
        let socket = ClientSocket(adopting: fd)
        socket.disableNagle()
        if var size = receiveBufferBytes {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        guard let error = SystemCall.check(Glibc.connect(fd, address, length)) else { return .connected(socket) }
        // EINTR: the connect goes on in the background, exactly as with EINPROGRESS.
        return error.code == EINPROGRESS || error.code == EINTR ? .inProgress(socket) : .failed
    }

    /// How a non-blocking connect ended, nil if it succeeded. Ask when poll() reports the socket writable or in
    /// error, and only once: the kernel forgets the error as it tells it.
    var connectError: OSError? { SystemCall.pendingError(of: fd) }

    // MARK: Reading and writing

    /// Reads what the socket holds, up to the buffer's size.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        SystemCall.read(fd, into: buffer)
    }

    /// Writes what the socket takes of `bytes` now (all of it, on a blocking socket with room).
    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        SystemCall.send(fd, bytes)
    }

    /// Writes every byte, however many calls it takes. For blocking sockets; false when the connection is
    /// gone (or, non-blocking, full).
    func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .bytes(let n) = result else { return false }
            offset += n
        }
        return true
    }

    /// Stops sending; the other side sees the end of the stream.
    func shutdownWrite() {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// The address this end of the connection is bound to.
    var localAddress: sockaddr_storage? { SocketAddress.local(of: fd) }

    /// Requests are small and each one matters at once: no waiting to coalesce them.
    func disableNagle() {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}
