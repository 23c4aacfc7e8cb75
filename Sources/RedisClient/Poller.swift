import CLinuxShims
import Glibc

/// The readiness a registration asks for; hang-ups and errors are always reported by the kernel.
struct PollInterest: OptionSet, Sendable {
    let rawValue: UInt8
    static let read = PollInterest(rawValue: 1 << 0)
    static let write = PollInterest(rawValue: 1 << 1)
}

/// One readiness report: which registration, and whether it may read or write. An error or hang-up counts as
/// both, so that hiredis's own read or write meets the error and takes its one disconnect path.
struct PollEvent {
    var token: UInt64
    var readable: Bool
    var writable: Bool
}

/// The client thread's epoll set, level-triggered (the Gateway's loop is internal to its module, and this client
/// must not depend on it). Level-triggered because hiredis reads at most 16 KiB per call: what it leaves is
/// reported again on the next wait.
///
/// Confined to the client's thread, except `init`/`deinit` which run before it starts and after it is joined.
final class Poller {
    private let descriptor: Int32
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int32 = 16

    init() throws(RedisError) {
        descriptor = parley_epoll_create()
        guard descriptor >= 0 else { throw .connectionFailed("epoll_create1: \(String(cString: strerror(errno)))") }
        buffer = parley_epoll_buffer(capacity)
    }

    deinit {
        close(descriptor)
        parley_epoll_buffer_free(buffer)
    }

    /// Registers, changes or (for an empty interest) removes `fd`. An empty interest removes rather than keeps the
    /// registration: the kernel reports hang-ups even to a registration that asked for nothing, which on a
    /// level-triggered set would wake the loop forever.
    func set(_ fd: Int32, from old: PollInterest, to new: PollInterest, token: UInt64) {
        guard old != new else { return }
        var bits: UInt32 = 0
        if new.contains(.read) { bits |= PARLEY_EPOLL_IN }
        if new.contains(.write) { bits |= PARLEY_EPOLL_OUT }
        let operation = old.isEmpty ? PARLEY_EPOLL_CTL_ADD : new.isEmpty ? PARLEY_EPOLL_CTL_DEL : PARLEY_EPOLL_CTL_MOD
        _ = parley_epoll_ctl(descriptor, operation, fd, bits, token)
    }

    /// Waits up to `timeoutNanoseconds` (nil: until something is ready) and replaces `events` with what is ready.
    func wait(timeoutNanoseconds: UInt64?, into events: inout [PollEvent]) {
        events.removeAll(keepingCapacity: true)
        // Rounded up, so a deadline 0.3 ms away does not turn into a zero-timeout spin until it passes.
        let milliseconds = timeoutNanoseconds.map { Int32(min(($0 + 999_999) / 1_000_000, 60_000)) } ?? -1
        let count = parley_epoll_wait(descriptor, buffer, capacity, milliseconds)
        guard count > 0 else { return } // 0: timed out; -1: EINTR, the caller recomputes its deadlines anyway
        for index in 0..<count {
            let bits = parley_epoll_events_at(buffer, index)
            let failed = bits & (PARLEY_EPOLL_ERR | PARLEY_EPOLL_HUP) != 0
            events.append(PollEvent(token: parley_epoll_token_at(buffer, index),
                                    readable: bits & PARLEY_EPOLL_IN != 0 || failed,
                                    writable: bits & PARLEY_EPOLL_OUT != 0 || failed))
        }
    }
}

