import Glibc

/// Most iovecs one `writev`/`sendmsg` accepts on Linux (IOV_MAX, UIO_MAXIOV in the kernel).
let maxIOVecsPerWrite = 1024

/// What a flush left behind.
enum FlushOutcome: Equatable {
    /// Everything queued was written.
    case drained
    /// Bytes remain: the kernel's buffer was full, or there were more chunks than one write takes.
    case pending
}

/// A connection's pending output: references to shared `Outbound` messages plus the offset already
/// written of the first one.
///
/// Nothing is copied on enqueue: each entry points at a byte range of an `Outbound`, which keeps
/// the bytes alive until the entry is written or dropped. A flush gathers up to `maxIOVecsPerWrite`
/// entries into one gather write and advances past whatever the kernel accepted, which may end in
/// the middle of an entry (a partial write). `queuedBytes` is what the slow-consumer limit measures.
///
/// The oldest entry is kept inline while nothing else waits (`first`), the rest in an array: a fan-out gives each
/// of thousands of connections one message at a time, and reading and writing it in place, beside the
/// connection's other fields, spares a visit to a separate, cold buffer per recipient.
///
/// Loop-confined: a value owned by one `Connection`, used only on its loop's thread.
struct OutputQueue {
    private struct Chunk {
        let message: Outbound
        /// First unwritten byte, as an offset into the message's storage.
        var start: Int
        let end: Int

        var count: Int { end - start }

        var iovec: Glibc.iovec {
            Glibc.iovec(iov_base: UnsafeMutableRawPointer(mutating: message.address(at: start)), iov_len: count)
        }
    }

    /// The oldest unwritten entry, when it was queued with nothing before it; the entries after it (if any)
    /// are in `chunks`. Nil while `chunks` holds the oldest.
    private var first: Chunk?
    /// Entries before `head` are written and wait for compaction; this keeps a flush O(written).
    private var chunks: [Chunk] = []
    private var head = 0
    /// `chunks.count - head`, kept here so that a queue holding only `first` never reads the array's buffer.
    private var inArray = 0
    private(set) var queuedBytes = 0

    init() {}

    var isEmpty: Bool { queuedBytes == 0 }

    /// Number of messages with unwritten bytes.
    var chunkCount: Int { (first == nil ? 0 : 1) + inArray }

    /// Queues `part` of `message`. Empty parts are ignored: a zero-length iovec is legal but useless.
    mutating func append(_ message: Outbound, part: Outbound.Part) {
        let range = message.range(of: part)
        guard !range.isEmpty else { return }
        let chunk = Chunk(message: message, start: range.lowerBound, end: range.upperBound)
        if isEmpty {
            first = chunk
        } else {
            chunks.append(chunk)
            inArray += 1
        }
        queuedBytes += range.count
    }

    /// Drops everything (a connection being closed without a flush).
    mutating func removeAll() {
        first = nil
        chunks.removeAll()
        head = 0
        inArray = 0
        queuedBytes = 0
    }

    /// Writes as much as one gather write takes.
    ///
    /// - Parameters:
    ///   - iovecs: scratch space for at least `capacity` entries, shared by all connections of a loop.
    ///   - write: performs the write (a socket `sendmsg` in production, a fake in tests) and reports
    ///     how many bytes the kernel accepted, or `.wouldBlock`.
    mutating func flush(
        iovecs: UnsafeMutablePointer<iovec>,
        capacity: Int = maxIOVecsPerWrite,
        write: (UnsafeMutablePointer<iovec>, Int) throws(SystemError) -> IOResult<Int>
    ) throws(SystemError) -> FlushOutcome {
        var tally = OutputTally()
        return try flush(iovecs: iovecs, capacity: capacity, tally: &tally, write: write)
    }

    /// `flush`, adding the write call, the bytes and the messages completed to `tally`.
    mutating func flush(
        iovecs: UnsafeMutablePointer<iovec>,
        capacity: Int = maxIOVecsPerWrite,
        tally: inout OutputTally,
        write: (UnsafeMutablePointer<iovec>, Int) throws(SystemError) -> IOResult<Int>
    ) throws(SystemError) -> FlushOutcome {
        guard !isEmpty else { return .drained }
        let count = min(capacity, chunkCount)
        var index = 0
        if let first {
            iovecs[0] = first.iovec
            index = 1
        }
        let fromArray = head - index  // chunks[fromArray + index] is the entry for iovec `index`
        while index < count {
            iovecs[index] = chunks[fromArray + index].iovec
            index += 1
        }
        tally.writeCalls += 1
        switch try write(iovecs, count) {
        case .wouldBlock:
            return .pending
        case .processed(let written):
            tally.bytesWritten += written
            tally.framesWritten += consume(written)
            return isEmpty ? .drained : .pending
        }
    }

    /// Advances past `written` bytes, releasing fully written messages; returns how many were completed.
    private mutating func consume(_ written: Int) -> Int {
        var remaining = written
        queuedBytes -= written
        var completed = 0
        if let entry = first {
            if remaining < entry.count {
                first!.start += remaining
                return 0
            }
            remaining -= entry.count
            first = nil
            completed = 1
        }
        guard inArray > 0 else { return completed }
        let firstHead = head
        while remaining > 0 {
            let available = chunks[head].count
            if remaining < available {
                chunks[head].start += remaining
                break
            }
            remaining -= available
            head += 1
            inArray -= 1
        }
        completed += head - firstHead
        if head == chunks.count {
            // The common case, a full drain: keep the capacity, drop the references.
            chunks.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= chunks.count {
            // Under a steady backlog, release written messages in amortised O(1) per entry.
            chunks.removeFirst(head)
            head = 0
        }
        return completed
    }
}
