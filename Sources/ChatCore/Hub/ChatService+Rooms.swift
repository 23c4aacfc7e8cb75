/// Group rooms, membership and moderation (docs/PROTOCOL.md §12): join (creating the room if it is new), leave,
/// kick, ban and unban, and the lists `rooms` and `members`. Every method here runs with the hub's lock held.
///
/// A change is decided and applied in memory at once, so the very next request obeys it (a kicked member's
/// next `say` is refused), then made durable; the reply and the events to the other members wait for the
/// store, as a direct message's `ok` does. If the store refuses, memory is put back as it was.
extension ChatService {
    /// `checked`: a cluster node has already read the room from the store for this request; `storedMembers`:
    /// the members that read found.
    func handleRoomRequest(_ request: ClientRequest, from user: String, re: RequestID?, _ session: Session,
                           checked: Bool = false, storedMembers: Set<String>? = nil) {
        // cluster: a replica lags the store by one bus hop. Membership changes (a room created, a member who
        // joined or was unbanned a moment ago on another node) and every REST call (whose previous call may
        // have gone to another node) read the room first, so what was done a moment ago anywhere holds here.
        if cluster != nil, !checked, let name = request.roomName, RoomRules.isValidName(name) {
            switch request {
            case .join, .leave, .kick, .ban, .unban: return lookUpRoom(name, then: .request(request, re, session))
            default: if session.isREST { return lookUpRoom(name, then: .request(request, re, session)) }
            }
        }
        switch request {
        case .join(let name): join(user, name, re: re, session)
        case .leave(let name): leave(user, name, re: re, session, storedMembers: storedMembers)
        case .kick(let name, let target): remove(target, from: name, by: user, banning: false, re: re, session)
        case .ban(let name, let target): remove(target, from: name, by: user, banning: true, re: re, session)
        case .unban(let name, let target): unban(target, in: name, by: user, re: re, session)
        case .rooms:
            let list = rooms.rooms(of: user).map { ServerEvent.RoomSummary(room: $0.name, members: $0.members.count, owner: $0.owner) }
            reply(session, .rooms(re: re, list))
        case .members(let name):
            guard let room = rooms.room(name), room.members[user] != nil else { return reply(session, notMember(name, re)) }
            let users = room.members.keys.sorted()
            reply(session, .members(re: re, users: users, online: users.filter { isOnline($0) }))
        case .say(let name, let text): say(text, in: name, from: user, re: re, session)
        case .roomAck(let name, let seq): acknowledge(user, in: name, upTo: seq, re: re, session)
        case .roomHistory(let name, let before, let limit): roomHistory(name, for: user, before: before, limit: limit, re: re, session)
        case .roomRead(let name, let after, let limit, let wait):
            readRoom(name, for: user, after: after, limit: limit, wait: wait, re: re, session)
        default:
            break
        }
    }

    // MARK: Join and leave

    func join(_ user: String, _ name: String, re: RequestID?, _ session: Session, retried: Bool = false) {
        guard RoomRules.isValidName(name) else { return reply(session, .error(re: re, ChatError(.invalidRoom, Texts.invalidRoom))) }
        let limits = configuration.rooms
        if let room = rooms.room(name) {
            if room.banned.contains(user) { return reply(session, .error(re: re, ChatError(.banned, Texts.bannedFrom(name)))) }
            if room.members[user] != nil { return reply(session, .error(re: re, ChatError(.alreadyMember, Texts.alreadyIn(name)))) }
            if room.members.count >= limits.membersPerRoom {
                metrics.roomJoinsRefusedFull += 1
                return reply(session, .error(re: re, ChatError(.roomFull, Texts.roomIsFull(name))))
            }
        } else if rooms.count >= limits.totalRooms {
            metrics.roomJoinsRefusedTooMany += 1
            return reply(session, .error(re: re, ChatError(.tooManyRooms, Texts.noMoreRooms)))
        }
        if rooms.roomCount(of: user) >= limits.roomsPerUser {
            metrics.roomJoinsRefusedTooMany += 1
            return reply(session, .error(re: re, ChatError(.tooManyRooms, Texts.tooManyRooms)))
        }
        let now = clock.now()
        var writes: [StoreWrite] = []
        let created = rooms.room(name) == nil
        let room = rooms.room(name) ?? rooms.create(name, at: now)
        if created { writes.append(.createRoom(name: name, at: now)) }
        rooms.add(user, to: room, at: now)
        writes.append(.setRoomMember(room: name, user: user, isMember: true, at: now))
        let previousOwner = room.owner
        if room.owner == nil {
            room.owner = user
            writes.append(.setRoomOwner(room: name, owner: user))
        }
        // A member starts at the room's present: what was said before is history, not something missed. The
        // cursor is written with the membership, so a read on another node (cluster) starts there too.
        if room.lastSeq > rooms.cursor(of: user, in: name) {
            rooms.merge(user, in: name, stored: room.lastSeq)
            writes.append(.advanceRoomCursor(user: user, room: name, to: room.lastSeq))
        }
        let change = RoomChange(kind: .join(created: created, previousOwner: previousOwner), room: name, user: user,
                                actor: user, session: session, re: re, retried: retried)
        store.perform(writes) { [self] result in resume(.roomChangeStored(change, result.failure)) }
    }

