import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Rooms across three hubs on the in-memory bus: members on different nodes see the same replies and events
/// as on one node.
final class ClusterRoomTests: XCTestCase {
    private func cluster() throws -> ClusterHarness {
        try ClusterHarness(nodes: 3, accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder")])
    }

    func testMembershipMessagesAndModerationSpanNodes() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky"), leia = c[2].login("leia", "alder")
        c[0].send(hans, #"{"type":"join","room":"bridge"}"#)
        XCTAssertEqual(c[0].events(hans).last?["created"]?.boolValue, true)
        c[1].send(luke, #"{"type":"join","room":"bridge"}"#)
        XCTAssertEqual(c[1].events(luke).last?["created"]?.boolValue, false, "node1 knows the room node0 created")
        XCTAssertEqual(c[0].events(hans).last?["type"]?.stringValue, "room_join")
        c[2].send(leia, #"{"type":"join","room":"bridge"}"#)
        _ = c[0].events(hans); _ = c[1].events(luke); _ = c[2].events(leia)

        c[1].send(luke, #"{"type":"say","room":"bridge","text":"across"}"#)
        XCTAssertEqual(c[1].events(luke).last?["seq"]?.integerValue, 1)
        for (node, client) in [(0, hans), (2, leia)] {
            let got = c[node].events(client)
            XCTAssertEqual(got.map { $0["type"]?.stringValue }, ["room_message"], "node \(node)")
            XCTAssertEqual(got.first?["text"]?.stringValue, "across")
        }
        c[2].send(leia, #"{"type":"block","user":"luke"}"#)
        c[1].send(luke, #"{"type":"say","room":"bridge","text":"blocked there"}"#)
        XCTAssertEqual(c[1].events(luke).last?["partial"]?.boolValue, true, "a blocker on another node makes it partial")
        XCTAssertEqual(c[2].events(leia).filter { $0["type"]?.stringValue == "room_message" }.count, 0)

        c[1].send(luke, #"{"type":"kick","room":"bridge","user":"leia"}"#)
        XCTAssertEqual(c[1].events(luke).last?["code"]?.stringValue, "not_owner")
        c[0].send(hans, #"{"type":"ban","room":"bridge","user":"leia"}"#)
        let told = c[2].events(leia).last
        XCTAssertEqual(told?["type"]?.stringValue, "room_leave")
        XCTAssertEqual(told?["reason"]?.stringValue, "banned")
        XCTAssertEqual(told?["by"]?.stringValue, "hans")
        XCTAssertEqual(c[1].events(luke).last?["reason"]?.stringValue, "banned")
        c[2].send(leia, #"{"type":"join","room":"bridge"}"#)
        XCTAssertEqual(c[2].events(leia).last?["code"]?.stringValue, "banned", "node2 knows of the ban")
        c[2].send(leia, #"{"type":"say","room":"bridge","text":"x"}"#)
        XCTAssertEqual(c[2].events(leia).last?["code"]?.stringValue, "not_member")

        c[0].send(hans, #"{"type":"leave","room":"bridge"}"#)
        c[1].send(luke, #"{"type":"rooms"}"#)
        guard case .array(let rooms)? = c[1].events(luke).last?["rooms"] else { return XCTFail("no rooms") }
        XCTAssertEqual(rooms.first?["owner"]?.stringValue, "luke", "the room passed to luke on every node")
        c[1].send(luke, #"{"type":"members","room":"bridge"}"#)
        XCTAssertEqual(c[1].events(luke).last?["users"], .array([.string("luke")]))
    }

    func testAMemberBackOnAnotherNodeGetsWhatTheyMissed() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky")
        c[0].send(hans, #"{"type":"join","room":"r"}"#)
        c[1].send(luke, #"{"type":"join","room":"r"}"#)
        c[1].send(luke, #"{"type":"logout"}"#)
        c.sweep()
        for i in 1...3 { c[0].send(hans, #"{"type":"say","room":"r","text":"m\#(i)"}"#) }
        let back = c[2].connect()
        c[2].send(back, #"{"type":"login","user":"luke","password":"sky"}"#)
        let missed = c[2].events(back).filter { $0["type"]?.stringValue == "room_message" }
        XCTAssertEqual(missed.map { $0["text"]?.stringValue }, ["m1", "m2", "m3"])
        XCTAssertEqual(missed.map { $0["offline"]?.boolValue }, [true, true, true])
        c[0].send(hans, #"{"type":"say","room":"r","text":"live"}"#)
        XCTAssertEqual(c[2].events(back).map { $0["text"]?.stringValue }, ["live"])
    }

    func testANodeBackOnTheBusKnowsTheRoomsItMissed() throws {
        let c = try cluster()
        c.bus.cutOff("node1")
        c[1].hub.clusterLinkChanged(up: false)
        let hans = c[0].login("hans", "solo")
        c[0].send(hans, #"{"type":"join","room":"missed"}"#)
        c[0].send(hans, #"{"type":"ban","room":"missed","user":"luke"}"#)
        XCTAssertNil(c[1].hub.serialized { c[1].hub.rooms.room("missed") }, "node 1 missed the notices")
        c.bus.reconnect("node1")
        c[1].hub.clusterLinkChanged(up: true)
        let deadline = Date().addingTimeInterval(5)
        while c[1].hub.serialized({ c[1].hub.rooms.room("missed") }) == nil && Date() < deadline { usleep(5_000) }
        XCTAssertEqual(c[1].hub.serialized { c[1].hub.rooms.room("missed")?.owner }, "hans", "the room, from the store")
        XCTAssertEqual(c[1].hub.serialized { c[1].hub.rooms.room("missed")?.banned }, ["luke"])
    }

    func testWhatWasSeenOnOneNodeIsNotReplayedOnAnother() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky")
        c[0].send(hans, #"{"type":"join","room":"r"}"#)
        c[1].send(luke, #"{"type":"join","room":"r"}"#)
        c[0].send(hans, #"{"type":"say","room":"r","text":"seen on node 1"}"#)
        XCTAssertEqual(c[1].events(luke).last?["text"]?.stringValue, "seen on node 1")
        c[1].send(luke, #"{"type":"logout"}"#)
        c[0].send(hans, #"{"type":"say","room":"r","text":"missed"}"#)
        let back = c[2].connect()
        c[2].send(back, #"{"type":"login","user":"luke","password":"sky"}"#)
        let replayed = c[2].events(back).filter { $0["type"]?.stringValue == "room_message" }
        XCTAssertEqual(replayed.map { $0["text"]?.stringValue }, ["missed"], "node 2 reads luke's cursor from the store")
    }

    /// The owner leaves on a node that has not yet heard of the latest join: the room still passes to that member
    /// (the store's members decide), and the late notice of the join does not hand the room back to the one who left.
    func testTheOwnersSuccessorIsTheStoresAndALateJoinNoticeDoesNotUndoIt() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky")
        c[0].send(hans, #"{"type":"join","room":"r"}"#)
        _ = c[0].events(hans)
        c.bus.holdSends(to: "node0", true)
        c[1].send(luke, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(c[1].events(luke).last?["type"]?.stringValue, "ok")
        XCTAssertEqual(c[0].events(hans), [], "node 0 has not heard of luke's join yet")

        c[0].send(hans, #"{"type":"leave","room":"r"}"#)
        XCTAssertEqual(c[0].events(hans).last?["type"]?.stringValue, "ok")
        XCTAssertEqual(try c.store.roomRecord("r")?.owner, "luke", "the store has luke as the owner")
        XCTAssertEqual(c[1].events(luke).last?["type"]?.stringValue, "room_leave")
        c.bus.holdSends(to: "node0", false)
        c.settle()
        for node in 0...1 {
            XCTAssertEqual(c[node].hub.serialized { c[node].hub.rooms.room("r")?.owner }, "luke", "node \(node)")
            XCTAssertEqual(c[node].hub.serialized { c[node].hub.rooms.room("r")?.members.keys.sorted() }, ["luke"], "node \(node)")
        }
        c[1].send(luke, #"{"type":"kick","room":"r","user":"hans"}"#)
        XCTAssertEqual(c[1].events(luke).last?["code"]?.stringValue, "not_member", "luke owns the room; hans is gone")
    }

    /// Notices from different nodes may arrive out of the order they were stored in: the owner's leave that
    /// reaches a node after the join that made someone else owner of the emptied room leaves that owner alone.
    func testAnOwnersLeaveArrivingAfterTheNextOwnersJoinKeepsTheNewOwner() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky")
        c[0].send(hans, #"{"type":"join","room":"r"}"#)
        c.bus.holdSends(to: "node2", true)
        c[0].send(hans, #"{"type":"leave","room":"r"}"#)
        c[1].send(luke, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(c[1].events(luke).last?["owner"]?.stringValue, "luke")
        let node2 = c[2].hub
        XCTAssertEqual(node2.serialized { node2.rooms.room("r")?.owner }, "hans", "node 2 has heard of neither yet")
        // Deliver luke's join first, then hans's leave: the reverse of the order they were stored in.
        node2.clusterReceived(.roomChanged(RoomNotice(room: "r", user: "luke", change: .joined, by: "luke", owner: "luke", at: c.clock.now())))
        node2.clusterReceived(.roomChanged(RoomNotice(room: "r", user: "hans", change: .left, by: "hans", owner: nil, at: c.clock.now())))
        c.settle()
        XCTAssertEqual(node2.serialized { node2.rooms.room("r")?.owner }, "luke")
        XCTAssertEqual(node2.serialized { node2.rooms.room("r")?.members.keys.sorted() }, ["luke"])
    }

    /// A read of a room answered before a change that a notice then brought here (the read was on its way while
    /// the change was stored) does not replace the newer replica: the room is read again.
    func testAReadOfARoomThatANoticeOvertookIsReadAgain() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo"), luke = c[1].login("luke", "sky")
        c[0].send(hans, #"{"type":"join","room":"r"}"#)
        let node2 = c[2].hub
        let members = { node2.serialized { node2.rooms.room("r")?.members.keys.sorted() } }
        let stale = try c.store.roomRecord("r")
        let sent = node2.serialized { node2.rooms.mark("r") }
        c[1].send(luke, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(members(), ["hans", "luke"], "node 2 applied the notice")
        XCTAssertNotEqual(node2.serialized { node2.rooms.mark("r") }, sent)

        node2.serialized { node2.roomReread(RoomReread(name: "r", notice: nil, mark: sent, attempt: 1), .success(stale)) }
        XCTAssertEqual(members(), ["hans", "luke"], "the stale read is not loaded")
        XCTAssertEqual(c.store.queuedCount, 1, "the room is read again")
        c.settle()
        XCTAssertEqual(members(), ["hans", "luke"])
        XCTAssertEqual(node2.serialized { node2.rooms.room("r")?.owner }, "hans")
    }
}
