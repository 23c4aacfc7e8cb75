/// Every room as the hub sees it: owner, members with their join times, bans, the last seq, each member's
/// cursor, and the REST readers waiting for a room to grow. It only keeps and answers; the hub decides,
/// delivers and writes (ChatService+Rooms.swift).
///
/// A room's messages are one stream that its members follow, each with a cursor (the highest seq received:
/// acknowledged by a client that acks, handed over to one that does not), exactly as a user follows their direct
/// inbox. Cursor moves are coalesced and flushed with the inbox's, every few hundred milliseconds.
final class Room {
    let name: String
    let createdAt: Int64
    /// Nil while the room is empty: the next to join owns it.
    var owner: String? { didSet { changes &+= 1 } }
    /// Member → when they joined (the owner's successor is the longest-standing member).
    var members: [String: Int64] { didSet { changes &+= 1 } }
    var banned: Set<String> { didSet { changes &+= 1 } }
    /// Which of the directory's room objects this is (a room loaded again is a new one).
    let incarnation: UInt64
    /// Counts changes to the owner, members and bans (not to seqs): a cluster node's read of the room from the
    /// store, started before such a change, must not replace it (see `ReplicaMark`).
    private(set) var changes: UInt64 = 0
    /// The last seq given out (as far as this node knows: in a cluster the store may be ahead).
    var lastSeq: Int64
    /// The highest seq this node has handed to its online members. Below `lastSeq` only on a cluster node that
    /// learned of a message from the store rather than from its notice: those its members have not been handed.
    var deliveredSeq: Int64
    /// This node's live sessions of members, ready for the next message; nil once something it depends on changed.
    var audience: RoomAudience?

    init(_ record: RoomRecord, incarnation: UInt64) {
        self.incarnation = incarnation
        name = record.name
        createdAt = record.createdAt
        owner = record.owner
        members = Dictionary(record.members.map { ($0.user, $0.joinedAt) }, uniquingKeysWith: max)
        banned = record.banned
        lastSeq = record.lastSeq
        deliveredSeq = record.lastSeq
    }

    /// The member who has been in the room longest (ties by name, so every node picks the same one); nil for an
    /// empty room. `among`: only these users, if any of them is a member (on a cluster, the members the store
    /// has, since a replica may still hold someone whose leave has not reached it).
    func longestStanding(among: Set<String>? = nil) -> String? {
        let longest = { (candidates: [String: Int64]) in candidates.min { ($0.value, $0.key) < ($1.value, $1.key) }?.key }
        if let among, let stored = longest(members.filter { among.contains($0.key) }) { return stored }
        return longest(members)
    }
}

/// Where a room's replica stood at one moment: two marks differ if anything changed its owner, members or bans in
/// between, or if the room was loaded again, created or forgotten (its incarnation is part of the mark).
struct ReplicaMark: Equatable {
    /// A room this node does not know.
    static let unknown = ReplicaMark(incarnation: 0, changes: 0)

    let incarnation: UInt64
    let changes: UInt64
}

final class RoomDirectory {
    /// A REST reader waiting for a room to grow past `after`.
    struct Waiter {
        let session: Session
        let room: String
        let after: Int64
        let limit: Int
        let deadline: Int64
        let re: RequestID?
    }

    private var rooms: [String: Room] = [:]
    /// User → the rooms they are in.
    private var memberships: [String: Set<String>] = [:]
    private var cursors: RoomCursors
    private var waiters: [String: [Waiter]] = [:]
    /// The last incarnation given to a room object; 0 is no room's.
    private var incarnations: UInt64 = 0

    init(_ records: [RoomRecord], cursors: [String: [String: Int64]]) {
        self.cursors = RoomCursors(stored: cursors)
        for record in records { load(record) }
    }

    var count: Int { rooms.count }

    func room(_ name: String) -> Room? { rooms[name] }

    func mark(_ name: String) -> ReplicaMark {
        guard let room = rooms[name] else { return .unknown }
        return ReplicaMark(incarnation: room.incarnation, changes: room.changes)
    }

    /// Every known room's mark, by name.
    func marks() -> [String: ReplicaMark] { rooms.keys.reduce(into: [:]) { $0[$1] = mark($1) } }

    func roomCount(of user: String) -> Int { memberships[user]?.count ?? 0 }

    /// The user's rooms, by name.
    func rooms(of user: String) -> [Room] {
        (memberships[user] ?? []).sorted().compactMap { rooms[$0] }
    }

