/// Which direct messages the screen has already shown, so a message delivered twice is printed once.
///
/// A version-2 server numbers every user's inbox (`seq`, docs/PROTOCOL.md §11.2) and sends again, after
/// `welcome`, whatever was never acknowledged, even if it went out live a moment before: `seq` is the key then.
/// A version-1 server sends no `seq`; its only duplicate is an offline delivery racing a live one, and the
/// global message `id` is the key, as it always was.
struct ShownMessages {
    /// How many keys are remembered before the oldest are let go.
    static let memory = 4096

    private var ids = Set<Int64>()
    private var idOrder: [Int64] = []
    /// Seqs shown above `seqFloor`. Everything at or below the floor counts as shown: the server sends an
    /// inbox oldest first, so the lowest seqs are the ones that can no longer come back.
    private var seqs = Set<Int64>()
    private var seqFloor: Int64 = 0
    /// The highest seq shown; nil while the server has sent none (a version-1 server never does).
    private(set) var highestSeq: Int64?

    /// True the first time a message is offered, false for a repeat. `seq` wins over `id` when both are there.
    mutating func firstShowing(seq: Int64?, id: Int64?) -> Bool {
        if let seq { return firstShowing(seq: seq) }
        if let id { return firstShowing(id: id) }
        return true
    }

    private mutating func firstShowing(seq: Int64) -> Bool {
        guard seq > seqFloor, seqs.insert(seq).inserted else { return false }
        highestSeq = max(highestSeq ?? seq, seq)
        if seqs.count > 2 * Self.memory {
            // Let the lower half go, in one step so the cost per message stays constant.
            let sorted = seqs.sorted()
            seqFloor = sorted[sorted.count - Self.memory - 1]
            seqs = Set(sorted[(sorted.count - Self.memory)...])
        }
        return true
    }

    private mutating func firstShowing(id: Int64) -> Bool {
        guard ids.insert(id).inserted else { return false }
        idOrder.append(id)
        if idOrder.count > Self.memory {
            ids.remove(idOrder.removeFirst())
        }
        return true
    }
}

/// When to acknowledge what the screen has shown (docs/PROTOCOL.md §11.2): not once per message under load.
/// After each batch of input the highest seq shown is acknowledged if it is new, at most once per `spacing`;
/// one held back by the spacing goes out at `deadline`, so the server's cursor catches up within `spacing`
/// of the last message. Nothing is ever acknowledged until a `seq` has been seen, which is how the client
/// stays quiet towards a version-1 server. Pure: the caller passes the time and sends the ack.
struct AckSchedule {
    static let spacing: Duration = .milliseconds(100)

    /// The highest seq acknowledged so far (0: none).
    private(set) var acked: Int64 = 0
    private var lastSentAt: ContinuousClock.Instant?
    /// A newer seq is shown but was held back by the spacing.
    private var heldBack = false

    /// When the held-back ack is due (the trailing ack); nil when nothing waits.
    var deadline: ContinuousClock.Instant? {
        guard heldBack, let lastSentAt else { return nil }
        return lastSentAt + Self.spacing
    }

    /// After a batch of input, or at `deadline`: the seq to acknowledge now, if any. The caller sends it.
    mutating func due(highestShown: Int64?, now: ContinuousClock.Instant) -> Int64? {
        guard let highest = highestShown, highest > acked else {
            heldBack = false
            return nil
        }
        if let lastSentAt, now < lastSentAt + Self.spacing {
            heldBack = true
            return nil
        }
        return sent(highest, at: now)
    }

    /// Before logging out: whatever is shown and not yet acknowledged, spacing or not, so the next login does
    /// not get it again.
    mutating func final(highestShown: Int64?, now: ContinuousClock.Instant) -> Int64? {
        guard let highest = highestShown, highest > acked else { return nil }
        return sent(highest, at: now)
    }

    private mutating func sent(_ seq: Int64, at now: ContinuousClock.Instant) -> Int64 {
        acked = seq
        lastSentAt = now
        heldBack = false
        return seq
    }
}
