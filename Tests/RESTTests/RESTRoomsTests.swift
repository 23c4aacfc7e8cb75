import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// Rooms on the REST door (docs/PROTOCOL.md §12) against a real hub on the in-memory store: every route's success
/// and its refusals, with the status each error code maps to.
final class RESTRoomsTests: XCTestCase {
    private func body(_ response: HTTPResponse?) -> String {
        response.map { String(decoding: $0.body, as: UTF8.self) } ?? "(no response)"
    }

    private func messages(_ response: HTTPResponse?) -> [JSONValue] {
        if case .array(let items)? = response.map(RESTHarness.json)?["messages"] { return items }
        return []
    }

    private func say(_ h: RESTHarness, _ auth: [(String, String)], in room: String, _ texts: [String],
                     file: StaticString = #filePath, line: UInt = #line) -> [Int64] {
        texts.compactMap { text in
            let response = h.call(.post, "/api/rooms/\(room)/messages", headers: auth, json: #"{"text":"\#(text)"}"#)
            XCTAssertEqual(response?.status, 201, body(response), file: file, line: line)
            return response.flatMap { RESTHarness.json($0)["id"]?.integerValue }
        }
    }

    private func assertError(_ response: HTTPResponse?, _ status: Int, _ code: String, _ message: String? = nil,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response?.status, status, body(response), file: file, line: line)
        XCTAssertEqual(RESTHarness.errorCode(response), code, file: file, line: line)
        if let message {
            XCTAssertEqual(response.map(RESTHarness.json)?["error"]?["message"]?.stringValue, message, file: file, line: line)
        }
    }

    func testRoomPathsAreMatchedDecodedAndLabelledByTemplate() {
        let cases: [(String, RESTRoute)] = [
            ("/api/rooms", .rooms), ("/api/rooms/general", .room("general")),
            ("/api/rooms/general/messages", .roomMessages("general")), ("/api/rooms/general/ack", .roomAck("general")),
            ("/api/rooms/general/members", .roomMembers("general")),
            ("/api/rooms/general/members/hans", .roomMember(room: "general", user: "hans")),
            ("/api/rooms/general/bans/a%2Bb+c", .roomBan(room: "general", user: "a+b+c")),
            ("/api/rooms/a%20b", .room("a b")), ("/api/rooms/x%2Fy/members", .roomMembers("x/y")),
        ]
        for (path, route) in cases {
            XCTAssertEqual(RESTRoute.match(Substring(path)), .route(route), path)
        }
        XCTAssertEqual(RESTRoute.match("/api/rooms/general/members/hans")?.label, "/api/rooms/{room}/members/{user}")
        XCTAssertEqual(RESTRoute.match("/api/rooms/%ff/bans/x")?.label, "/api/rooms/{room}/bans/{user}")
        for path in ["/api/rooms/", "/api/rooms//messages", "/api/rooms/general/", "/api/rooms/general/nope",
                     "/api/rooms/general/bans", "/api/rooms/general/ack/1", "/api/rooms/general/members/hans/x",
                     "/api/rooms/general/Messages", "/api/rooms/general/members/"] {
            XCTAssertEqual(RESTRoute.match(Substring(path)), .unknown, path)
        }
    }

    func testRoomRoutesRefuseBadInputBeforeTheHub() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        assertError(h.call(.put, "/api/rooms/%zz", headers: hans), 400, "bad_request")
        assertError(h.call(.delete, "/api/rooms/general/members/%C3", headers: hans), 400, "bad_request")
        for body in ["{}", #"{"text":""}"#, #"{"text":1}"#, "[]", "{"] {
            assertError(h.call(.post, "/api/rooms/general/messages", headers: hans, json: body), 400, "bad_request", nil)
        }
        for body in ["{}", #"{"seq":-1}"#, #"{"seq":"1"}"#, #"{"seq":1.5}"#] {
            assertError(h.call(.post, "/api/rooms/general/ack", headers: hans, json: body), 400, "bad_request", nil)
        }
        for query in ["limit=0", "limit=201", "wait=61", "wait=x", "after=-1", "after=1&after=2"] {
            assertError(h.call(.get, "/api/rooms/general/messages?\(query)", headers: hans), 400, "bad_request", nil)
        }
        for query in ["room=general&limit=0", "room=general&before=0", "room=general&room=x"] {
            assertError(h.call(.get, "/api/history?\(query)", headers: hans), 400, "bad_request", nil)
        }
        let plain = h.call(.post, "/api/rooms/general/messages", headers: hans + [("Content-Type", "text/plain")],
                           json: #"{"text":"hi"}"#)
        XCTAssertEqual(plain?.status, 415)
        // Who asks is judged first: a stranger learns nothing about the room or the input.
        for (method, target) in [(HTTPMethod.get, "/api/rooms"), (.put, "/api/rooms/general"),
                                 (.get, "/api/rooms/general/messages?limit=0"), (.delete, "/api/rooms/x/bans/y")] {
            XCTAssertEqual(h.call(method, target)?.status, 401, target)
        }
        let expectations: [(HTTPMethod, String, String)] = [
            (.post, "/api/rooms", "GET, HEAD"), (.get, "/api/rooms/general", "PUT, DELETE"),
            (.put, "/api/rooms/general/messages", "GET, POST, HEAD"), (.get, "/api/rooms/general/ack", "POST"),
            (.delete, "/api/rooms/general/members", "GET, HEAD"), (.get, "/api/rooms/general/members/luke", "DELETE"),
            (.post, "/api/rooms/general/bans/luke", "PUT, DELETE"),
        ]
        for (method, target, allow) in expectations {
            let response = h.call(method, target)
            XCTAssertEqual(response?.status, 405, "\(method) \(target)")
            XCTAssertEqual(response?.headers["Allow"], allow, "\(method) \(target)")
        }
    }

