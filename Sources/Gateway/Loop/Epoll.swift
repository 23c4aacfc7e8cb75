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
/// This is the only file that knows EPOLL* values. Registrations are level-triggered, so a handler
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
        fd = try Syscall.call("epoll_create1") { EpollABI.create1(O_CLOEXEC) }
        self.capacity = capacity
        buffer = UnsafeMutableRawPointer.allocate(
            byteCount: capacity * EpollABI.eventSize, alignment: MemoryLayout<UInt64>.alignment
        )
    }

    deinit {
        Syscall.close(fd)
        buffer.deallocate()
    }

    func add(_ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        try control(EpollABI.add, descriptor, interest: interest, token: token)
    }

    func modify(_ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        try control(EpollABI.modify, descriptor, interest: interest, token: token)
    }

    /// Removes `descriptor`. Failure is ignored: the only realistic cause is that it was never added.
    func remove(_ descriptor: Int32) {
        _ = try? control(EpollABI.delete, descriptor, interest: [], token: 0)
    }

    /// Blocks for up to `timeoutMilliseconds` (-1: until something happens) and replaces `events`
    /// with what is ready. EINTR returns no events rather than retrying with a stale timeout.
    func wait(timeoutMilliseconds: Int32, into events: inout [ReadyEvent]) throws(SystemError) {
        events.removeAll(keepingCapacity: true)
        let count: Int32
        switch try Syscall.interruptible("epoll_wait", { EpollABI.wait(fd, buffer, Int32(capacity), timeoutMilliseconds) }) {
        case .processed(let ready): count = ready
        case .wouldBlock: return
        }
        for index in 0..<Int(count) {
            let record = buffer + index * EpollABI.eventSize
            let bits = record.loadUnaligned(as: UInt32.self)
            let token = record.loadUnaligned(fromByteOffset: EpollABI.dataOffset, as: UInt64.self)
            let failed = bits & (EpollABI.error | EpollABI.hangup) != 0
            events.append(ReadyEvent(
                token: token,
                isReadable: bits & EpollABI.input != 0 || failed,
                isWritable: bits & EpollABI.output != 0 || failed,
                isHangup: failed
            ))
        }
    }

    private func control(_ operation: Int32, _ descriptor: Int32, interest: Interest, token: UInt64) throws(SystemError) {
        // struct epoll_event { uint32_t events; epoll_data_t data; } — packed on x86_64.
        var record = (UInt64(0), UInt64(0))
        try withUnsafeMutableBytes(of: &record) { raw throws(SystemError) in
            var bits: UInt32 = 0
            if interest.contains(.readable) { bits |= EpollABI.input }
            if interest.contains(.writable) { bits |= EpollABI.output }
            raw.storeBytes(of: bits, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: token, toByteOffset: EpollABI.dataOffset, as: UInt64.self)
            _ = try Syscall.call("epoll_ctl") { EpollABI.control(fd, operation, descriptor, raw.baseAddress) }
        }
    }
}

/// The Linux epoll ABI: constants from <sys/epoll.h> and the three calls, bound through `dlsym`
/// (see `LinuxSymbols`). `struct epoll_event` is packed (12 bytes) on x86_64 and naturally aligned
/// (16 bytes, data at offset 8) elsewhere, so records are read and written by byte offset.
private enum EpollABI {
    static let input: UInt32 = 0x001     // EPOLLIN
    static let output: UInt32 = 0x004    // EPOLLOUT
    static let error: UInt32 = 0x008     // EPOLLERR
    static let hangup: UInt32 = 0x010    // EPOLLHUP

    static let add: Int32 = 1            // EPOLL_CTL_ADD
    static let delete: Int32 = 2         // EPOLL_CTL_DEL
    static let modify: Int32 = 3         // EPOLL_CTL_MOD

    #if arch(x86_64)
    static let eventSize = 12
    static let dataOffset = 4
    #else
    static let eventSize = 16
    static let dataOffset = 8
    #endif

    typealias Create1 = @convention(c) (Int32) -> Int32
    typealias Control = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias Wait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32

    static let create1: Create1 = LinuxSymbols.resolve("epoll_create1")
    static let control: Control = LinuxSymbols.resolve("epoll_ctl")
    static let wait: Wait = LinuxSymbols.resolve("epoll_wait")
}
