import ChatCore

/// The room tables of the SQL schemas, as values, with the same constraints.
extension MemoryData {
    mutating func applyRoom(_ write: StoreWrite) throws {
        switch write {
        case .createRoom(let name, let at):
            guard rooms[name] == nil else { throw StoreError.constraint("room \(name) exists") }
            rooms[name] = RoomRecord(name: name, owner: nil, createdAt: at)
        case .setRoomMember(let room, let user, let isMember, let at):
            try requireRoom(room)
            try requireAccounts(user)
            rooms[room]!.members.removeAll { $0.user == user }
            if isMember { rooms[room]!.members.append(RoomMember(user: user, joinedAt: at)) }
            rooms[room]!.members.sort { ($0.joinedAt, $0.user) < ($1.joinedAt, $1.user) }
        case .setRoomOwner(let room, let owner):
            try requireRoom(room)
            if let owner { try requireAccounts(owner) }
            rooms[room]!.owner = owner
        case .setRoomBan(let room, let user, let isBanned):
            try requireRoom(room)
            try requireAccounts(user)
            if isBanned { rooms[room]!.banned.insert(user) } else { rooms[room]!.banned.remove(user) }
        case .advanceRoomCursor(let user, let room, let seq):
            try requireRoom(room)
            try requireAccounts(user)
            let last = rooms[room]!.lastSeq
            guard seq <= last else { throw StoreError.constraint("cursor \(seq) beyond #\(room) (last \(last))") }
            roomCursors[user, default: [:]][room] = max(roomCursors[user]?[room] ?? 0, seq)
        default:
            break
        }
    }

    /// Checks everything before changing anything, so a failed append consumes no seq.
    mutating func appendRoom(_ message: RoomMessage) throws -> RoomMessage {
        try requireRoom(message.room)
        try requireAccounts(message.from)
        guard message.id == 0 || (messages[message.id] == nil && !roomIDs.contains(message.id)) else {
            throw StoreError.constraint("message \(message.id) exists")
        }
        var stored = message
        if stored.id == 0 { stored.id = lastID + 1 }
        lastID = max(lastID, stored.id)
        rooms[message.room]!.lastSeq += 1
        stored.seq = rooms[message.room]!.lastSeq
        roomLog[message.room, default: []].append(stored)
        roomIDs.insert(stored.id)
        return stored
    }

    func roomLog(_ query: RoomLogQuery) -> [RoomMessage] {
        let log = roomLog[query.room] ?? []
        let limit = query.effectiveLimit
        switch query.range {
        case .after(let seq):
            return Array(log.filter { $0.seq > seq }.prefix(limit))
        case .latestAfter(let seq):
            return Array(log.filter { $0.seq > seq }.suffix(limit))
        case .before(let id):
            return Array(log.filter { $0.id < (id ?? .max) }.reversed().prefix(limit))
        }
    }

    private func requireRoom(_ name: String) throws {
        guard rooms[name] != nil else { throw StoreError.constraint("no room named \(name)") }
    }
}
