/// What a command sent to hiredis is waiting for: its caller's completion, or the link's own set-up.
enum PendingKind {
    /// `CLIENT SETNAME` or `SELECT`, sent before the link counts as ready.
    case handshake
    case command(RedisCompletion)
}

struct PendingReply {
    let kind: PendingKind
    /// When it was handed to hiredis (monotonic ns): the command timeout runs from here.
    let sentAt: UInt64
    /// Set when its timeout passed and the link is being dropped: its lost reply then reads `.timeout`.
    var timedOut = false
}

/// The replies a link waits for, oldest first. Redis answers in order and hiredis calls back in order, so the
/// oldest entry is always the one the next reply belongs to; a FIFO with a moving head keeps a pipelined burst
/// of 100 000 commands O(1) per reply (Array.removeFirst would shift them all each time).
struct PendingReplies {
    private var entries: [PendingReply?] = []
    private var head = 0

    var isEmpty: Bool { head == entries.count }
    var count: Int { entries.count - head }
    var first: PendingReply? { isEmpty ? nil : entries[head] }

    mutating func append(_ entry: PendingReply) { entries.append(entry) }

    mutating func popFirst() -> PendingReply? {
        guard !isEmpty else { return nil }
        let entry = entries[head]
        entries[head] = nil
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return entry
    }

    mutating func markFirstTimedOut() {
        if !isEmpty { entries[head]?.timedOut = true }
    }
}

/// Subscriptions sent on the subscriber link whose confirmations have not all come back: Redis confirms each
/// channel of a SUBSCRIBE separately and in order, so a count per batch is enough to know when one is complete.
struct SubscribeBatch {
    var remaining: Int
    let sentAt: UInt64
    /// The caller's completion, or nil for the link's own re-subscription at connect.
    let done: (@Sendable (Result<Void, RedisError>) -> Void)?
}
