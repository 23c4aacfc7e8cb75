/// Every user's inbox as the hub sees it: where it stands (the newest seq and the acked cursor), the logins that
/// are replaying it, and the REST readers waiting on it. It only decides; the hub delivers and writes.
///
/// An inbox is the user's direct messages in seq order (1, 2, 3, … gap-free, assigned by the store at commit).
/// The cursor is the highest seq the user has received: acknowledged by a client that acks, or handed to the
/// connection of one that does not. "Offline messages" are simply the inbox after the cursor, so a connection
/// that drops with messages still queued loses nothing an acking client has not confirmed.
///
/// Cursor moves are coalesced: the hub takes them (`takeCursorWrites`) at most every few hundred milliseconds
/// and at shutdown, so a flood of acks costs one small write per user per flush. A crash loses at most that
/// window of cursor moves, which only means those messages come again (clients drop a seq they have shown).
///
/// A room would be one more stream that many members follow, each with a cursor of their own; the shapes here
/// (head, cursor, replay after the cursor) are the same.
final class Inboxes {
    /// A login reading the inbox after its cursor, page by page. Messages committed meanwhile are held back and
    /// handed over after the last page, so the session sees its inbox in seq order.
    struct Replay {
        let session: Session
        /// The highest seq handed to the session so far (by the replay or, afterwards, live).
        var delivered: Int64
        var late: [StoredMessage] = []
        /// A client with acks gets the next page once it has acknowledged this seq (the end of the page before),
        /// so a long inbox flows at the pace the client reads it instead of piling up in its output queue.
        /// `since`: when the wait began, so a client that never acks is not stalled forever.
        var awaitingAck: (seq: Int64, since: Int64)?
    }

    /// A REST reader waiting for its inbox to grow past `after`.
    struct Waiter {
        let session: Session
        let after: Int64
        let limit: Int
        let deadline: Int64
        let re: RequestID?
    }

    /// A user's head, and the acked cursor the store has (read from it, or handed to it in a write).
    private struct Entry {
        var head: InboxHead
        var saved: Int64

        static let empty = Entry(head: InboxHead(last: 0, acked: 0), saved: 0)

        var isUnsaved: Bool { head.acked > saved }

        /// The cursor to write, if the store lacks it; from here on the store is taken to have it.
        mutating func takeUnsaved() -> Int64? {
            guard isUnsaved else { return nil }
            saved = head.acked
            return saved
        }
    }

    private var entries: [String: Entry]
    /// Users whose cursor went past what the store has, each listed when it did: once until a write, and again if
    /// it moves after a logout wrote it (the flush skips a listing the store already has). A list, not a second
    /// map: each message a client without acks receives moves its cursor, and a map would cost a hashed update
    /// per message on top of the head's.
    private var unsaved: [String] = []
    private var replays: [String: Replay] = [:]
    private var waiters: [String: [Waiter]] = [:]

    init(_ heads: [String: InboxHead]) {
        entries = heads.mapValues { Entry(head: $0, saved: $0.acked) }
    }

    func head(of user: String) -> InboxHead {
        entries[user]?.head ?? Entry.empty.head
    }

    // MARK: Messages and cursors

    /// A cluster node read `user`'s head from the shared store: it keeps the further of the two on each count.
    func merge(_ user: String, _ stored: InboxHead) {
        var entry = entries[user] ?? .empty
        entry.head = InboxHead(last: max(entry.head.last, stored.last), acked: max(entry.head.acked, stored.acked))
        entry.saved = max(entry.saved, stored.acked)
        entries[user] = entry
    }

    /// `message` was committed with its seq.
    func committed(_ message: StoredMessage) {
        // One lookup, changed in place: this runs for every message.
        entries[message.to, default: .empty].head.last.raise(to: message.seq)
    }

    /// `message` was committed and is handed now to a session of its recipient that does not ack, which has
    /// received it with that (`ceiling`: the session's, as for `acknowledge`). The head is looked up once for both.
    func committed(_ message: StoredMessage, receivedUnder ceiling: Int64?) {
        let seq = message.seq
        let listed = Self.update(&entries[message.to, default: .empty]) { head in
            head.last.raise(to: seq)
            _ = Self.advanceAcked(of: &head, asked: seq, to: min(seq, ceiling ?? seq))
        }
        if listed { unsaved.append(message.to) }
    }

    enum AckOutcome: Equatable {
        case advanced
        case unchanged
        /// The seq is past the newest message of the inbox.
        case beyondInbox(last: Int64)
    }

    /// `user` has received everything up to `seq`. With a `ceiling` the cursor moves no further than it, whatever
    /// `seq` says: the session acking has not been sent the inbox beyond it (its replay could not be read).
    func acknowledge(_ user: String, upTo seq: Int64, ceiling: Int64? = nil) -> AckOutcome {
        let capped = min(seq, ceiling ?? seq)
        var outcome = AckOutcome.unchanged
        // The entry is looked up once and changed in place: acks come about as often as messages.
        let listed = Self.update(&entries[user, default: .empty]) { head in
            outcome = Self.advanceAcked(of: &head, asked: seq, to: capped)
        }
        if listed { unsaved.append(user) }
        return outcome
    }

    /// Applies `change` to the entry's head; true if that made a saved cursor unsaved (the user is to be listed).
    private static func update(_ entry: inout Entry, _ change: (inout InboxHead) -> Void) -> Bool {
        let wasUnsaved = entry.isUnsaved
        change(&entry.head)
        return entry.isUnsaved && !wasUnsaved
    }

