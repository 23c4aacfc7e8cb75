/// The SQLite writer's memory of what the hot path would otherwise search the database for: account ids, each
/// inbox's last seq, and the log's unindexed tail per user (StoreSchema explains the batch indexing).
///
/// Only the writer thread touches it, inside its transactions. Changes made while a batch runs are recorded so
/// they can be taken back when the batch (or one call's savepoint) rolls back: memory never runs ahead of what
/// the database commits, and a failed append never consumes a seq.
///
/// Layout, for the append on the hot path: every user has a slot in one array (id, name, last seq, newest tail
/// row), found by name once per message side; the tail is one array of rows in append order, each row linked to
/// the previous row of its sender and of its recipient. An append is then one dictionary lookup per side, two
/// slot updates and one row at the end of a warm array, where per-user arrays in dictionaries cost two more
/// hashed lookups and a cold array header per side (profiled at 20k messages/s, the ledger was about 30 % of the
/// append's CPU). A user's tail is read by walking their links back from the newest row.
final class LogLedger {
    /// One message in a user's unindexed tail.
    struct Entry: Equatable {
        var id: Int64
        /// The message's seq when this user received it; 0 when this user sent it.
        var seq: Int64
        /// The other side (the user themselves for a message to oneself).
        var partner: Int64
    }

    /// A user's place in `users`, as `requireSlot` hands it to the hot path.
    struct Slot: Equatable {
        fileprivate let index: Int32
    }

    private struct User {
        let id: Int64
        var name: String
        /// The inbox's last seq (0: empty).
        var last: Int64 = 0
        /// The newest tail row this user sent or received, or `none`.
        var newest: Int32 = none
    }

    /// A message of the tail: `previousOfSender` and `previousOfRecipient` link it to the previous rows of the
    /// same users (equal for a message to oneself, which is one entry, as received).
    private struct Row {
        let id: Int64
        let seq: Int64
        let sender: Int32
        let recipient: Int32
        let previousOfSender: Int32
        let previousOfRecipient: Int32
    }

    /// Where the full pages after a user's last inbox page read from the tail begin. A replay reads an inbox page
    /// after page, each asking for what follows the last seq of the one before; the tail's links run from new to
    /// old, so without these each page would walk back from the newest row over every page still to come.
    private struct InboxPageStarts {
        let limit: Int
        /// The `after` of a following full page (the last seq of the page before it) → the row of that page's
        /// newest entry, and that entry's seq to check it by.
        var starts: [Int64: (position: Int32, seq: Int64)]
    }

    private enum Undo {
        case account(name: String, slot: Int32)
        case append(previousLast: Int64)
    }

    private static let none: Int32 = -1
    /// How many pages ahead an inbox read of the tail notes where they begin (`notePageStarts`).
    static let maxNotedPages = 64
    /// How many users' noted page starts are kept at once; past that they are all dropped and noted again.
    static let maxNotedUsers = 256

    private var users: [User] = []
    private var slotByName: [String: Int32] = [:]
    private var slotByID: [Int64: Int32] = [:]
    private var rows: [Row] = []
    private var undo: [Undo] = []
    /// Per user (by slot), for up to `maxNotedUsers` users: many users may replay at once (everyone coming back
    /// after a restart).
    private var inboxPageStarts: [Int32: InboxPageStarts] = [:]
    /// Rows visited by reads of the tail so far: the tests' check that a replay walks each page once.
    private(set) var tailRowsWalked = 0
    /// Messages in the unindexed tail.
    var tailCount: Int { rows.count }
    /// The highest message id the index tables cover (reads take the index up to here, the tail above).
    private(set) var indexedUpTo: Int64
    /// The highest id an indexing run (finished or under way) covers: a new message must have a higher id, or
    /// the run would miss it. The hub's ids only grow, so this never refuses one of its messages.
    private(set) var sealedUpTo: Int64
    /// The highest message id appended so far (at least `indexedUpTo`).
    private(set) var lastID: Int64
    /// Whether the tail is in id order (appends came in id order), so a history page can walk it backwards
    /// instead of sorting it.
    private(set) var isTailInIDOrder = true
    /// The highest account id: indexing runs step through the users by id range.
    private(set) var lastAccountID: Int64 = 0