    // MARK: Changes (the hub has checked the rules)

    /// A room as read from the store, replacing what was known of it (a cluster node catching up).
    @discardableResult
    func load(_ record: RoomRecord) -> Room {
        let old = rooms[record.name]
        if let old {
            for user in old.members.keys { memberships[user]?.remove(record.name) }
        }
        let room = Room(record, incarnation: nextIncarnation())
        // What this node's members were handed does not change by reading the store.
        if let old { room.deliveredSeq = old.deliveredSeq }
        rooms[record.name] = room
        for user in room.members.keys { memberships[user, default: []].insert(record.name) }
        return room
    }

    private func nextIncarnation() -> UInt64 {
        incarnations += 1
        return incarnations
    }

    func create(_ name: String, at now: Int64) -> Room {
        let room = Room(RoomRecord(name: name, owner: nil, createdAt: now), incarnation: nextIncarnation())
        rooms[name] = room
        return room
    }

    /// Forgets a room created a moment ago whose creation did not reach the store.
    func discard(_ name: String) {
        guard let room = rooms.removeValue(forKey: name) else { return }
        for user in room.members.keys { memberships[user]?.remove(name) }
    }

    func add(_ user: String, to room: Room, at now: Int64) {
        room.members[user] = now
        room.audience = nil
        memberships[user, default: []].insert(room.name)
    }

    func remove(_ user: String, from room: Room) {
        room.members[user] = nil
        room.audience = nil
        memberships[user]?.remove(room.name)
        if memberships[user]?.isEmpty == true { memberships[user] = nil }
    }

    /// `user`'s session went online or ended here, or its room replay began or ended: the audiences of their
    /// rooms are built again at the next message.
    func audienceChanged(of user: String) {
        for name in memberships[user] ?? [] { rooms[name]?.audience = nil }
    }

    // MARK: Cursors

    func cursor(of user: String, in room: String) -> Int64 {
        cursors.seq(of: user, in: room)
    }

    /// Moves the cursor forward (never back); true if it moved.
    @discardableResult
    func advance(_ user: String, in room: String, to seq: Int64) -> Bool {
        cursors.advance(user, in: room, to: seq)
    }

    /// Moves `user`'s cursor in each of their rooms up to what this node has delivered of the room.
    func advanceToDelivered(_ user: String) {
        guard let names = memberships[user] else { return }
        cursors.advance(user, toEach: names.lazy.compactMap { name in self.rooms[name].map { (name, $0.deliveredSeq) } })
    }

    /// A cursor read from the store (a cluster node at login): the further of the two is kept, and nothing is
    /// written back.
    func merge(_ user: String, in room: String, stored seq: Int64) {
        cursors.merge(user, in: room, stored: seq)
    }

    var hasUnsavedCursors: Bool { cursors.hasUnsaved }

    /// The user's unsaved cursor moves, taken out of the next flush (written with the end of their session).
    func takeCursorWrites(of user: String) -> [StoreWrite] {
        cursors.takeWrites(of: user)
    }

    /// The cursor moves since the last call, as store writes.
    func takeCursorWrites() -> [StoreWrite] {
        cursors.takeWrites()
    }

    // MARK: REST readers

    func wait(_ waiter: Waiter) {
        waiters[waiter.room, default: []].append(waiter)
    }

    /// The readers of `room` waiting for something after a seq below `seq`: they leave the list.
    func wake(_ room: String, seq: Int64) -> [Waiter] {
        guard let list = waiters[room] else { return [] }
        let (ready, still) = (list.filter { $0.after < seq }, list.filter { $0.after >= seq })
        waiters[room] = still.isEmpty ? nil : still
        return ready
    }

    /// Readers whose wait is over: past their deadline, waiting with a revoked token, or all (the server stops).
    func expire(now: Int64? = nil, token: String? = nil, everyone: Bool = false) -> [Waiter] {
        var over: [Waiter] = []
        for (room, list) in waiters {
            let ended = list.filter { waiter in
                everyone || (now.map { waiter.deadline <= $0 } ?? false)
                    || (token != nil && waiter.session.tokenDigest == token)
            }
            guard !ended.isEmpty else { continue }
            over += ended
            let left = list.filter { waiter in !ended.contains { $0.session === waiter.session } }
            waiters[room] = left.isEmpty ? nil : left
        }
        return over
    }
}