    private static func advanceAcked(of head: inout InboxHead, asked: Int64, to capped: Int64) -> AckOutcome {
        guard asked <= head.last else { return .beyondInbox(last: head.last) }
        guard capped > head.acked else { return .unchanged }
        head.acked = capped
        return .advanced
    }

    var hasUnsavedCursors: Bool { !unsaved.isEmpty }

    /// `user`'s cursor move since the last write, as a store write (nil if there is none).
    func takeCursorWrite(of user: String) -> StoreWrite? {
        // Changed in place through its index: `entries[user]?.…` would move the entry out and back in.
        guard let index = entries.index(forKey: user), let acked = entries.values[index].takeUnsaved() else { return nil }
        return .advanceCursor(user: user, to: acked)
    }

    /// The cursor moves since the last call, as store writes: one per user, at its latest position.
    func takeCursorWrites() -> [StoreWrite] {
        defer { unsaved.removeAll(keepingCapacity: true) }
        var writes: [StoreWrite] = []
        writes.reserveCapacity(unsaved.count)
        for user in unsaved {
            if let write = takeCursorWrite(of: user) { writes.append(write) }
        }
        return writes
    }

    // MARK: Replays at login

    /// `session` reads `user`'s inbox from now on, after the cursor or after what the session was already
    /// handed, whichever is later; returns that seq, where the first page starts.
    @discardableResult
    func startReplay(of user: String, into session: Session) -> Int64 {
        let after = max(head(of: user).acked, session.handedUpTo)
        replays[user] = Replay(session: session, delivered: after)
        return after
    }

    /// The replay for `user` into `session`, if that session started it.
    func replay(of user: String, into session: Session) -> Replay? {
        guard let replay = replays[user], replay.session === session else { return nil }
        return replay
    }

    /// A page of the replay reached the session up to `seq`.
    func replayed(_ user: String, upTo seq: Int64) {
        if let delivered = replays[user]?.delivered, seq > delivered { replays[user]?.delivered = seq }
    }

    /// The replay into `session` reads on once `user` has acknowledged `seq`.
    func awaitAck(_ user: String, upTo seq: Int64, since now: Int64) {
        replays[user]?.awaitingAck = (seq, now)
    }

    /// Replays whose client has acknowledged the page they wait on, or has made them wait past `deadline`:
    /// they read on from where they are (user, session, the last seq handed over).
    func replaysToResume(olderThan deadline: Int64) -> [(user: String, session: Session, after: Int64)] {
        var ready: [(String, Session, Int64)] = []
        for (user, replay) in replays {
            guard let waiting = replay.awaitingAck else { continue }
            if head(of: user).acked >= waiting.seq || waiting.since <= deadline {
                replays[user]?.awaitingAck = nil
                ready.append((user, replay.session, replay.delivered))
            }
        }
        return ready
    }

    /// `user`'s replay, if it waits on the page that `user` has now acknowledged: it reads on from where it is
    /// (its session, the last seq handed over). An ack concerns its own user's replay only, so it looks at that
    /// one, not at every replay under way (after a restart, everyone's).
    func replayToResume(afterAckOf user: String) -> (session: Session, after: Int64)? {
        guard let replay = replays[user], let waiting = replay.awaitingAck, head(of: user).acked >= waiting.seq else {
            return nil
        }
        replays[user]?.awaitingAck = nil
        return (replay.session, replay.delivered)
    }

    func isReplaying(_ user: String) -> Bool { replays[user] != nil }

    /// Holds a message committed while `user`'s replay runs; false when no replay runs for `user`.
    @discardableResult
    func holdForReplay(_ message: StoredMessage) -> Bool {
        guard replays[message.to] != nil else { return false }
        replays[message.to]?.late.append(message)
        return true
    }

    /// The replay is over: the held messages it has not handed over yet, in seq order.
    func finishReplay(of user: String, into session: Session) -> [StoredMessage] {
        guard let replay = replay(of: user, into: session) else { return [] }
        replays[user] = nil
        return replay.late.filter { $0.seq > replay.delivered }.sorted { $0.seq < $1.seq }
    }

    /// The login ended before its replay did.
    func cancelReplay(of user: String, into session: Session) {
        if replay(of: user, into: session) != nil { replays[user] = nil }
    }

    var replayCount: Int { replays.count }

    // MARK: REST readers

    func wait(_ user: String, _ waiter: Waiter) {
        waiters[user, default: []].append(waiter)
    }

    /// The readers of `user` whose wait a message with `seq` ends (they are no longer waiting).
    func wake(_ user: String, seq: Int64) -> [Waiter] {
        guard let waiting = waiters[user] else { return [] }
        let (woken, still) = (waiting.filter { seq > $0.after }, waiting.filter { seq <= $0.after })
        waiters[user] = still.isEmpty ? nil : still
        return woken
    }

    /// Readers whose wait ended without news: past their deadline, or (with `token`) holding a revoked token,
    /// or (with `everyone`) all of them, at shutdown.
    func expire(now: Int64? = nil, token: String? = nil, everyone: Bool = false) -> [Waiter] {
        var ended: [Waiter] = []
        for (user, waiting) in waiters {
            let (gone, still) = (waiting.filter(isOver), waiting.filter { !isOver($0) })
            ended += gone
            waiters[user] = still.isEmpty ? nil : still
        }
        return ended

        func isOver(_ waiter: Waiter) -> Bool {
            everyone || now.map { waiter.deadline <= $0 } == true
                || (token != nil && waiter.session.tokenDigest == token)
        }
    }

    func isWaiting(on user: String) -> Bool { waiters[user] != nil }

    var waiterCount: Int { waiters.values.reduce(0) { $0 + $1.count } }
}

private extension Int64 {
    mutating func raise(to value: Int64) { self = Swift.max(self, value) }
}