    /// `accounts`: id → name; `lasts`: every inbox's last seq; `tail`: the log after `indexedUpTo`, in id order.
    init(accounts: [(id: Int64, name: String)], lasts: [Int64: Int64], indexedUpTo: Int64,
         tail: [(id: Int64, sender: Int64, recipient: Int64, seq: Int64)]) {
        self.indexedUpTo = indexedUpTo
        sealedUpTo = indexedUpTo
        lastID = indexedUpTo
        for (id, name) in accounts { slotByName[name] = slot(forID: id, name: name) }
        for (id, last) in lasts { users[Int(slot(forID: id))].last = last }
        for row in tail {
            let recipient = slot(forID: row.recipient)
            addToTail(id: row.id, sender: slot(forID: row.sender), recipient: recipient, seq: row.seq)
            users[Int(recipient)].last = max(users[Int(recipient)].last, row.seq)
        }
    }

    /// The slot of the account `id`, made (nameless, for a log read without its accounts) if it has none yet.
    private func slot(forID id: Int64, name: String = "") -> Int32 {
        if let slot = slotByID[id] {
            if !name.isEmpty { users[Int(slot)].name = name }
            return slot
        }
        let slot = Int32(users.count)
        users.append(User(id: id, name: name))
        slotByID[id] = slot
        lastAccountID = max(lastAccountID, id)
        return slot
    }

    // MARK: Lookups

    func id(of name: String) -> Int64? { slotByName[name].map { users[Int($0)].id } }

    func name(of id: Int64) -> String { slotByID[id].map { users[Int($0)].name } ?? "" }

    /// The account's id, or a constraint failure (the foreign key the log does not declare).
    func requireID(of name: String) throws -> Int64 {
        users[Int(try requireSlot(of: name).index)].id
    }

    /// The account's slot (for `appended` and `last(of:)` without another lookup), or a constraint failure.
    func requireSlot(of name: String) throws -> Slot {
        guard let slot = slotByName[name] else { throw StoreError.constraint("no account named \(name)") }
        return Slot(index: slot)
    }

    func id(of slot: Slot) -> Int64 { users[Int(slot.index)].id }

    /// The user's last seq, 0 for an empty inbox.
    func last(of user: Int64) -> Int64 { slotByID[user].map { users[Int($0)].last } ?? 0 }

    func last(of slot: Slot) -> Int64 { users[Int(slot.index)].last }

    // MARK: Changes (each one undoable until `commit`)

    func addAccount(name: String, id: Int64) {
        let slot = slot(forID: id, name: name)
        slotByName[name] = slot
        undo.append(.account(name: name, slot: slot))
    }

    /// Refuses an id that an indexing run has already passed (it would never be indexed).
    func requireUnsealed(_ id: Int64) throws {
        guard id > sealedUpTo else { throw StoreError.constraint("message id \(id) is not above the indexed ids (\(sealedUpTo))") }
    }

    /// The message with `id` took `seq` in the recipient's inbox.
    func appended(id: Int64, sender: Slot, recipient: Slot, seq: Int64) {
        undo.append(.append(previousLast: users[Int(recipient.index)].last))
        users[Int(recipient.index)].last = seq
        addToTail(id: id, sender: sender.index, recipient: recipient.index, seq: seq)
    }

    /// A position to roll back to: taken before a batch and before each isolated call.
    var mark: Int { undo.count }

    /// Takes back every change made after `mark`, newest first. Appends are undone from the tail's end, where
    /// the batch put them (indexing, which rebuilds the tail, runs only between batches).
    func rollBack(to mark: Int) {
        while undo.count > mark {
            switch undo.removeLast() {
            case .account(let name, let slot):
                // The slot stays, nameless and no longer found by name; the id takes it again if it comes back.
                slotByName[name] = nil
                users[Int(slot)].name = ""
            case .append(let previousLast):
                let row = rows.removeLast()
                users[Int(row.recipient)].last = previousLast
                users[Int(row.recipient)].newest = row.previousOfRecipient
                users[Int(row.sender)].newest = row.previousOfSender
            }
        }
    }

