import CLinuxShims
import Glibc

/// The outcome of a call on a non-blocking descriptor: it did something, or the kernel had nothing
/// for us right now (EAGAIN/EWOULDBLOCK), which is normal flow rather than an error.
enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// A failed system call: the errno value and the call that produced it.
struct SystemError: Error, CustomStringConvertible {
    let code: Int32
    let call: String

    var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }

    /// True for the errors that simply mean "the peer went away" rather than "something is wrong here".
    var isPeerReset: Bool { code == ECONNRESET || code == EPIPE }
}

/// The system calls the gateway makes, in one place: this is the only file that reads `errno`.
///
/// Every wrapper retries EINTR (a signal landing on a loop thread must not look like an I/O error)
/// and turns EAGAIN into `.wouldBlock`. A few Linux calls (`accept4`, `eventfd`, and the epoll
/// family in Epoll.swift) are not exported by the Glibc module because its headers are compiled
/// without `_GNU_SOURCE`; the small C target `CLinuxShims` wraps them.
enum Syscall {
    /// Runs `body` until it stops failing with EINTR; a -1 result becomes a `SystemError`.
    @inline(__always)
    static func call<Result: BinaryInteger>(_ name: String, _ body: () -> Result) throws(SystemError) -> Result {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SystemError(code: code, call: name)
        }
    }

    /// Like `call`, but EAGAIN/EWOULDBLOCK is reported as `.wouldBlock` instead of thrown.
    @inline(__always)
    static func nonBlocking<Result: BinaryInteger>(
        _ name: String, _ body: () -> Result
    ) throws(SystemError) -> IOResult<Result> {
        while true {
            let result = body()
            if result != -1 { return .processed(result) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemError(code: code, call: name)
        }
    }

    /// For blocking waits: EINTR is reported as `.wouldBlock` ("nothing happened") instead of being
    /// retried, so the caller recomputes its timeout rather than sleeping again for a stale interval.
    @inline(__always)
    static func interruptible<Result: BinaryInteger>(
        _ name: String, _ body: () -> Result
    ) throws(SystemError) -> IOResult<Result> {
        let result = body()
        if result != -1 { return .processed(result) }
        let code = errno
        if code == EINTR { return .wouldBlock }
        throw SystemError(code: code, call: name)
    }

    // MARK: - Descriptors

    /// Closes `fd`. Not retried on EINTR: on Linux the descriptor is released even then, and a
    /// retry could close a descriptor another thread has just been given.
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Reads into `buffer`; `.processed(0)` means the peer finished sending (EOF).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Gathers `count` iovecs into one `sendmsg` — `writev` with flags. MSG_NOSIGNAL turns a write to
    /// a reset peer into EPIPE instead of SIGPIPE, so the library is safe whatever the process's
    /// signal dispositions are (the CLI may still ignore SIGPIPE; both together are harmless).
    ///
    /// One iovec, the usual case of a fan-out (each connection gets one message at a time), goes by `send`
    /// instead: the kernel then copies neither a message header nor an iovec array in from user space, which
    /// was about 2 % of the loop's kernel samples in a busy room, one call per recipient.
    static func send(_ fd: Int32, iovecs: UnsafeMutablePointer<iovec>, count: Int) throws(SystemError) -> IOResult<Int> {
        if count == 1 {
            return try nonBlocking("send") { Glibc.send(fd, iovecs[0].iov_base, iovecs[0].iov_len, Int32(MSG_NOSIGNAL)) }
        }
        var message = msghdr()
        message.msg_iov = iovecs
        message.msg_iovlen = count
        return try nonBlocking("sendmsg") { sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
    }

    /// Half-closes the write side: the peer reads EOF after everything already queued in the kernel.
    static func shutdownWrites(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// Makes the coming `close` abortive (SO_LINGER 0: an RST, the unsent bytes dropped at once). For a slow
    /// consumer: otherwise the kernel keeps its full send buffer as an orphan socket for minutes, waiting for
    /// a reader that never reads, memory outside our bounds (docs/SECURITY.md).
    static func resetOnClose(_ fd: Int32) {
        var option = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }

    /// Sets an integer socket option, ignoring failure (every option we set is an optimisation).
    static func setOption(_ fd: Int32, level: Int32, name: Int32, value: Int32) {
        var value = value
        _ = setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    // MARK: - Linux-only calls (through the CLinuxShims target)

    /// `accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC)`: the new socket is non-blocking and not
    /// inherited by child processes from the first instant, with no window for a racing fork.
    static func accept(
        _ fd: Int32, address: UnsafeMutablePointer<sockaddr>, length: UnsafeMutablePointer<socklen_t>
    ) throws(SystemError) -> IOResult<Int32> {
        try nonBlocking("accept4") { parley_accept_nonblocking(fd, address, length) }
    }

    /// A non-blocking, close-on-exec eventfd: the loop's doorbell for work posted from other threads.
    static func makeEventCounter() throws(SystemError) -> Int32 {
        try call("eventfd") { parley_eventfd() }
    }

    /// Adds one to an eventfd counter. EAGAIN (counter saturated) still leaves the fd readable, so the
    /// wake-up is not lost and the error is ignored.
    static func signalEventCounter(_ fd: Int32) {
        var one: UInt64 = 1
        _ = try? nonBlocking("write(eventfd)") { Glibc.write(fd, &one, MemoryLayout<UInt64>.size) }
    }

    /// Resets an eventfd counter to zero so level-triggered epoll stops reporting it.
    static func resetEventCounter(_ fd: Int32) {
        var value: UInt64 = 0
        _ = try? nonBlocking("read(eventfd)") { Glibc.read(fd, &value, MemoryLayout<UInt64>.size) }
    }
}

extension SystemError {
    /// Out of descriptors or kernel memory: retrying at once would fail the same way.
    var isResourceExhaustion: Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }

    /// accept4 failures that concern only the connection being accepted (it was reset while it
    /// waited in the backlog, or a firewall refused it): skip it and accept the next.
    var isAbortedConnection: Bool {
        code == ECONNABORTED || code == EPROTO || code == EPERM || code == ENETDOWN
            || code == ENOPROTOOPT || code == EHOSTDOWN || code == ENONET || code == EHOSTUNREACH
            || code == EOPNOTSUPP || code == ENETUNREACH
    }
}
