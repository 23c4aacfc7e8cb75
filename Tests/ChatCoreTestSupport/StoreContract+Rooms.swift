import ChatCore
import Foundation

/// The room part of the `ChatStore` contract (RoomTypes.swift, StoreTypes.swift): rooms, members, owners, bans,
/// room cursors, gap-free room seqs, the three kinds of room reads, and all of it after reopening.
extension StoreContract {
    /// Every room write and read, then the snapshot.
    public static func roomsEveryWrite(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob")), .createAccount(account("cy"))])
        try store.write([.createRoom(name: "general", at: 10), .setRoomMember(room: "general", user: "ann", isMember: true, at: 10),
                         .setRoomOwner(room: "general", owner: "ann")])
        try expectConstraint("duplicate room") { try store.write([.createRoom(name: "general", at: 11)]) }
        try expectFailure("member of an unknown room") { try store.write([.setRoomMember(room: "nowhere", user: "ann", isMember: true, at: 1)]) }
        try expectFailure("unknown member") { try store.write([.setRoomMember(room: "general", user: "ghost", isMember: true, at: 1)]) }
        try expectFailure("unknown owner") { try store.write([.setRoomOwner(room: "general", owner: "ghost")]) }
        try store.write([.setRoomMember(room: "general", user: "bob", isMember: true, at: 20),
                         .setRoomMember(room: "general", user: "bob", isMember: true, at: 20),
                         .setRoomBan(room: "general", user: "cy", isBanned: true),
                         .setRoomBan(room: "general", user: "cy", isBanned: true)])

        let sent = try store.appendRoomEach([roomMessage(1, "general", "ann", "one"), roomMessage(2, "general", "bob", "two")])
        try expect(sent.map(\.seq), [1, 2], "room seqs")
        try expectConstraint("duplicate id") { _ = try store.appendRoomEach([roomMessage(2, "general", "ann", "again")]) }
        try expectConstraint("duplicate of a direct message's id") {
            _ = try store.appendEach([message(3, "ann", "bob", "direct")])
            _ = try store.appendRoomEach([roomMessage(3, "general", "ann", "x")])
        }
        try expectConstraint("unknown room") { _ = try store.appendRoomEach([roomMessage(9, "nowhere", "ann", "x")]) }
        try expectConstraint("unknown sender") { _ = try store.appendRoomEach([roomMessage(9, "general", "ghost", "x")]) }
        try expect(try store.appendRoomEach([roomMessage(4, "general", "ann", "three")]).map(\.seq), [3], "no seq consumed by failures")

        try store.write([.advanceRoomCursor(user: "bob", room: "general", to: 2), .advanceRoomCursor(user: "bob", room: "general", to: 1)])
        try expectFailure("cursor beyond the room") { try store.write([.advanceRoomCursor(user: "bob", room: "general", to: 4)]) }
        try expectFailure("cursor in an unknown room") { try store.write([.advanceRoomCursor(user: "bob", room: "nowhere", to: 0)]) }

        let snapshot = try store.loadSnapshot()
        try expect(snapshot.lastMessageID, 4, "last message id covers rooms")
        try expect(snapshot.roomCursors, ["bob": ["general": 2]], "room cursors")
        try expect(try store.cursorsInRooms(of: "bob"), ["general": 2], "one user's room cursors")
        try expect(try store.cursorsInRooms(of: "ann"), [:], "none yet")
        try expect(snapshot.rooms.count, 1, "one room")
        let room = snapshot.rooms[0]
        try expect(room.name, "general", "name")
        try expect(room.owner, "ann", "owner")
        try expect(room.createdAt, 10, "created at")
        try expect(room.lastSeq, 3, "last seq")
        try expect(Set(room.members), [RoomMember(user: "ann", joinedAt: 10), RoomMember(user: "bob", joinedAt: 20)], "members")
        try expect(room.banned, ["cy"], "bans")
        try expect(try store.roomRecord("general"), room, "room(named:) as the snapshot")
        try expect(try store.roomRecord("nowhere"), nil, "no such room")

        try store.write([.setRoomMember(room: "general", user: "ann", isMember: false, at: 30),
                         .setRoomOwner(room: "general", owner: "bob"), .setRoomBan(room: "general", user: "cy", isBanned: false)])
        let after = try store.roomRecord("general")
        try expect(after?.members, [RoomMember(user: "bob", joinedAt: 20)], "ann left")
        try expect(after?.owner, "bob", "owner handed on")
        try expect(after?.banned, [], "unbanned")
        try store.write([.setRoomMember(room: "general", user: "bob", isMember: false, at: 40), .setRoomOwner(room: "general", owner: nil)])
        try expect(try store.roomRecord("general")?.owner, nil, "an empty room is ownerless")
        try expect(try store.roomRecord("general")?.lastSeq, 3, "and keeps its messages")
    }