    /// The batch committed: its changes stay.
    func commit() { undo.removeAll(keepingCapacity: true) }

    /// An indexing run starts: it covers the ids up to `id` (everything appended so far).
    func seal(upTo id: Int64) { sealedUpTo = max(sealedUpTo, id) }

    /// The index tables now cover everything up to `id`: those rows leave the tail, which is rebuilt from the
    /// rows kept (once per indexing run).
    func indexed(upTo id: Int64) {
        indexedUpTo = max(indexedUpTo, id)
        sealedUpTo = max(sealedUpTo, id)
        let kept = rows.filter { $0.id > id }
        rows.removeAll(keepingCapacity: true)
        inboxPageStarts.removeAll()  // every row moves
        for index in users.indices { users[index].newest = Self.none }
        for row in kept { link(id: row.id, sender: row.sender, recipient: row.recipient, seq: row.seq) }
        isTailInIDOrder = zip(kept, kept.dropFirst()).allSatisfy { $0.id < $1.id }
    }

    // MARK: The unindexed tail

    /// The tail's entries with id ≤ `upTo` (what an indexing run covers), grouped by user in two passes over
    /// the rows: a count per user, then each entry put in its user's place. Each user's are in append order.
    func gather(upTo: Int64) -> RunEntries {
        var counts = [Int](repeating: 0, count: users.count)
        for row in rows where row.id <= upTo {
            counts[Int(row.recipient)] += 1
            if row.sender != row.recipient { counts[Int(row.sender)] += 1 }
        }
        let slots = users.indices.filter { counts[$0] > 0 }.sorted { users[$0].id < users[$1].id }
        var starts: [Int] = []
        starts.reserveCapacity(slots.count + 1)
        var next = [Int](repeating: 0, count: users.count)
        var total = 0
        for slot in slots {
            starts.append(total)
            next[slot] = total
            total += counts[slot]
        }
        starts.append(total)
        var entries = [Entry](repeating: Entry(id: 0, seq: 0, partner: 0), count: total)
        for row in rows where row.id <= upTo {
            let sender = Int(row.sender), recipient = Int(row.recipient)
            // A message to oneself is one entry, as received.
            entries[next[recipient]] = entry(row, seenBy: row.recipient)
            next[recipient] += 1
            if sender != recipient {
                entries[next[sender]] = entry(row, seenBy: row.sender)
                next[sender] += 1
            }
        }
        return RunEntries(users: slots.map { users[$0].id }, starts: starts, entries: entries)
    }

    /// Ids of the user's received messages with seq > `after`, oldest first, at most `limit`.
    ///
    /// The walk back from the newest row passes every received entry above the cursor. When it does, it notes
    /// where each later full page of the same size begins (`InboxPageStarts`), so that the next page of a replay
    /// walks its own length instead of the whole rest again: a replay of the tail costs its length, not its square.
    func tailInbox(of user: Int64, after: Int64, limit: Int) -> [Int64] {
        guard limit > 0, let slot = slotByID[user] else { return [] }
        // Sent entries have seq 0, so `after` below 0 must not let them in. Received seqs grow in append
        // order, so the walk back stops at the first one at or below the cursor.
        let after = max(after, 0)
        let noted = pageStart(of: slot, after: after, limit: limit)
        var received: [(id: Int64, seq: Int64, position: Int32)] = []
        walk(slot, from: noted) { entry, position in
            guard entry.seq != 0 else { return true }
            guard entry.seq > after else { return false }
            received.append((entry.id, entry.seq, position))
            return true
        }
        received.reverse()  // oldest first, in place
        if noted == nil { notePageStarts(received, slot: slot, limit: limit) }
        return received.prefix(limit).map(\.id)
    }