    private func leave(_ user: String, _ name: String, re: RequestID?, _ session: Session, storedMembers: Set<String>?) {
        guard let room = rooms.room(name), let joinedAt = room.members[user] else { return reply(session, notMember(name, re)) }
        var writes: [StoreWrite] = [.setRoomMember(room: name, user: user, isMember: false, at: clock.now())]
        rooms.remove(user, from: room)
        let previousOwner = room.owner
        if room.owner == user {
            // The room passes to its longest-standing member; an empty room is kept, ownerless. cluster: among
            // the members the store has, which the read before this request also added to the replica (a join on
            // another node may not have reached this one yet; the successor must not depend on that).
            room.owner = room.longestStanding(among: storedMembers)
            writes.append(.setRoomOwner(room: name, owner: room.owner))
        }
        let change = RoomChange(kind: .leave(joinedAt: joinedAt, previousOwner: previousOwner), room: name, user: user,
                                actor: user, session: session, re: re)
        store.perform(writes) { [self] result in resume(.roomChangeStored(change, result.failure)) }
    }

    // MARK: Moderation

    /// `kick` (banning: false) or `ban` of `target` by `owner`.
    private func remove(_ target: String, from name: String, by owner: String, banning: Bool, re: RequestID?,
                        _ session: Session) {
        guard let room = rooms.room(name), room.owner == owner else {
            return reply(session, .error(re: re, ChatError(.notOwner, Texts.onlyOwner(name))))
        }
        if target == owner {
            return reply(session, .error(re: re, ChatError(.self, banning ? Texts.cannotBanSelf : Texts.cannotKickSelf)))
        }
        guard accounts.exists(target) else { return reply(session, .error(re: re, ChatError(.invalidUser, Texts.invalidUser))) }
        let joinedAt = room.members[target]
        if !banning && joinedAt == nil {
            return reply(session, .error(re: re, ChatError(.notMember, Texts.userNotIn(target, name))))
        }
        var writes: [StoreWrite] = []
        if let _ = joinedAt {
            rooms.remove(target, from: room)
            writes.append(.setRoomMember(room: name, user: target, isMember: false, at: clock.now()))
        }
        let wasBanned = room.banned.contains(target)
        if banning {
            room.banned.insert(target)
            writes.append(.setRoomBan(room: name, user: target, isBanned: true))
        }
        let kind: RoomChange.Kind = banning ? .ban(joinedAt: joinedAt, wasBanned: wasBanned) : .kick(joinedAt: joinedAt ?? 0)
        let change = RoomChange(kind: kind, room: name, user: target, actor: owner, session: session, re: re)
        store.perform(writes) { [self] result in resume(.roomChangeStored(change, result.failure)) }
    }

    private func unban(_ target: String, in name: String, by owner: String, re: RequestID?, _ session: Session) {
        guard let room = rooms.room(name), room.owner == owner else {
            return reply(session, .error(re: re, ChatError(.notOwner, Texts.onlyOwner(name))))
        }
        if target == owner { return reply(session, .error(re: re, ChatError(.self, Texts.cannotUnbanSelf))) }
        guard accounts.exists(target) else { return reply(session, .error(re: re, ChatError(.invalidUser, Texts.invalidUser))) }
        let wasBanned = room.banned.remove(target) != nil
        let change = RoomChange(kind: .unban(wasBanned: wasBanned), room: name, user: target, actor: owner,
                                session: session, re: re)
        store.perform([.setRoomBan(room: name, user: target, isBanned: false)]) { [self] result in
            resume(.roomChangeStored(change, result.failure))
        }
    }

    // MARK: After the store

