/// The SQLite writer's memory of what the hot path would otherwise search the database for: account ids, each
/// inbox's last seq, and the log's unindexed tail per user (StoreSchema explains the batch indexing).
///
/// Only the writer thread touches it, inside its transactions. Changes made while a batch runs are recorded so
/// they can be taken back when the batch (or one call's savepoint) rolls back: memory never runs ahead of what
/// the database commits, and a failed append never consumes a seq.
final class LogLedger {
    /// One message in a user's unindexed tail.
    struct Entry: Equatable {
        var id: Int64
        /// The message's seq when this user received it; 0 when this user sent it.
        var seq: Int64
        /// The other side (the user themselves for a message to oneself).
        var partner: Int64
    }

    private enum Undo {
        case account(name: String, id: Int64)
        case append(sender: Int64, recipient: Int64, previousLast: Int64)
    }

    private var ids: [String: Int64] = [:]
    private var names: [Int64: String] = [:]
    private var lasts: [Int64: Int64] = [:]
    private var tail: [Int64: [Entry]] = [:]
    private var undo: [Undo] = []
    /// Messages in the unindexed tail.
    private(set) var tailCount = 0
    /// The highest message id the index tables cover (reads take the index up to here, the tail above).
    private(set) var indexedUpTo: Int64
    /// The highest id an indexing run (finished or under way) covers: a new message must have a higher id, or
    /// the run would miss it. The hub's ids only grow, so this never refuses one of its messages.
    private(set) var sealedUpTo: Int64
    /// The highest message id appended so far (at least `indexedUpTo`).
    private(set) var lastID: Int64
    /// Whether each user's tail is in id order (appends came in id order), so a history page can walk it
    /// backwards instead of sorting it.
    private(set) var isTailInIDOrder = true
    /// The highest account id: indexing runs step through the users by id range.
    private(set) var lastAccountID: Int64 = 0

    /// `accounts`: id → name; `lasts`: every inbox's last seq; `tail`: the log after `indexedUpTo`, in id order.
    init(accounts: [(id: Int64, name: String)], lasts: [Int64: Int64], indexedUpTo: Int64,
         tail: [(id: Int64, sender: Int64, recipient: Int64, seq: Int64)]) {
        for (id, name) in accounts {
            ids[name] = id
            names[id] = name
            lastAccountID = max(lastAccountID, id)
        }
        self.lasts = lasts
        self.indexedUpTo = indexedUpTo
        sealedUpTo = indexedUpTo
        lastID = indexedUpTo
        for row in tail {
            addToTail(id: row.id, sender: row.sender, recipient: row.recipient, seq: row.seq)
            self.lasts[row.recipient] = max(self.lasts[row.recipient] ?? 0, row.seq)
        }
    }

    // MARK: Lookups

    func id(of name: String) -> Int64? { ids[name] }

    func name(of id: Int64) -> String { names[id] ?? "" }

    /// The account's id, or a constraint failure (the foreign key the log does not declare).
    func requireID(of name: String) throws -> Int64 {
        guard let id = ids[name] else { throw StoreError.constraint("no account named \(name)") }
        return id
    }

    /// The user's last seq, 0 for an empty inbox.
    func last(of user: Int64) -> Int64 { lasts[user] ?? 0 }

    // MARK: Changes (each one undoable until `commit`)

    func addAccount(name: String, id: Int64) {
        ids[name] = id
        names[id] = name
        lastAccountID = max(lastAccountID, id)
        undo.append(.account(name: name, id: id))
    }

    /// Refuses an id that an indexing run has already passed (it would never be indexed).
    func requireUnsealed(_ id: Int64) throws {
        guard id > sealedUpTo else { throw StoreError.constraint("message id \(id) is not above the indexed ids (\(sealedUpTo))") }
    }

    /// The message with `id` took `seq` in the recipient's inbox.
    func appended(id: Int64, sender: Int64, recipient: Int64, seq: Int64) {
        undo.append(.append(sender: sender, recipient: recipient, previousLast: lasts[recipient] ?? 0))
        lasts[recipient] = seq
        addToTail(id: id, sender: sender, recipient: recipient, seq: seq)
    }