    /// The row a noted page starts at, if it is still the entry it was: rows move when the tail is rebuilt and
    /// are taken back with a batch, but a recipient's seq names one message.
    private func pageStart(of slot: Int32, after: Int64, limit: Int) -> Int32? {
        guard let noted = inboxPageStarts[slot], noted.limit == limit,
              let start = noted.starts[after], Int(start.position) < rows.count else { return nil }
        let row = rows[Int(start.position)]
        return row.recipient == slot && row.seq == start.seq ? start.position : nil
    }

    /// Notes where each full page after the first begins (the next `maxNotedPages` of them), from every received
    /// entry above a cursor, oldest first. A full page's entries stay the same as messages arrive (they come after
    /// it); the last page, if it is short, is left to a walk from the newest row, which finds what arrived meanwhile.
    /// The cap keeps small pages (a bot reading one message at a time) from noting a start per message.
    private func notePageStarts(_ received: [(id: Int64, seq: Int64, position: Int32)], slot: Int32, limit: Int) {
        guard received.count >= 2 * limit else { return }
        var starts: [Int64: (position: Int32, seq: Int64)] = [:]
        let last = min(received.count, (Self.maxNotedPages + 1) * limit)
        for end in stride(from: 2 * limit, through: last, by: limit) {
            starts[received[end - limit - 1].seq] = (received[end - 1].position, received[end - 1].seq)
        }
        if inboxPageStarts.count >= Self.maxNotedUsers, inboxPageStarts[slot] == nil { inboxPageStarts.removeAll() }
        inboxPageStarts[slot] = InboxPageStarts(limit: limit, starts: starts)
    }

    /// Ids of the user's messages (with `partner` only, if given) with id < `before`, newest first, at most `limit`.
    func tailHistory(of user: Int64, with partner: Int64?, before: Int64, limit: Int) -> [Int64] {
        guard limit > 0, let slot = slotByID[user] else { return [] }
        var ids: [Int64] = []
        walk(slot) { entry, _ in
            if entry.id < before && (partner == nil || entry.partner == partner) {
                ids.append(entry.id)
                // In id order the walk back meets the newest first, so it can stop at the limit.
                if isTailInIDOrder && ids.count == limit { return false }
            }
            return true
        }
        return isTailInIDOrder ? ids : Array(ids.sorted(by: >).prefix(limit))
    }

    /// Visits the user's tail entries newest first (in append order, backwards), each with its row, from `start`
    /// (one of the user's rows) or else their newest row, until `visit` returns false.
    private func walk(_ slot: Int32, from start: Int32? = nil, _ visit: (Entry, Int32) -> Bool) {
        var position = start ?? users[Int(slot)].newest
        while position != Self.none {
            let row = rows[Int(position)]
            tailRowsWalked &+= 1
            guard visit(entry(row, seenBy: slot), position) else { return }
            position = row.recipient == slot ? row.previousOfRecipient : row.previousOfSender
        }
    }

    /// A row as one of its users sees it: received (with its seq) when they are the recipient, a message to
    /// oneself included; sent (seq 0) otherwise.
    private func entry(_ row: Row, seenBy slot: Int32) -> Entry {
        let received = row.recipient == slot
        return Entry(id: row.id, seq: received ? row.seq : 0, partner: users[Int(received ? row.sender : row.recipient)].id)
    }

    private func addToTail(id: Int64, sender: Int32, recipient: Int32, seq: Int64) {
        if id < lastID { isTailInIDOrder = false }
        lastID = max(lastID, id)
        link(id: id, sender: sender, recipient: recipient, seq: seq)
    }

    /// Appends a row to the tail and makes it its users' newest.
    private func link(id: Int64, sender: Int32, recipient: Int32, seq: Int64) {
        let position = Int32(rows.count)
        rows.append(Row(id: id, seq: seq, sender: sender, recipient: recipient,
                        previousOfSender: users[Int(sender)].newest, previousOfRecipient: users[Int(recipient)].newest))
        users[Int(sender)].newest = position
        users[Int(recipient)].newest = position
    }
}
