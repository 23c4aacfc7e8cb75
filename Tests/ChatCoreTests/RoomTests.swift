import XCTest
@testable import ChatCore

/// Rooms in the hub (docs/PROTOCOL.md §12): membership, moderation, room messages and their replay, on the
/// in-memory store with the manual clock.
final class RoomTests: XCTestCase {
    private func harness(_ configure: (inout HubConfiguration) -> Void = { _ in }) -> HubHarness {
        HubHarness(accounts: [("ann", "a"), ("bob", "b"), ("cy", "c"), ("dee", "d")], configure: configure)
    }

    private func items(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let list)? = value { return list }
        return []
    }

    private func errorCode(_ h: HubHarness, _ c: ClientID) -> String? {
        h.events(c).last { $0["type"]?.stringValue == "error" }?["code"]?.stringValue
    }

    func testJoinCreatesWithAnOwnerAndOthersJoin() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b")
        _ = h.events(ann)
        h.send(ann, #"{"type":"join","room":"general","id":1}"#)
        let created = h.events(ann).last
        XCTAssertEqual(created?["type"]?.stringValue, "ok")
        XCTAssertEqual(created?["created"]?.boolValue, true)
        XCTAssertEqual(created?["owner"]?.stringValue, "ann")
        h.send(bob, #"{"type":"join","room":"general"}"#)
        XCTAssertEqual(h.events(bob).last?["created"]?.boolValue, false)
        let seen = h.events(ann).last
        XCTAssertEqual(seen?["type"]?.stringValue, "room_join")
        XCTAssertEqual(seen?["user"]?.stringValue, "bob")
        h.send(bob, #"{"type":"join","room":"general"}"#)
        XCTAssertEqual(errorCode(h, bob), "already_member")
        for bad in ["", "has space", "#hash", String(repeating: "x", count: 33), "naïve"] {
            h.send(bob, #"{"type":"join","room":"\#(bad)"}"#)
            XCTAssertEqual(errorCode(h, bob), "invalid_room", bad)
        }
        h.send(bob, #"{"type":"rooms"}"#)
        XCTAssertEqual(h.events(bob).last?["rooms"], .array([.object(["room": .string("general"), "members": .number(2), "owner": .string("ann")])]))
        h.send(bob, #"{"type":"members","room":"general"}"#)
        let members = h.events(bob).last
        XCTAssertEqual(members?["users"], .array([.string("ann"), .string("bob")]))
        XCTAssertEqual(members?["online"], .array([.string("ann"), .string("bob")]))
    }

    func testSayReachesMembersButNotTheSenderOrABlocker() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b"), cy = h.login("cy", "c"), dee = h.login("dee", "d")
        for c in [ann, bob, cy] { h.send(c, #"{"type":"join","room":"r"}"#) }
        for c in [ann, bob, cy, dee] { _ = h.events(c) }
        h.send(ann, #"{"type":"say","room":"r","text":"hello all","id":7}"#)
        let ok = h.events(ann)
        XCTAssertEqual(ok.map { $0["type"]?.stringValue }, ["ok"], "the sender gets only its ok")
        XCTAssertEqual(ok.last?["seq"]?.integerValue, 1)
        XCTAssertEqual(ok.last?["partial"]?.boolValue, false)
        for c in [bob, cy] {
            let got = h.events(c)
            XCTAssertEqual(got.count, 1)
            XCTAssertEqual(got[0]["type"]?.stringValue, "room_message")
            XCTAssertEqual(got[0]["room"]?.stringValue, "r")
            XCTAssertEqual(got[0]["from"]?.stringValue, "ann")
            XCTAssertEqual(got[0]["text"]?.stringValue, "hello all")
            XCTAssertEqual(got[0]["seq"]?.integerValue, 1)
        }
        XCTAssertEqual(h.events(dee).count, 0, "not a member")
        h.send(dee, #"{"type":"say","room":"r","text":"let me in"}"#)
        XCTAssertEqual(errorCode(h, dee), "not_member")
        h.send(cy, #"{"type":"block","user":"ann"}"#)
        _ = h.events(cy)
        h.send(ann, #"{"type":"say","room":"r","text":"again"}"#)
        XCTAssertEqual(h.events(ann).last?["partial"]?.boolValue, true)
        XCTAssertEqual(h.events(cy).count, 0, "cy blocked ann")
        XCTAssertEqual(h.events(bob).last?["seq"]?.integerValue, 2)
        XCTAssertEqual(h.hub.metricsSnapshot().roomMessages, 2)
    }

    /// The fan-out keeps each room's live sessions between messages: every change in between (a member logging
    /// in or out, joining, leaving, blocking and unblocking the sender) shows in the very next message.
    func testEachMessageReachesWhoIsInTheRoomAndOnlineNow() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b"), cy = h.login("cy", "c")
        for c in [ann, bob] { h.send(c, #"{"type":"join","room":"r"}"#) }
        func say(_ text: String) -> [ClientID: [String?]] {
            for c in [ann, bob, cy] { _ = h.events(c) }
            h.send(ann, #"{"type":"say","room":"r","text":"\#(text)"}"#)
            var got: [ClientID: [String?]] = [:]
            for c in [bob, cy] {
                got[c] = h.events(c).filter { $0["type"]?.stringValue == "room_message" }.map { $0["text"]?.stringValue }
            }
            return got
        }
        XCTAssertEqual(say("one"), [bob: ["one"], cy: []])
        h.send(cy, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(say("two"), [bob: ["two"], cy: ["two"]], "a member who joined")
        h.send(cy, #"{"type":"block","user":"ann"}"#)
        XCTAssertEqual(say("three"), [bob: ["three"], cy: []], "a member who blocked the sender")
        h.send(cy, #"{"type":"unblock","user":"ann"}"#)
        XCTAssertEqual(say("four"), [bob: ["four"], cy: ["four"]], "and unblocked")
        h.send(bob, #"{"type":"logout"}"#)
        XCTAssertEqual(say("five"), [bob: [], cy: ["five"]], "a member who logged out")
        h.send(cy, #"{"type":"leave","room":"r"}"#)
        XCTAssertEqual(say("six"), [bob: [], cy: []], "a member who left")
        let bob2 = h.connect()
        h.send(bob2, #"{"type":"login","user":"bob","password":"b"}"#)
        let replayed = h.events(bob2).filter { $0["type"]?.stringValue == "room_message" }.map { $0["text"]?.stringValue }
        XCTAssertEqual(replayed, ["five", "six"], "what bob missed, at his login")
        h.send(ann, #"{"type":"say","room":"r","text":"seven"}"#)
        XCTAssertEqual(h.events(bob2).filter { $0["type"]?.stringValue == "room_message" }.map { $0["text"]?.stringValue },
                       ["seven"], "and live once the replay is over")
    }

    func testLeavingHandsTheRoomToTheLongestStandingMember() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b"), cy = h.login("cy", "c")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        h.clock.advance(seconds: 1)
        h.send(cy, #"{"type":"join","room":"r"}"#)
        h.clock.advance(seconds: 1)
        h.send(bob, #"{"type":"join","room":"r"}"#)
        for c in [ann, bob, cy] { _ = h.events(c) }
        h.send(ann, #"{"type":"leave","room":"r"}"#)
        XCTAssertEqual(h.types(ann), ["ok"])
        let seen = h.events(bob).last
        XCTAssertEqual(seen?["type"]?.stringValue, "room_leave")
        XCTAssertEqual(seen?["reason"]?.stringValue, "left")
        h.send(bob, #"{"type":"rooms"}"#)
        XCTAssertEqual(items(h.events(bob).last?["rooms"]).first?["owner"]?.stringValue, "cy", "cy joined before bob")
        h.send(ann, #"{"type":"leave","room":"r"}"#)
        XCTAssertEqual(errorCode(h, ann), "not_member")
        h.send(cy, #"{"type":"leave","room":"r"}"#)
        h.send(bob, #"{"type":"leave","room":"r"}"#)
        h.send(ann, #"{"type":"join","room":"r"}"#)
        let again = h.events(ann).last
        XCTAssertEqual(again?["created"]?.boolValue, false, "an empty room is kept")
        XCTAssertEqual(again?["owner"]?.stringValue, "ann", "and the next to join owns it")
    }

    func testOnlyTheOwnerModeratesAndBansHold() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b"), cy = h.login("cy", "c")
        for c in [ann, bob, cy] { h.send(c, #"{"type":"join","room":"r"}"#) }
        for c in [ann, bob, cy] { _ = h.events(c) }
        h.send(bob, #"{"type":"kick","room":"r","user":"cy"}"#)
        XCTAssertEqual(errorCode(h, bob), "not_owner")
        h.send(ann, #"{"type":"kick","room":"r","user":"ann"}"#)
        XCTAssertEqual(errorCode(h, ann), "self")
        h.send(ann, #"{"type":"ban","room":"r","user":"ann"}"#)
        XCTAssertEqual(errorCode(h, ann), "self")
        h.send(ann, #"{"type":"ban","room":"r","user":"ghost"}"#)
        XCTAssertEqual(errorCode(h, ann), "invalid_user")
        h.send(ann, #"{"type":"kick","room":"r","user":"dee"}"#)
        XCTAssertEqual(errorCode(h, ann), "not_member")

        h.send(ann, #"{"type":"kick","room":"r","user":"cy"}"#)
        XCTAssertEqual(h.types(ann), ["ok"])
        let told = h.events(cy).last
        XCTAssertEqual(told?["type"]?.stringValue, "room_leave")
        XCTAssertEqual(told?["reason"]?.stringValue, "removed")
        XCTAssertEqual(told?["by"]?.stringValue, "ann")
        XCTAssertEqual(h.events(bob).last?["reason"]?.stringValue, "removed")
        XCTAssertNil(h.events(bob).last?["by"])
        h.send(cy, #"{"type":"say","room":"r","text":"still here?"}"#)
        XCTAssertEqual(errorCode(h, cy), "not_member")
        h.send(cy, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(h.events(cy).last?["type"]?.stringValue, "ok", "a kick is not a ban")

        h.send(ann, #"{"type":"ban","room":"r","user":"cy"}"#)
        XCTAssertEqual(h.events(cy).last?["reason"]?.stringValue, "banned")
        h.send(cy, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(errorCode(h, cy), "banned")
        h.send(ann, #"{"type":"unban","room":"r","user":"cy"}"#)
        h.send(cy, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(h.events(cy).last?["type"]?.stringValue, "ok")
        h.send(ann, #"{"type":"ban","room":"r","user":"dee"}"#)
        let dee = h.login("dee", "d")
        h.send(dee, #"{"type":"join","room":"r"}"#)
        XCTAssertEqual(errorCode(h, dee), "banned", "a ban before joining holds")
        h.send(bob, #"{"type":"unban","room":"nowhere","user":"dee"}"#)
        XCTAssertEqual(errorCode(h, bob), "not_owner")
    }

    func testMissedMessagesComeAfterTheDirectOnesCappedPerRoomAndOnce() {
        let h = harness { $0.rooms.replayPerRoom = 3 }
        let ann = h.login("ann", "a"), bob = h.login("bob", "b")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"join","room":"r"}"#)
        h.send(ann, #"{"type":"say","room":"r","text":"seen live"}"#)
        h.send(bob, #"{"type":"logout"}"#)
        for i in 1...5 { h.send(ann, #"{"type":"say","room":"r","text":"missed \#(i)"}"#) }
        h.send(ann, #"{"type":"message","to":"bob","text":"direct"}"#)
        let bob2 = h.connect()
        h.send(bob2, #"{"type":"login","user":"bob","password":"b"}"#)
        let replayed = h.events(bob2).filter { ["message", "room_message"].contains($0["type"]?.stringValue) }
        XCTAssertEqual(replayed.map { $0["text"]?.stringValue }, ["direct", "missed 3", "missed 4", "missed 5"])
        XCTAssertEqual(replayed.last?["offline"]?.boolValue, true)
        h.send(bob2, #"{"type":"logout"}"#)
        let bob3 = h.connect()
        h.send(bob3, #"{"type":"login","user":"bob","password":"b"}"#)
        XCTAssertEqual(h.types(bob3).filter { $0 == "room_message" }, [], "handed over once to a client without acks")
    }

    func testAnAckingClientGetsWhatItDidNotAckAndAcksBeyondAreRefused() {
        let h = harness()
        let ann = h.login("ann", "a")
        let bob = h.connect()
        h.send(bob, #"{"type":"login","user":"bob","password":"b","acks":true}"#)
        h.send(ann, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"join","room":"r"}"#)
        for i in 1...3 { h.send(ann, #"{"type":"say","room":"r","text":"m\#(i)"}"#) }
        XCTAssertEqual(h.events(bob).filter { $0["type"]?.stringValue == "room_message" }.count, 3)
        h.send(bob, #"{"type":"ack","room":"r","seq":1}"#)
        h.send(bob, #"{"type":"ack","room":"r","seq":9,"id":"x"}"#)
        XCTAssertEqual(errorCode(h, bob), "bad_request")
        h.send(bob, #"{"type":"ack","room":"other","seq":1}"#)
        XCTAssertEqual(errorCode(h, bob), "not_member")
        h.hub.disconnected(bob)
        h.hub.sweep()
        h.settle()
        let again = h.connect()
        h.send(again, #"{"type":"login","user":"bob","password":"b","acks":true}"#)
        let replay = h.events(again).filter { $0["type"]?.stringValue == "room_message" }
        XCTAssertEqual(replay.map { $0["seq"]?.integerValue }, [2, 3], "what was not acked comes again")
    }

    func testLiveMessagesDuringTheReplayFollowIt() {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"logout"}"#)
        h.send(ann, #"{"type":"say","room":"r","text":"before"}"#)
        // bob's password is checked; ann's message is committed while his login reads the store, so it reaches
        // him while his room replay is under way: it is held, and follows the replay once.
        let bob2 = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"bob","password":"b"}"#.utf8), from: bob2)
        h.hasher.runPending()
        h.hub.receive(Array(#"{"type":"say","room":"r","text":"after"}"#.utf8), from: ann)
        h.settle()
        let texts = h.output.take(bob2).compactMap { try? JSONParser.parse($0) }
            .filter { $0["type"]?.stringValue == "room_message" }.map { $0["text"]?.stringValue }
        XCTAssertEqual(texts, ["before", "after"])
    }

    func testHistoryPagesBackByID() {
        let h = harness()
        let ann = h.login("ann", "a"), dee = h.login("dee", "d")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        for i in 1...5 { h.send(ann, #"{"type":"say","room":"r","text":"t\#(i)"}"#) }
        _ = h.events(ann)
        h.send(ann, #"{"type":"history","room":"r","limit":2}"#)
        let first = h.events(ann).last
        XCTAssertEqual(first?["room"]?.stringValue, "r")
        XCTAssertEqual(items(first?["messages"]).map { $0["text"]?.stringValue }, ["t5", "t4"])
        let next = first?["next"]?.integerValue ?? 0
        h.send(ann, #"{"type":"history","room":"r","limit":10,"before":\#(next)}"#)
        let second = h.events(ann).last
        XCTAssertEqual(items(second?["messages"]).map { $0["text"]?.stringValue }, ["t3", "t2", "t1"])
        XCTAssertEqual(second?["next"], .null)
        h.send(dee, #"{"type":"history","room":"r"}"#)
        XCTAssertEqual(errorCode(h, dee), "not_member")
    }

    func testLimitsRefuseAndAreCounted() {
        let h = harness { $0.rooms.roomsPerUser = 2; $0.rooms.membersPerRoom = 2; $0.rooms.totalRooms = 3 }
        let ann = h.login("ann", "a"), bob = h.login("bob", "b"), cy = h.login("cy", "c")
        h.send(ann, #"{"type":"join","room":"a"}"#)
        h.send(ann, #"{"type":"join","room":"b"}"#)
        h.send(ann, #"{"type":"join","room":"c"}"#)
        XCTAssertEqual(errorCode(h, ann), "too_many_rooms")
        h.send(bob, #"{"type":"join","room":"a"}"#)
        h.send(cy, #"{"type":"join","room":"a"}"#)
        XCTAssertEqual(errorCode(h, cy), "room_full")
        h.send(cy, #"{"type":"join","room":"c"}"#)
        h.send(cy, #"{"type":"join","room":"d"}"#)
        XCTAssertEqual(errorCode(h, cy), "too_many_rooms", "the server's room limit")
        let m = h.hub.metricsSnapshot()
        XCTAssertEqual(m.roomJoinsRefusedFull, 1)
        XCTAssertEqual(m.roomJoinsRefusedTooMany, 2)
    }

    func testARestReaderWaitsForTheRoomAndAFailedChangeIsUndone() throws {
        let h = harness()
        let ann = h.login("ann", "a")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        let waiting = h.rest(.roomRead(room: "r", after: nil, limit: 50, wait: 30), as: "ann")
        h.settle()
        XCTAssertNil(waiting.current, "nothing yet: it waits")
        let bob = h.login("bob", "b")
        h.send(bob, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"say","room":"r","text":"for the reader"}"#)
        guard case .roomPage(_, let room, let messages, let last) = try waiting.wait() else { return XCTFail("no page") }
        XCTAssertEqual(room, "r")
        XCTAssertEqual(messages.map(\.text), ["for the reader"])
        XCTAssertEqual(last, 1)
        let outsider = h.rest(.roomRead(room: "r", after: nil, limit: 50, wait: 0), as: "cy")
        h.settle()
        XCTAssertEqual(try outsider.wait().errorCode, .notMember)

        h.store.failNextBatch(with: StoreError.unavailable("test"))
        h.send(bob, #"{"type":"leave","room":"r"}"#)
        XCTAssertEqual(errorCode(h, bob), "internal")
        h.send(bob, #"{"type":"say","room":"r","text":"still a member"}"#)
        XCTAssertEqual(h.events(bob).last?["type"]?.stringValue, "ok", "the failed leave was undone")
    }

    func testRoomsSurviveARestartOfTheHub() throws {
        let h = harness()
        let ann = h.login("ann", "a"), bob = h.login("bob", "b")
        h.send(ann, #"{"type":"join","room":"r"}"#)
        h.send(bob, #"{"type":"join","room":"r"}"#)
        h.send(ann, #"{"type":"ban","room":"r","user":"cy"}"#)
        h.send(ann, #"{"type":"say","room":"r","text":"x"}"#)
        let snapshot = try h.store.loadSnapshot()
        let record = try XCTUnwrap(snapshot.rooms.first)
        XCTAssertEqual(record.owner, "ann")
        XCTAssertEqual(record.members.map(\.user).sorted(), ["ann", "bob"])
        XCTAssertEqual(record.banned, ["cy"])
        XCTAssertEqual(record.lastSeq, 1)
        let restarted = ChatService(configuration: HubConfiguration(blockDuration: 10_000, idleTimeout: 30_000),
                                    snapshot: snapshot, store: h.store, hasher: h.hasher, output: h.output, clock: h.clock)
        XCTAssertEqual(restarted.rooms.room("r")?.owner, "ann")
        XCTAssertEqual(restarted.rooms.room("r")?.lastSeq, 1)
        XCTAssertEqual(restarted.rooms.rooms(of: "bob").map(\.name), ["r"])
    }

    /// The default limits, reached for real: a user's 501st room and a room's 5001st member are refused.
    func testTheDefaultLimitsHold() throws {
        let names = (0...5_000).map { ("m\($0)", "p") }
        let h = HubHarness(accounts: [("ann", "a")] + names)
        for i in 0..<500 {
            let reply = h.rest(.join(room: "r\(i)"), as: "ann")
            h.settle()
            XCTAssertNil(try reply.wait().errorCode)
        }
        let over = h.rest(.join(room: "one-more"), as: "ann")
        h.settle()
        XCTAssertEqual(try over.wait().errorCode, .tooManyRooms)
        for (name, _) in names.prefix(4_999) {
            _ = h.rest(.join(room: "r0"), as: name)
        }
        h.settle()
        let full = h.rest(.join(room: "r0"), as: "m4999")
        let last = h.rest(.join(room: "r0"), as: "m5000")
        h.settle()
        XCTAssertEqual(try full.wait().errorCode, .roomFull, "ann and 4999 others make 5000")
        XCTAssertEqual(try last.wait().errorCode, .roomFull)
        h.send(h.login("ann", "a"), #"{"type":"say","room":"r0","text":"to five thousand"}"#)
        XCTAssertEqual(h.hub.metricsSnapshot().deliveries, 0, "members offline: stored, not delivered")
    }
}
