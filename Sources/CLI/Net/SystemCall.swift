import Glibc

/// A failed system call's error number, with the name a person can look up.
struct OSError: Error, Equatable, CustomStringConvertible {
    let code: Int32

    /// The symbolic name (`ECONNREFUSED`) for the errors sockets and terminals meet, the number otherwise.
    var name: String { Self.names[code] ?? "errno \(code)" }

    /// The system's own sentence for it, as `parley connect` prints it.
    var message: String { String(cString: strerror(code)) }

    var description: String { "\(name): \(message)" }

    private static let names: [Int32: String] = [
        EPERM: "EPERM", EINTR: "EINTR", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES",
        EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE", EPIPE: "EPIPE", EAFNOSUPPORT: "EAFNOSUPPORT",
        EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH",
        ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS", ENOTCONN: "ENOTCONN",
        ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED", EHOSTUNREACH: "EHOSTUNREACH", EINPROGRESS: "EINPROGRESS",
        EIO: "EIO",
    ]
}

/// What one read or write on a descriptor did.
enum IOResult: Equatable {
    /// This many bytes moved (never 0).
    case bytes(Int)
    /// A non-blocking descriptor has nothing to give, or no room to take, right now.
    case wouldBlock
    /// Reading: the other side finished sending. Writing: the other side is gone.
    case closed
    case failed(OSError)
}

/// What a poll() did: `.ready(0)` is the timeout running out.
enum PollResult: Equatable {
    case ready(Int)
    /// A signal arrived first; the caller works out its timeout again and polls once more.
    case interrupted
    case failed(OSError)
}

/// The system calls of the client side (`parley connect`, `parley bench`) whose failures matter, in one place:
/// this is the only code of theirs that reads `errno`.
///
/// Reads and writes retry EINTR (a signal is no I/O error) and report EAGAIN as `.wouldBlock`, which is
/// ordinary flow for a non-blocking socket. poll() does not retry, so its caller never waits on a stale timeout.
enum SystemCall {
    /// The error of the call that just returned -1.
    private static func lastError() -> OSError {
        OSError(code: errno)
    }

    /// nil if `result` is a success, else why the call failed.
    static func check(_ result: Int32) -> OSError? {
        result == -1 ? lastError() : nil
    }

    /// Reads into `buffer`.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        transfer { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Sends on a socket. MSG_NOSIGNAL: a vanished peer is an error to handle, not a SIGPIPE.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        transfer { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes to a descriptor that is not a socket (the terminal, a pipe).
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> IOResult {
        transfer { Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    private static func transfer(_ body: () -> Int) -> IOResult {
        while true {
            let n = body()
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            let error = lastError()
            switch error.code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            case EPIPE: return .closed
            default: return .failed(error)
            }
        }
    }

    /// Waits until one of `fds` is ready or `timeoutMilliseconds` pass (-1: no limit).
    static func poll(_ fds: inout [pollfd], timeoutMilliseconds: Int32) -> PollResult {
        let ready = Glibc.poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        if ready >= 0 { return .ready(Int(ready)) }
        let error = lastError()
        return error.code == EINTR ? .interrupted : .failed(error)
    }

    /// Blocks until `fd` takes output (or reports an error or hang-up, which the next write then meets).
    /// False: it cannot be waited for.
    static func waitUntilWritable(_ fd: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
        while true {
            switch poll(&fds, timeoutMilliseconds: -1) {
            case .ready: return true
            case .interrupted: continue
            case .failed: return false
            }
        }
    }

    /// Blocks until `fd` reports `events` (POLLIN or POLLOUT), an error or a hang-up, or `timeoutMilliseconds`
    /// pass (-1: no limit). False: the time ran out or poll() failed.
    static func waitFor(_ events: Int16, on fd: Int32, timeoutMilliseconds: Int32 = -1) -> Bool {
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        while true {
            switch poll(&fds, timeoutMilliseconds: timeoutMilliseconds) {
            case .ready(let n): return n > 0
            case .interrupted: continue
            case .failed: return false
            }
        }
    }

    /// Takes one connection waiting on a listening socket.
    static func accept(_ fd: Int32) -> Result<Int32, OSError> {
        while true {
            let accepted = Glibc.accept(fd, nil, nil)
            if accepted >= 0 { return .success(accepted) }
            let error = lastError()
            if error.code != EINTR { return .failure(error) }
        }
    }

    /// The error a non-blocking connect ended with (SO_ERROR), nil if it succeeded.
    static func pendingError(of fd: Int32) -> OSError? {
        var code: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        if let error = check(getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &size)) { return error }
        return code == 0 ? nil : OSError(code: code)
    }
}
