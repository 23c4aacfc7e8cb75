import Foundation
import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// Rooms on a real PostgreSQL: the room writes and their refusals, appends numbered per room, the log reads,
/// one room and the snapshot, batches that mix direct appends with room calls, and two stores appending to
/// one room at once.
final class PostgresRoomTests: XCTestCase {
    /// Every room write, read back through `room(named:)` and the snapshot; each refusal a constraint failure
    /// that changes nothing.
    func testRoomWritesAndTheirRefusals() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob", "cy"].map { .createAccount(StoreContract.account($0)) })
        try store.write([.createRoom(name: "lobby", at: 10), .createRoom(name: "Lobby", at: 11)])
        XCTAssertEqual(try store.roomRecord("lobby"), RoomRecord(name: "lobby", owner: nil, createdAt: 10))
        XCTAssertEqual(try store.roomRecord("Lobby")?.createdAt, 11, "names compare byte for byte")
        XCTAssertNil(try store.roomRecord("nowhere"))
        try assertConstraint("a room that exists") { try store.write([.createRoom(name: "lobby", at: 12)]) }

        try store.write([.setRoomMember(room: "lobby", user: "ann", isMember: true, at: 20),
                         .setRoomOwner(room: "lobby", owner: "ann"),
                         .setRoomMember(room: "lobby", user: "bob", isMember: true, at: 21),
                         .setRoomMember(room: "lobby", user: "cy", isMember: true, at: 22),
                         .setRoomMember(room: "lobby", user: "cy", isMember: false, at: 23),
                         .setRoomMember(room: "lobby", user: "cy", isMember: false, at: 24),
                         .setRoomBan(room: "lobby", user: "cy", isBanned: true),
                         .setRoomBan(room: "lobby", user: "cy", isBanned: true),
                         .setRoomBan(room: "lobby", user: "bob", isBanned: true),
                         .setRoomBan(room: "lobby", user: "bob", isBanned: false)])
        let lobby = try XCTUnwrap(try store.roomRecord("lobby"))
        XCTAssertEqual(lobby.owner, "ann")
        XCTAssertEqual(Set(lobby.members), [RoomMember(user: "ann", joinedAt: 20), RoomMember(user: "bob", joinedAt: 21)])
        XCTAssertEqual(lobby.banned, ["cy"])

        for (what, write) in [("member of an unknown room", StoreWrite.setRoomMember(room: "x", user: "ann", isMember: true, at: 1)),
                              ("unknown member", .setRoomMember(room: "lobby", user: "ghost", isMember: true, at: 1)),
                              ("removal of an unknown account", .setRoomMember(room: "lobby", user: "ghost", isMember: false, at: 1)),
                              ("removal from an unknown room", .setRoomMember(room: "x", user: "ann", isMember: false, at: 1)),
                              ("owner of an unknown room", .setRoomOwner(room: "x", owner: "ann")),
                              ("no owner of an unknown room", .setRoomOwner(room: "x", owner: nil)),
                              ("unknown owner", .setRoomOwner(room: "lobby", owner: "ghost")),
                              ("ban in an unknown room", .setRoomBan(room: "x", user: "ann", isBanned: true)),
                              ("ban of an unknown account", .setRoomBan(room: "lobby", user: "ghost", isBanned: true)),
                              ("unban of an unknown account", .setRoomBan(room: "lobby", user: "ghost", isBanned: false)),
                              ("cursor in an unknown room", .advanceRoomCursor(user: "ann", room: "x", to: 0)),
                              ("cursor of an unknown account", .advanceRoomCursor(user: "ghost", room: "lobby", to: 0)),
                              ("cursor beyond the room", .advanceRoomCursor(user: "ann", room: "lobby", to: 1))] {
            // Each after a good write in the same call: the whole call rolls back.
            try assertConstraint(what) {
                try store.write([.setRoomMember(room: "Lobby", user: "cy", isMember: true, at: 30), write])
            }
        }
        XCTAssertEqual(try store.roomRecord("Lobby")?.members, [], "the failed calls left nothing")
        XCTAssertEqual(try store.roomRecord("lobby"), lobby)