    func roomChangeStored(_ change: RoomChange, _ error: (any Error)?) {
        if let error {
            logger.error("room change not stored", metadata: ["room": "\(change.room)", "error": "\(error)"])
            undo(change)
            // cluster: two nodes created the room in the same instant and this one lost: it reads the winner's
            // room and joins that, once.
            if cluster != nil, case .join(true, _) = change.kind, !change.retried {
                return lookUpRoom(change.room, then: .joinAgain(change.user, change.re, change.session))
            }
            if cluster != nil { rereadRoom(change.room, then: nil) }
            return reply(change.session, .error(re: change.re, ChatError(.internalError, "the room could not be changed; try again")))
        }
        guard let room = rooms.room(change.room) else { return }
        switch change.kind {
        case .join(let created, _):
            reply(change.session, .ok(re: change.re, .init(room: room.name, created: created, owner: room.owner)))
        default:
            reply(change.session, .ok(re: change.re, .init()))
        }
        let at = room.members[change.user] ?? clock.now()
        let notice = RoomNotice(room: room.name, user: change.user, change: change.kind.notice, by: change.actor,
                                owner: room.owner, at: at, created: change.kind.created)
        announce(notice, in: room, removedAMember: change.kind.removedAMember)
        tellCluster(.roomChanged(notice))
    }

    /// Tells this node's online members of `room` what happened (the one who did it has its reply instead).
    /// A removed or banned member hears it about itself, with who did it; a ban of someone who was not a member
    /// (`removedAMember` false) is news to nobody.
    func announce(_ notice: RoomNotice, in room: Room, removedAMember: Bool) {
        let actor = notice.by
        switch notice.change {
        case .joined:
            tellMembers(of: room, .roomJoin(room: room.name, user: notice.user), except: notice.user)
        case .left:
            tellMembers(of: room, .roomLeave(room: room.name, user: notice.user, reason: .left, by: nil), except: nil)
        case .removed, .banned:
            guard removedAMember else { return }
            let reason: ServerEvent.LeaveReason = notice.change == .banned ? .banned : .removed
            if let target = presence.session(of: notice.user) {
                reply(target, .roomLeave(room: room.name, user: notice.user, reason: reason, by: notice.by))
            }
            tellMembers(of: room, .roomLeave(room: room.name, user: notice.user, reason: reason, by: nil), except: actor)
        case .unbanned:
            break
        }
    }

    /// Puts memory back as it was before a change the store refused.
    private func undo(_ change: RoomChange) {
        guard let room = rooms.room(change.room) else { return }
        switch change.kind {
        case .join(let created, let previousOwner):
            rooms.remove(change.user, from: room)
            room.owner = previousOwner
            if created && room.members.isEmpty { rooms.discard(room.name) }
        case .leave(let joinedAt, let previousOwner):
            rooms.add(change.user, to: room, at: joinedAt)
            room.owner = previousOwner
        case .kick(let joinedAt):
            rooms.add(change.user, to: room, at: joinedAt)
        case .ban(let joinedAt, let wasBanned):
            if let joinedAt { rooms.add(change.user, to: room, at: joinedAt) }
            if !wasBanned { room.banned.remove(change.user) }
        case .unban(let wasBanned):
            if wasBanned { room.banned.insert(change.user) }
        }
    }

    /// One event to every member of `room` online on this node, but `except`.
    func tellMembers(of room: Room, _ event: ServerEvent, except: String?) {
        var recipients: [Session] = []
        for user in room.members.keys where user != except {
            if let session = presence.session(of: user) { recipients.append(session) }
        }
        fanOut(event, to: recipients)
    }

    func notMember(_ room: String, _ re: RequestID?) -> ServerEvent {
        .error(re: re, ChatError(.notMember, Texts.notIn(room)))
    }

    func isOnline(_ user: String) -> Bool {
        presence.session(of: user) != nil || cluster?.presence.node(of: user) != nil
    }
}

/// A room change waiting for the store, with what is needed to answer it or to undo it.
struct RoomChange {
    enum Kind {
        case join(created: Bool, previousOwner: String?)
        case leave(joinedAt: Int64, previousOwner: String?)
        case kick(joinedAt: Int64)
        /// `joinedAt`: nil if the banned user was not a member.
        case ban(joinedAt: Int64?, wasBanned: Bool)
        case unban(wasBanned: Bool)

        var notice: RoomChangeKind {
            switch self {
            case .join: .joined
            case .leave: .left
            case .kick: .removed
            case .ban: .banned
            case .unban: .unbanned
            }
        }

        var created: Bool {
            if case .join(let created, _) = self { return created }
            return false
        }

        var removedAMember: Bool {
            switch self {
            case .kick: true
            case .ban(let joinedAt, _): joinedAt != nil
            default: false
            }
        }
    }

    let kind: Kind
    let room: String
    /// Who joined, left, or was kicked, banned or unbanned.
    let user: String
    /// Who did it (the owner, for moderation).
    let actor: String
    let session: Session
    let re: RequestID?
    /// A join that already lost a creation race once (cluster): it is not retried again.
    var retried = false
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