    /// A position to roll back to: taken before a batch and before each isolated call.
    var mark: Int { undo.count }

    /// Takes back every change made after `mark`, newest first.
    func rollBack(to mark: Int) {
        while undo.count > mark {
            switch undo.removeLast() {
            case .account(let name, let id):
                ids[name] = nil
                names[id] = nil
            case .append(let sender, let recipient, let previousLast):
                lasts[recipient] = previousLast
                tail[recipient]?.removeLast()
                if sender != recipient { tail[sender]?.removeLast() }
                tailCount -= 1
            }
        }
    }

    /// The batch committed: its changes stay.
    func commit() { undo.removeAll(keepingCapacity: true) }

    /// An indexing run starts: it covers the ids up to `id` (everything appended so far).
    func seal(upTo id: Int64) { sealedUpTo = max(sealedUpTo, id) }

    /// The index tables now cover everything up to `id`: those entries leave the tail. They are a prefix of
    /// each user's tail, since everything appended after the run started has a higher id.
    func indexed(upTo id: Int64) {
        indexedUpTo = max(indexedUpTo, id)
        sealedUpTo = max(sealedUpTo, id)
        for (user, entries) in tail {
            let kept = entries.drop { $0.id <= id }
            // A message counts once, on its recipient's side.
            tailCount -= entries.prefix(entries.count - kept.count).filter { $0.seq > 0 }.count
            tail[user] = kept.isEmpty ? nil : Array(kept)
        }
        if tail.isEmpty { isTailInIDOrder = true }
    }

    // MARK: The unindexed tail

    /// The user's tail entries with id ≤ `upTo` (what an indexing run covers), oldest first.
    func entries(of user: Int64, upTo: Int64) -> ArraySlice<Entry> {
        guard let entries = tail[user] else { return [] }
        return entries.prefix { $0.id <= upTo }
    }

    /// Users with tail entries up to `upTo`, ascending.
    func tailUsers(upTo: Int64) -> [Int64] {
        tail.compactMap { user, entries in (entries.first?.id ?? .max) <= upTo ? user : nil }.sorted()
    }

    /// The index entries an indexing run up to `upTo` writes for `user` (packed into rows, IndexChunks).
    func indexRows(of user: Int64, upTo: Int64) -> Int {
        entries(of: user, upTo: upTo).count
    }

    /// Ids of the user's received messages with seq > `after`, oldest first, at most `limit`.
    func tailInbox(of user: Int64, after: Int64, limit: Int) -> [Int64] {
        guard limit > 0, let entries = tail[user] else { return [] }
        var ids: [Int64] = []
        // Sent entries have seq 0, so `after` below 0 must not let them in.
        for entry in entries where entry.seq > max(after, 0) {
            ids.append(entry.id)
            if ids.count == limit { break }
        }
        return ids
    }

    /// Ids of the user's messages (with `partner` only, if given) with id < `before`, newest first, at most `limit`.
    func tailHistory(of user: Int64, with partner: Int64?, before: Int64, limit: Int) -> [Int64] {
        guard limit > 0, let entries = tail[user] else { return [] }
        guard isTailInIDOrder else {
            let matching = entries.filter { $0.id < before && (partner == nil || $0.partner == partner) }
            return matching.map(\.id).sorted(by: >).prefix(limit).map { $0 }
        }
        var ids: [Int64] = []
        for entry in entries.reversed() where entry.id < before && (partner == nil || entry.partner == partner) {
            ids.append(entry.id)
            if ids.count == limit { break }
        }
        return ids
    }

    private func addToTail(id: Int64, sender: Int64, recipient: Int64, seq: Int64) {
        if id < lastID { isTailInIDOrder = false }
        lastID = max(lastID, id)
        tail[recipient, default: []].append(Entry(id: id, seq: seq, partner: sender))
        if sender != recipient { tail[sender, default: []].append(Entry(id: id, seq: 0, partner: recipient)) }
        tailCount += 1
    }
}