    /// The three reads: forward after a seq, the newest after a seq, and history by id.
    public static func roomReads(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        var id: Int64 = 0
        var sent: [RoomMessage] = []
        for i in 1...10 {
            for room in ["a", "b"] {
                id += 1
                sent += try store.appendRoomEach([roomMessage(id, room, "ann", "\(room)\(i)")])
            }
        }
        let a = sent.filter { $0.room == "a" }
        try expect(a.map(\.seq), Array(1...10), "seqs per room")
        let pages = try store.roomPages([RoomLogQuery(room: "a", .after(3), limit: 4),
                                         RoomLogQuery(room: "a", .latestAfter(3), limit: 4),
                                         RoomLogQuery(room: "a", .latestAfter(8), limit: 4),
                                         RoomLogQuery(room: "a", .before(nil), limit: 3),
                                         RoomLogQuery(room: "a", .before(a[4].id), limit: 100),
                                         RoomLogQuery(room: "nowhere", .after(0), limit: 10),
                                         RoomLogQuery(room: "b", .after(10), limit: 10),
                                         RoomLogQuery(room: "a", .after(0), limit: 0)])
        try expect(pages[0], Array(a[3..<7]), "after 3, four")
        try expect(pages[1], Array(a[6..<10]), "the newest four after 3")
        try expect(pages[2], Array(a[8..<10]), "the newest after 8: only two")
        try expect(pages[3], Array(a[7..<10].reversed()), "history: the newest three, newest first")
        try expect(pages[4], Array(a[0..<4].reversed()), "history before an id")
        try expect(pages[5], [], "an unknown room reads as empty")
        try expect(pages[6], [], "nothing after the last")
        try expect(pages[7], [], "limit 0")
        try expect(a[9].text, "a10", "texts kept")
    }

    /// Room cursor moves as the hub's flush brings them: a long run over two rooms, one move going back (the cursor
    /// stays), a run on either side of another write, and a call refused at its last move, which fails whole.
    public static func roomCursorRuns(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        let users = (0..<40).map { "u\($0)" }
        try store.write(users.map { .createAccount(account($0)) } + [.createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        _ = try store.appendRoomEach([roomMessage(1, "a", "u0", "x"), roomMessage(2, "a", "u0", "y"), roomMessage(3, "b", "u1", "z")])
        var expected: [String: [String: Int64]] = [:]
        var moves: [StoreWrite] = []
        for (n, user) in users.enumerated() {
            moves += [.advanceRoomCursor(user: user, room: "a", to: Int64(n % 2 + 1)), .advanceRoomCursor(user: user, room: "b", to: 1)]
            expected[user] = ["a": Int64(n % 2 + 1), "b": 1]
        }
        moves.append(.advanceRoomCursor(user: "u5", room: "a", to: 1))
        try store.write(moves)
        try store.write([.advanceRoomCursor(user: "u0", room: "a", to: 2), .recordSeen(user: "u0", at: 5),
                         .advanceRoomCursor(user: "u0", room: "b", to: 1)])
        expected["u0"]!["a"] = 2
        try expectFailure("a run refused at its last move") {
            try store.write([.advanceRoomCursor(user: "u2", room: "a", to: 2), .advanceRoomCursor(user: "u2", room: "b", to: 2)])
        }
        try expect(try store.loadSnapshot().roomCursors, expected, "every move of the runs, none of the refused call")
        try expect(try store.cursorsInRooms(of: "u5"), ["a": 2, "b": 1], "a move back leaves the cursor")
    }

    /// Rooms, members, bans, owners, cursors and seqs after closing and opening again.
    public static func roomsSurviveReopen(_ open: Opener) throws {
        do {
            let store = try open()
            try store.write([.createAccount(account("ann")), .createAccount(account("bob")),
                             .createRoom(name: "r", at: 5), .setRoomMember(room: "r", user: "ann", isMember: true, at: 5),
                             .setRoomMember(room: "r", user: "bob", isMember: true, at: 6), .setRoomOwner(room: "r", owner: "ann"),
                             .createRoom(name: "empty", at: 7)])
            _ = try store.appendRoomEach([roomMessage(1, "r", "ann", "x"), roomMessage(2, "r", "bob", "y")])
            try store.write([.advanceRoomCursor(user: "bob", room: "r", to: 1)])
            store.close()
        }
        let store = try open()
        defer { store.close() }
        let snapshot = try store.loadSnapshot()
        try expect(snapshot.rooms.map(\.name).sorted(), ["empty", "r"], "both rooms, the empty one too")
        try expect(snapshot.rooms.first { $0.name == "r" }?.lastSeq, 2, "last seq")
        try expect(snapshot.roomCursors, ["bob": ["r": 1]], "cursor")
        try expect(try store.appendRoomEach([roomMessage(3, "r", "ann", "z")]).map(\.seq), [3], "seqs go on")
    }

    public static func roomMessage(_ id: Int64, _ room: String, _ from: String, _ text: String) -> RoomMessage {
        RoomMessage(id: id, room: room, from: from, text: text, at: 1000 + id)
    }
}

extension ChatStore {
    /// One `appendRoom` per message, submitted back to back, waited for; throws the first failure.
    public func appendRoomEach(_ messages: [RoomMessage]) throws -> [RoomMessage] {
        let outcomes = messages.map { _ in Outcome<RoomMessage>() }
        for (message, outcome) in zip(messages, outcomes) { appendRoom(message) { outcome.set($0) } }
        (self as? MemoryStore)?.runPending()
        return try outcomes.map { try $0.wait().get() }
    }

    public func roomPages(_ queries: [RoomLogQuery]) throws -> [[RoomMessage]] {
        let outcome = Outcome<[[RoomMessage]]>()
        roomLogs(queries) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }

    public func cursorsInRooms(of user: String) throws -> [String: Int64] {
        let outcome = Outcome<[String: Int64]>()
        roomCursors(of: user) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }

    public func roomRecord(_ name: String) throws -> RoomRecord? {
        let outcome = Outcome<RoomRecord?>()
        room(named: name) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }
}
