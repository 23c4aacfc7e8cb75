import CLinuxShims
import Glibc

/// What a registration wants to hear about. Errors and hang-ups are always reported by the kernel.
struct Interest: OptionSet, Sendable {
    let rawValue: UInt8

    static let readable = Interest(rawValue: 1 << 0)
    static let writable = Interest(rawValue: 1 << 1)
}

/// One readiness report, already translated out of EPOLL* bits.
///
/// Like Redis's epoll backend, an error or hang-up is folded into both `isReadable` and
/// `isWritable`: the ordinary read or write then meets the error and takes the one close path.
/// `isHangup` is kept separately for a connection that has stopped reading, which would otherwise
/// be told about the same hang-up on every tick (level-triggered) without ever acting on it.
struct ReadyEvent {
    var token: UInt64
    var isReadable: Bool
    var isWritable: Bool
    var isHangup: Bool
}

/// The epoll mechanism and nothing else: create, register, modify, remove, wait.
///
/// This is the only Swift file that knows epoll (the C side is in the CLinuxShims target). Registrations are level-triggered, so a handler
/// may stop early (a per-tick read cap) and be told again next tick; the cost is that EPOLLOUT must
/// be armed only while output is pending, or an idle writable socket would wake the loop forever.
///
/// Loop-confined: owned by one `EventLoop` and used only on its thread.
final class Epoll {
    private let fd: Int32
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int

    /// - Parameter capacity: the most events one `wait` returns; the rest wait for the next tick.
    init(capacity: Int = 256) throws(SystemError) {
        fd = try Syscall.call("epoll_create1") { parley_epoll_create() }
        self.capacity = capacity
        buffer = parley_epoll_buffer(Int32(capacity))
    }

    deinit {
        Syscall.close(fd)
        parley_epoll_buffer_free(buffer)
    }

    func add(_ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        try control(PARLEY_EPOLL_CTL_ADD, descriptor, interest: interest, token: token)
    }

    func modify(_ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        try control(PARLEY_EPOLL_CTL_MOD, descriptor, interest: interest, token: token)
    }

    /// Removes `descriptor`. Failure is ignored: the only realistic cause is that it was never added.
    func remove(_ descriptor: Int32) {
        _ = try? control(PARLEY_EPOLL_CTL_DEL, descriptor, interest: [], token: 0)
    }

    /// Blocks for up to `timeoutMilliseconds` (-1: until something happens) and replaces `events`
    /// with what is ready. EINTR returns no events rather than retrying with a stale timeout.
    func wait(timeoutMilliseconds: Int32, into events: inout [ReadyEvent]) throws(SystemError) {
        events.removeAll(keepingCapacity: true)
        let count: Int32
        switch try Syscall.interruptible("epoll_wait", { parley_epoll_wait(fd, buffer, Int32(capacity), timeoutMilliseconds) }) {
        case .processed(let ready): count = ready
        case .wouldBlock: return
        }
        for index in 0..<count {
            let bits = parley_epoll_events_at(buffer, index)
            let failed = bits & (PARLEY_EPOLL_ERR | PARLEY_EPOLL_HUP) != 0
            events.append(ReadyEvent(
                token: parley_epoll_token_at(buffer, index),
                isReadable: bits & PARLEY_EPOLL_IN != 0 || failed,
                isWritable: bits & PARLEY_EPOLL_OUT != 0 || failed,
                isHangup: failed
            ))
        }
    }

    private func control(_ operation: Int32, _ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        var bits: UInt32 = 0
        if interest.contains(.readable) { bits |= PARLEY_EPOLL_IN }
        if interest.contains(.writable) { bits |= PARLEY_EPOLL_OUT }
        _ = try Syscall.call("epoll_ctl") { parley_epoll_ctl(fd, operation, descriptor, bits, token) }
    }
}