        try store.write([.setRoomOwner(room: "lobby", owner: nil),
                         .setRoomMember(room: "lobby", user: "ann", isMember: true, at: 40)])
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.rooms.map(\.name).sorted(), ["Lobby", "lobby"])
        let stored = try XCTUnwrap(snapshot.rooms.first { $0.name == "lobby" })
        XCTAssertNil(stored.owner)
        XCTAssertEqual(stored.members, [RoomMember(user: "ann", joinedAt: 20), RoomMember(user: "bob", joinedAt: 21)],
                       "joining again keeps the first join time; longest-standing first")
        XCTAssertEqual(stored.banned, ["cy"])
        XCTAssertEqual(snapshot.roomCursors, [:])
    }

    /// Seqs 1, 2, 3 per room; ids from the hub or from the direct messages' sequence; refusals consume no seq;
    /// cursors move forward only and never past the room; the snapshot has it all.
    func testAppendsAndCursors() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) }
                        + [.createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        let direct = try store.appendEach([StoredMessage(id: 0, from: "ann", to: "bob", text: "direct", at: 5)])[0]
        let first = try store.appendRoomEach([RoomMessage(id: 0, room: "a", from: "ann", text: "one", at: 6)])[0]
        XCTAssertEqual(first.seq, 1)
        XCTAssertGreaterThan(first.id, direct.id, "the same sequence as direct messages")
        XCTAssertEqual(try store.appendRoomEach([RoomMessage(id: 500, room: "a", from: "bob", text: "two", at: 7)])[0],
                       RoomMessage(id: 500, room: "a", seq: 2, from: "bob", text: "two", at: 7))
        XCTAssertEqual(try store.appendRoomEach([RoomMessage(id: 501, room: "b", from: "bob", text: "other room", at: 8)])[0].seq, 1)

        for (what, refused) in [("unknown room", RoomMessage(id: 0, room: "x", from: "ann", text: "", at: 9)),
                                ("unknown sender", RoomMessage(id: 0, room: "a", from: "ghost", text: "", at: 9)),
                                ("id of a room message", RoomMessage(id: 500, room: "b", from: "ann", text: "", at: 9)),
                                ("id of a direct message", RoomMessage(id: direct.id, room: "a", from: "ann", text: "", at: 9))] {
            try assertConstraint(what) { _ = try store.appendRoomEach([refused]) }
        }
        let third = try store.appendRoomEach([RoomMessage(id: 0, room: "a", from: "ann", text: "three", at: 10)])[0]
        XCTAssertEqual(third.seq, 3, "the refused appends took no seq")
        XCTAssertGreaterThan(third.id, 500, "the sequence went above the hub's id")
        XCTAssertEqual(try store.appendEach([StoredMessage(id: 0, from: "bob", to: "ann", text: "d", at: 11)])[0].id, third.id + 1)
        XCTAssertEqual(try store.roomRecord("a")?.lastSeq, 3)

        try store.write([.advanceRoomCursor(user: "bob", room: "a", to: 2), .advanceRoomCursor(user: "bob", room: "a", to: 1),
                         .advanceRoomCursor(user: "ann", room: "b", to: 0)])
        try assertConstraint("beyond the room") { try store.write([.advanceRoomCursor(user: "ann", room: "a", to: 4)]) }
        try store.write([.advanceRoomCursor(user: "ann", room: "a", to: 3)])
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.roomCursors, ["bob": ["a": 2], "ann": ["b": 0, "a": 3]])
        XCTAssertEqual(snapshot.lastMessageID, third.id + 1)
        XCTAssertEqual(snapshot.rooms.map(\.lastSeq), [3, 1])
    }

    /// The hub's room cursor flush (one write of many moves, repeats and backward moves among them) is one
    /// statement: every cursor ends at its highest move within its room, and one refused move refuses the flush.
    func testARoomCursorFlush() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        let users = (1...40).map { "u\($0)" }
        try store.write(users.map { .createAccount(StoreContract.account($0)) }
                        + [.createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        _ = try store.appendRoomEach((1...5).map { RoomMessage(id: 0, room: $0 <= 3 ? "a" : "b", from: "u1", text: "\($0)", at: 1) })
        var moves: [StoreWrite] = []
        for (n, user) in users.enumerated() {
            moves += [.advanceRoomCursor(user: user, room: "a", to: Int64(n % 4)),
                      .advanceRoomCursor(user: user, room: "a", to: 1),
                      .advanceRoomCursor(user: user, room: "b", to: Int64(n % 3))]
        }
        let before = store.commitCount
        try store.write(moves)
        XCTAssertEqual(store.commitCount - before, 1)
        let expected = Dictionary(uniqueKeysWithValues: users.enumerated().map { n, user in
            (user, ["a": Int64(max(n % 4, 1)), "b": Int64(n % 3)])
        })
        XCTAssertEqual(try store.loadSnapshot().roomCursors, expected)

        try store.write([.advanceRoomCursor(user: "u1", room: "a", to: 2), .advanceRoomCursor(user: "u1", room: "a", to: 1)])
        XCTAssertEqual(try store.loadSnapshot().roomCursors["u1"], ["a": 2, "b": 0], "never backwards")
        for (what, bad) in [("beyond the room", StoreWrite.advanceRoomCursor(user: "u2", room: "b", to: 3)),
                            ("unknown room", .advanceRoomCursor(user: "u2", room: "x", to: 0)),
                            ("unknown account", .advanceRoomCursor(user: "ghost", room: "a", to: 0))] {
            try assertConstraint(what) {
                try store.write([.advanceRoomCursor(user: "u3", room: "a", to: 3), bad, .advanceRoomCursor(user: "u9", room: "b", to: 2)])
            }
        }
        XCTAssertEqual(try store.loadSnapshot().roomCursors, expected.merging(["u1": ["a": 2, "b": 0]]) { $1 },
                       "the refused flushes moved nothing")
    }

    /// A room's log read after a seq, the newest after a seq, and before an id, with the limits' edges.
    func testRoomLogReads() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) }
                        + [.createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        // ids 1…20 alternate between the rooms: room a has the odd ids at seqs 1…10.
        _ = try store.appendRoomEach((Int64(1)...20).map { id in
            RoomMessage(id: id, room: id % 2 == 1 ? "a" : "b", from: id % 3 == 0 ? "bob" : "ann", text: "m\(id)", at: 100 + id)
        })
        let pages = try store.roomPages([
            RoomLogQuery(room: "a", .after(0), limit: 3),
            RoomLogQuery(room: "a", .after(8), limit: 50),
            RoomLogQuery(room: "a", .latestAfter(2), limit: 3),
            RoomLogQuery(room: "a", .latestAfter(8), limit: 50),
            RoomLogQuery(room: "a", .before(nil), limit: 4),
            RoomLogQuery(room: "a", .before(13), limit: 3),
            RoomLogQuery(room: "b", .before(3), limit: 10),
            RoomLogQuery(room: "a", .after(0), limit: 0),
            RoomLogQuery(room: "a", .latestAfter(0), limit: -1),
            RoomLogQuery(room: "a", .after(10), limit: 5),
            RoomLogQuery(room: "x", .after(0), limit: 5),
            RoomLogQuery(room: "a", .after(-3), limit: 2),
        ])
        XCTAssertEqual(pages.map { $0.map(\.id) }, [[1, 3, 5], [17, 19], [15, 17, 19], [17, 19], [19, 17, 15, 13],
                                                    [11, 9, 7], [2], [], [], [], [], [1, 3]])
        XCTAssertEqual(pages[0][2], RoomMessage(id: 5, room: "a", seq: 3, from: "ann", text: "m5", at: 105))
        XCTAssertEqual(pages[5].map(\.seq), [6, 5, 4])
        XCTAssertEqual(pages[6][0].from, "ann")
        XCTAssertEqual(pages[4].map(\.from), ["ann", "ann", "bob", "ann"])

        let many = try store.roomPages([RoomLogQuery(room: "a", .after(0), limit: RoomLogQuery.maxLimit + 5)])
        XCTAssertEqual(many[0].count, 10)
    }

    /// One batch (the writer held) with direct appends around room calls: each runs in its own segment, every
    /// completion comes in submission order, the reads see what was queued before them, and a refused room
    /// append fails alone.
    func testABatchMixingDirectAndRoomCalls() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) } + [.createRoom(name: "a", at: 1)])
        let order = OrderLog()
        let release = try StoreContract.holdWriter(store)
        let direct = (0..<4).map { _ in Outcome<StoredMessage>() }
        let inRoom = (0..<3).map { _ in Outcome<RoomMessage>() }
        let read = Outcome<[[RoomMessage]]>(), joined = Outcome<Void>(), room = Outcome<RoomRecord?>()
        store.append(StoreContract.message(1, "ann", "bob", "d1")) { order.add(1); direct[0].set($0) }
        store.appendRoom(RoomMessage(id: 2, room: "a", from: "ann", text: "r1", at: 2)) { order.add(2); inRoom[0].set($0) }
        store.appendRoom(RoomMessage(id: 1, room: "a", from: "ann", text: "taken", at: 2)) { order.add(3); inRoom[1].set($0) }
        store.append(StoreContract.message(3, "bob", "ann", "d2")) { order.add(4); direct[1].set($0) }
        store.append(StoreContract.message(4, "ann", "bob", "d3")) { order.add(5); direct[2].set($0) }
        store.perform([.setRoomMember(room: "a", user: "bob", isMember: true, at: 3)]) { order.add(6); joined.set($0) }
        store.appendRoom(RoomMessage(id: 0, room: "a", from: "bob", text: "r2", at: 4)) { order.add(7); inRoom[2].set($0) }
        store.roomLogs([RoomLogQuery(room: "a", .after(0), limit: 10)]) { order.add(8); read.set($0) }
        store.room(named: "a") { order.add(9); room.set($0) }
        store.append(StoreContract.message(0, "bob", "ann", "d4")) { order.add(10); direct[3].set($0) }
        release()
        XCTAssertEqual(try direct.map { try $0.wait().get().seq }, [1, 1, 2, 2])
        XCTAssertEqual(try inRoom[0].wait().get().seq, 1)
        XCTAssertThrowsError(try inRoom[1].wait().get(), "an id a direct message took") { error in
            guard case StoreError.constraint = error else { return XCTFail("\(error)") }
        }
        XCTAssertNoThrow(try joined.wait().get())
        let second = try inRoom[2].wait().get()
        XCTAssertEqual(second.seq, 2, "the refused append took no seq")
        XCTAssertGreaterThan(second.id, 4)
        XCTAssertEqual(try read.wait().get()[0].map(\.text), ["r1", "r2"])
        XCTAssertEqual(try room.wait().get()?.members.map(\.user), ["bob"])
        XCTAssertEqual(try room.wait().get()?.lastSeq, 2)
        XCTAssertGreaterThan(try direct[3].wait().get().id, second.id)
        XCTAssertEqual(order.values, Array(1...10), "completions in submission order")
    }

    /// Two stores on one database append to two rooms from 4 threads each, with ids from the sequence: every
    /// call succeeds, ids are unique, each room's seqs are 1…n without a gap or repeat and its log reads back in
    /// seq order from the other node.
    func testTwoStoresAppendingToTheSameRoomStayGapFree() throws {
        let database = try PostgresTestDatabase()
        let nodes = [try database.open(), try database.open()]
        defer { nodes.forEach { $0.close() } }
        try nodes[0].write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) }
                           + [.createRoom(name: "a", at: 1), .createRoom(name: "b", at: 1)])
        let perThread = 100
        let outcomes = (0..<(8 * perThread)).map { _ in Outcome<RoomMessage>() }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            let node = nodes[thread % 2]
            for i in 0..<perThread {
                let n = thread * perThread + i
                let room = (n + thread) % 3 == 0 ? "b" : "a"
                node.appendRoom(RoomMessage(id: 0, room: room, from: ["ann", "bob"][n % 2], text: "\(n)", at: Int64(n))) {
                    outcomes[n].set($0)
                }
            }
        }
        let stored = try outcomes.map { try $0.wait().get() }
        XCTAssertEqual(Set(stored.map(\.id)).count, stored.count, "ids unique across both nodes")
        for room in ["a", "b"] {
            let seqs = stored.filter { $0.room == room }.map(\.seq).sorted()
            XCTAssertEqual(seqs, Array(1...Int64(seqs.count)), "\(room)'s seqs")
            let log = try nodes[1].roomPages([RoomLogQuery(room: room, .after(0), limit: 1000)])[0]
            XCTAssertEqual(log.map(\.seq), seqs)
            XCTAssertEqual(try nodes[0].roomRecord(room)?.lastSeq, Int64(seqs.count))
        }
        XCTAssertEqual(try nodes[1].loadSnapshot().lastMessageID, stored.map(\.id).max())
    }

    private func assertConstraint(_ what: String, _ body: () throws -> Void, line: UInt = #line) throws {
        XCTAssertThrowsError(try body(), what, line: line) { error in
            guard case StoreError.constraint = error else { return XCTFail("\(what): \(error)", line: line) }
        }
    }
}