    func testJoinCreatesThenJoinsAndTheListShowsTheCallersRooms() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        let created = h.call(.put, "/api/rooms/general", headers: hans)
        XCTAssertEqual(created?.status, 201)
        XCTAssertEqual(body(created), #"{"room":"general","created":true,"owner":"hans"}"#)
        let joined = h.call(.put, "/api/rooms/general", headers: luke)
        XCTAssertEqual(joined?.status, 200)
        XCTAssertEqual(body(joined), #"{"room":"general","created":false,"owner":"hans"}"#)
        XCTAssertEqual(h.call(.put, "/api/rooms/jedi-council", headers: luke)?.status, 201)
        XCTAssertEqual(body(h.call(.get, "/api/rooms", headers: hans)),
                       #"{"rooms":[{"room":"general","members":2,"owner":"hans"}]}"#)
        let lukes = h.call(.get, "/api/rooms", headers: luke).map(RESTHarness.json)
        guard case .array(let rooms)? = lukes?["rooms"] else { return XCTFail("no rooms array") }
        XCTAssertEqual(Set(rooms.compactMap { $0["room"]?.stringValue }), ["general", "jedi-council"])
        XCTAssertEqual(body(h.call(.get, "/api/rooms", headers: h.bearer("yoda", "green"))), #"{"rooms":[]}"#)
    }

    func testJoinRefusals() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        // The path is percent-decoded first: a space, a `#` and an over-long name are names the rules refuse.
        for name in ["a%20b", "%23general", String(repeating: "x", count: 33), "caf%C3%A9"] {
            assertError(h.call(.put, "/api/rooms/\(name)", headers: hans), 400, "invalid_room", "Error. Invalid room")
        }
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        assertError(h.call(.put, "/api/rooms/general", headers: hans), 409, "already_member",
                    "Error. You are already in #general")
        XCTAssertEqual(h.call(.put, "/api/rooms/general/bans/luke", headers: hans)?.status, 204)
        assertError(h.call(.put, "/api/rooms/general", headers: h.bearer("luke", "jedi")), 403, "banned",
                    "Error. You are banned from #general")
    }

    func testLeaveIs204AndThenNotMember() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200)
        let left = h.call(.delete, "/api/rooms/general", headers: hans)
        XCTAssertEqual(left?.status, 204)
        XCTAssertEqual(left?.body, [])
        assertError(h.call(.delete, "/api/rooms/general", headers: hans), 404, "not_member", "Error. You are not in #general")
        assertError(h.call(.delete, "/api/rooms/nowhere", headers: hans), 404, "not_member")
        // The owner left: the room passed to its longest-standing member.
        XCTAssertEqual(body(h.call(.get, "/api/rooms", headers: luke)),
                       #"{"rooms":[{"room":"general","members":1,"owner":"luke"}]}"#)
    }

    func testSayReadAndAck() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200)
        let first = h.call(.post, "/api/rooms/general/messages", headers: hans, json: #"{"text":"one"}"#)
        XCTAssertEqual(first?.status, 201)
        let id = first.flatMap { RESTHarness.json($0)["id"]?.integerValue } ?? 0
        XCTAssertEqual(body(first), #"{"id":\#(id),"seq":1,"partial":false}"#)
        _ = say(h, hans, in: "general", ["two", "three"])

        let page = h.call(.get, "/api/rooms/general/messages", headers: luke)
        XCTAssertEqual(page?.status, 200)
        let json = page.map(RESTHarness.json)
        XCTAssertEqual(json?["room"]?.stringValue, "general")
        XCTAssertEqual(json?["last"]?.integerValue, 3)
        XCTAssertEqual(messages(page).compactMap { $0["seq"]?.integerValue }, [1, 2, 3])
        let expected: [String: JSONValue] = ["id": .number(Double(id)), "seq": .number(1), "from": .string("hans"),
                                             "text": .string("one"), "at": messages(page).first?["at"] ?? .null]
        XCTAssertEqual(messages(page).first, .object(expected))
        let limited = h.call(.get, "/api/rooms/general/messages?after=1&limit=1", headers: luke)
        XCTAssertEqual(messages(limited).compactMap { $0["text"]?.stringValue }, ["two"])
        XCTAssertEqual(limited.map(RESTHarness.json)?["last"]?.integerValue, 3)

        // The cursor moves only with an ack; the default page starts after it.
        XCTAssertEqual(h.call(.post, "/api/rooms/general/ack", headers: luke, json: #"{"seq":2}"#)?.status, 204)
        XCTAssertEqual(messages(h.call(.get, "/api/rooms/general/messages", headers: luke))
            .compactMap { $0["seq"]?.integerValue }, [3])
        XCTAssertEqual(h.call(.post, "/api/rooms/general/ack", headers: luke, json: #"{"seq":1}"#)?.status, 204,
                       "at or below the cursor: no change, still 204")
        assertError(h.call(.post, "/api/rooms/general/ack", headers: luke, json: #"{"seq":4}"#), 400, "bad_request",
                    "ack beyond #general: last seq is 3")
    }

    func testNonMembersAndMissingRoomsAreNotMember() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let yoda = h.bearer("yoda", "green")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        _ = say(h, hans, in: "general", ["one"])
        for room in ["general", "nowhere"] {
            assertError(h.call(.post, "/api/rooms/\(room)/messages", headers: yoda, json: #"{"text":"hi"}"#),
                        404, "not_member", "Error. You are not in #\(room)")
            assertError(h.call(.get, "/api/rooms/\(room)/messages", headers: yoda), 404, "not_member")
            assertError(h.call(.get, "/api/rooms/\(room)/messages?wait=30", headers: yoda), 404, "not_member")
            assertError(h.call(.post, "/api/rooms/\(room)/ack", headers: yoda, json: #"{"seq":0}"#), 404, "not_member")
            assertError(h.call(.get, "/api/rooms/\(room)/members", headers: yoda), 404, "not_member")
            assertError(h.call(.get, "/api/history?room=\(room)", headers: yoda), 404, "not_member")
        }
    }

    func testMembersListsEveryMemberAndWhoIsOnline() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: h.bearer("luke", "jedi"))?.status, 200)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: h.bearer("yoda", "green"))?.status, 200)
        _ = h.socketLogin("luke", "jedi")
        XCTAssertEqual(body(h.call(.get, "/api/rooms/general/members", headers: hans)),
                       #"{"users":["hans","luke","yoda"],"online":["luke"]}"#, "a REST caller is never online")
    }

    func testModeration() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200)
        // Only the owner; a room that does not exist has no owner to be.
        assertError(h.call(.delete, "/api/rooms/general/members/hans", headers: luke), 403, "not_owner",
                    "Error. Only the owner of #general can do that")
        assertError(h.call(.put, "/api/rooms/general/bans/yoda", headers: luke), 403, "not_owner")
        assertError(h.call(.delete, "/api/rooms/general/bans/yoda", headers: luke), 403, "not_owner")
        assertError(h.call(.delete, "/api/rooms/nowhere/members/luke", headers: hans), 403, "not_owner")
        for (method, target, message) in [(HTTPMethod.delete, "/api/rooms/general/members/hans", "Error. Cannot remove self"),
                                          (.put, "/api/rooms/general/bans/hans", "Error. Cannot ban self"),
                                          (.delete, "/api/rooms/general/bans/hans", "Error. Cannot unban self")] {
            assertError(h.call(method, target, headers: hans), 403, "self", message)
        }
        assertError(h.call(.delete, "/api/rooms/general/members/yoda", headers: hans), 404, "not_member",
                    "Error. yoda is not in #general")
        assertError(h.call(.delete, "/api/rooms/general/members/nobody", headers: hans), 404, "invalid_user")
        assertError(h.call(.put, "/api/rooms/general/bans/nobody", headers: hans), 404, "invalid_user")

        XCTAssertEqual(h.call(.delete, "/api/rooms/general/members/luke", headers: hans)?.status, 204)
        assertError(h.call(.get, "/api/rooms/general/members", headers: luke), 404, "not_member")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200, "a kick is no ban")
        // Ban removes; ban and unban are idempotent; a non-member may be banned ahead.
        XCTAssertEqual(h.call(.put, "/api/rooms/general/bans/luke", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.put, "/api/rooms/general/bans/luke", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.put, "/api/rooms/general/bans/yoda", headers: hans)?.status, 204)
        XCTAssertEqual(body(h.call(.get, "/api/rooms/general/members", headers: hans)), #"{"users":["hans"],"online":[]}"#)
        assertError(h.call(.put, "/api/rooms/general", headers: luke), 403, "banned")
        XCTAssertEqual(h.call(.delete, "/api/rooms/general/bans/luke", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.delete, "/api/rooms/general/bans/luke", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200)
    }

    func testHistoryPagesByIDNewestFirst() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        let ids = say(h, hans, in: "general", ["one", "two", "three"])
        let first = h.call(.get, "/api/history?room=general&limit=2", headers: hans)
        XCTAssertEqual(first?.status, 200)
        let json = first.map(RESTHarness.json)
        XCTAssertEqual(json?["room"]?.stringValue, "general")
        XCTAssertEqual(messages(first).compactMap { $0["text"]?.stringValue }, ["three", "two"])
        XCTAssertEqual(messages(first).compactMap { $0["seq"]?.integerValue }, [3, 2])
        XCTAssertEqual(json?["next"]?.integerValue, ids[1])
        let second = h.call(.get, "/api/history?room=general&limit=2&before=\(ids[1])", headers: hans)
        XCTAssertEqual(messages(second).compactMap { $0["text"]?.stringValue }, ["one"])
        XCTAssertEqual(second.map(RESTHarness.json)?["next"], .null)
        // A direct conversation and a room are different pages.
        assertError(h.call(.get, "/api/history?room=general&with=luke", headers: hans), 400, "bad_request")
        assertError(h.call(.get, "/api/history?room=", headers: hans), 400, "bad_request")
    }

    func testALongPollOnARoomIsAnsweredWhenAMemberSpeaks() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: hans)?.status, 201)
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 200)
        let poll = h.start(.get, "/api/rooms/general/messages?wait=30", headers: luke)
        h.settle()
        XCTAssertNil(poll.get(), "nothing to give yet: the poll waits")
        let speaker = h.socketLogin("hans", "falcon*solo")
        h.socketSend(speaker, #"{"type":"say","room":"general","text":"wake up","id":2}"#)
        guard let response = poll.get() else { return XCTFail("the message did not end the poll") }
        XCTAssertEqual(messages(response).compactMap { $0["text"]?.stringValue }, ["wake up"])
        XCTAssertEqual(RESTHarness.json(response)["last"]?.integerValue, 1)
    }

    func testALongPollOnARoomEndsEmptyAfterItsWaitOrWhenItsTokenIsRevoked() {
        let h = RESTHarness()
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/rooms/general", headers: luke)?.status, 201)
        let timed = h.start(.get, "/api/rooms/general/messages?wait=5", headers: luke)
        h.settle()
        h.clock.advance(seconds: 5)
        h.hub.sweep()
        h.settle()
        XCTAssertEqual(body(timed.get()), #"{"room":"general","messages":[],"last":0}"#)
        let revoked = h.start(.get, "/api/rooms/general/messages?wait=30", headers: luke)
        h.settle()
        XCTAssertNil(revoked.get())
        XCTAssertEqual(h.call(.post, "/api/logout", headers: luke)?.status, 204)
        h.settle()
        XCTAssertEqual(body(revoked.get()), #"{"room":"general","messages":[],"last":0}"#)
    }

    func testTheLimitsAre409AndCounted() {
        let h = RESTHarness { config in
            config.rooms.roomsPerUser = 1
            config.rooms.membersPerRoom = 1
        }
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/rooms/one", headers: hans)?.status, 201)
        assertError(h.call(.put, "/api/rooms/two", headers: hans), 409, "too_many_rooms")
        assertError(h.call(.put, "/api/rooms/one", headers: h.bearer("luke", "jedi")), 409, "room_full")
        let samples = RESTMetricsTests.samples(h.router.renderMetrics())
        XCTAssertEqual(samples[#"parley_room_joins_refused_total{code="room_full"}"#], 1)
        XCTAssertEqual(samples[#"parley_room_joins_refused_total{code="too_many_rooms"}"#], 1)
        _ = say(h, hans, in: "one", ["hi"])
        XCTAssertEqual(RESTMetricsTests.samples(h.router.renderMetrics())["parley_room_messages_total"], 1)
    }
}
