/// Rooms across nodes. Membership, owner and bans are decided by the node the request came to and stored; the
/// others apply the change to their replica from the notice (`roomChanged`, which carries what a replica needs:
/// the member, the owner after the change, the join time) and tell their own online members, so a replica lags
/// by one bus hop, as for blocks. Room messages travel whole (`roomMessage`), as broadcasts do, since every node
/// may have members of the room online. The store is read only for a room a node has never heard of (a notice
/// lost while its link was down; the resync after the link returns reads every room).
extension ChatService {
    func applyRoomNotice(_ notice: RoomNotice) {
        guard let room = rooms.room(notice.room) ?? (notice.created ? rooms.create(notice.room, at: notice.at) : nil) else {
            return rereadRoom(notice.room, then: notice)
        }
        let wasMember = room.members[notice.user] != nil
        switch notice.change {
        case .joined: rooms.add(notice.user, to: room, at: notice.at)
        case .left, .removed: rooms.remove(notice.user, from: room)
        case .banned:
            rooms.remove(notice.user, from: room)
            room.banned.insert(notice.user)
        case .unbanned: room.banned.remove(notice.user)
        }
        if notice.movesOwnership(from: room.owner) { room.owner = notice.owner }
        announce(notice, in: room, removedAMember: wasMember)
    }

    /// Reads `name` from the store, then replaces this node's copy of it and announces `notice` to the room's
    /// members here. Runs with the hub's lock held; the read comes back through `resume(_:)`.
    func rereadRoom(_ name: String, then notice: RoomNotice?, attempt: Int = 1) {
        let reread = RoomReread(name: name, notice: notice, mark: rooms.mark(name), attempt: attempt)
        store.room(named: name) { [self] result in resume(.roomReread(reread, result)) }
    }

    /// A notice or a decision here may have changed the room while the read was on its way, and the read may
    /// have been answered before that change was stored: such a read is stale, so the room is read again (a few
    /// times at most: a room changing that fast is loaded as read, and its next notice mends it).
    func roomReread(_ reread: RoomReread, _ result: Result<RoomRecord?, any Error>) {
        let name = reread.name
        if case .success = result, rooms.mark(name) != reread.mark, reread.attempt < RoomReread.attempts {
            return rereadRoom(name, then: reread.notice, attempt: reread.attempt + 1)
        }
        switch result {
        case .failure(let error):
            logger.error("room read failed", metadata: ["room": "\(name)", "error": "\(error)"])
        case .success(nil):
            rooms.discard(name)
        case .success(let record?):
            let known = rooms.room(name)
            // Keep the further of the two last seqs: a message notice may have overtaken the store read.
            var record = record
            record.lastSeq = max(record.lastSeq, known?.lastSeq ?? 0)
            let room = rooms.load(record)
            if let notice = reread.notice {
                announce(notice, in: room, removedAMember: notice.change == .removed || notice.change == .banned)
            }
        }
    }

    /// Reads a room this node does not know before deciding a request about it.
    func lookUpRoom(_ name: String, then next: AfterRoomRead) {
        store.room(named: name) { [self] result in resume(.roomLookedUp(name, result, next)) }
    }

    func roomLookedUp(_ name: String, _ result: Result<RoomRecord?, any Error>, _ next: AfterRoomRead) {
        let (session, re) = next.asker
        guard let user = session.onlineUser else { return }
        let record: RoomRecord?
        switch result {
        case .failure(let error):
            logger.error("room read failed", metadata: ["room": "\(name)", "error": "\(error)"])
            return reply(session, .error(re: re, ChatError(.internalError, "the room could not be read; try again")))
        case .success(let read):
            record = read
            if let read { reconcile(read, for: [user] + next.users(in: read)) }
        }
        switch next {
        case .joinAgain:
            join(user, name, re: re, session, retried: true)
        case .request(.roomRead(let room, nil, let limit, let wait), _, _):
            // Read from the caller's cursor, which their last call may have moved on another node.
            store.roomCursors(of: user) { [self] result in
                resume(.roomCursorsRead(user, session, result, then: .roomRead(room: room, after: nil, limit: limit, wait: wait), re))
            }
        case .request(let request, _, _):
            let stored = record.map { Set($0.members.map(\.user)) }
            handleRoomRequest(request, from: user, re: re, session, checked: true, storedMembers: stored)
        }
    }

    /// Folds what the store holds of a room into this node's replica: the whole room if it was unknown here;
    /// otherwise the membership and ban of the users the request is about (the store has everything done to them
    /// before this request, wherever it was done) and the further of the two last seqs. Other members' state
    /// stays as the notices made it, which may be newer than the read.
    private func reconcile(_ record: RoomRecord, for users: [String]) {
        guard let room = rooms.room(record.name) else {
            rooms.load(record)
            return
        }
        room.lastSeq = max(room.lastSeq, record.lastSeq)
        for user in users {
            if let member = record.members.first(where: { $0.user == user }) {
                if room.members[user] == nil { rooms.add(user, to: room, at: member.joinedAt) }
            } else if room.members[user] != nil {
                rooms.remove(user, from: room)
            }
            if record.banned.contains(user) { room.banned.insert(user) } else { room.banned.remove(user) }
        }
        if room.owner == nil || !record.members.contains(where: { $0.user == room.owner }) { room.owner = record.owner }
    }
}

/// What a cluster node does once the store has said what it holds of a room.
enum AfterRoomRead {
    /// A room request, handled once the replica has the caller's state from the store.
    case request(ClientRequest, RequestID?, Session)
    /// A join that lost a creation race to another node: joins the room that node created, once.
    case joinAgain(String, RequestID?, Session)

    /// The users besides the caller whose state the request depends on: the one a moderation request is about;
    /// for a leave, every member the store has, since the owner's successor is chosen among them.
    func users(in record: RoomRecord) -> [String] {
        switch self {
        case .request(.kick(_, let user), _, _), .request(.ban(_, let user), _, _), .request(.unban(_, let user), _, _): [user]
        case .request(.leave, _, _): record.members.map(\.user)
        default: []
        }
    }

    var asker: (Session, RequestID?) {
        switch self {
        case .request(_, let re, let session), .joinAgain(_, let re, let session): (session, re)
        }
    }
}

/// A cluster node's read of one room from the store, on its way.
struct RoomReread {
    static let attempts = 3

    let name: String
    /// Told to the room's members here once the room is loaded.
    let notice: RoomNotice?
    /// The replica when the read was sent.
    let mark: ReplicaMark
    let attempt: Int
}
