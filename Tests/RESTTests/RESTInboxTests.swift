import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// `GET /api/inbox` and `POST /api/inbox/ack` (docs/PROTOCOL.md §10): pages by seq, the acknowledged cursor, long
/// polls answered later without holding anything, and the router's refusals.
final class RESTInboxTests: XCTestCase {
    private func send(_ h: RESTHarness, _ auth: [(String, String)], to user: String, _ texts: [String]) -> [Int64] {
        texts.compactMap { text in
            let response = h.call(.post, "/api/messages", headers: auth, json: #"{"to":"\#(user)","text":"\#(text)"}"#)
            XCTAssertEqual(response?.status, 201)
            return response.flatMap { RESTHarness.json($0)["id"]?.integerValue }
        }
    }

    private func page(_ response: HTTPResponse?, file: StaticString = #filePath, line: UInt = #line)
        -> (seqs: [Int64], texts: [String], last: Int64?) {
        XCTAssertEqual(response?.status, 200, file: file, line: line)
        XCTAssertEqual(response?.headers["Content-Type"], "application/json", file: file, line: line)
        let body = response.map(RESTHarness.json) ?? .null
        guard case .array(let messages)? = body["messages"] else {
            XCTFail("no messages array", file: file, line: line)
            return ([], [], nil)
        }
        return (messages.compactMap { $0["seq"]?.integerValue }, messages.compactMap { $0["text"]?.stringValue },
                body["last"]?.integerValue)
    }

    private static func messages(_ body: JSONValue) -> [JSONValue] {
        if case .array(let items)? = body["messages"] { return items }
        return []
    }

    func testAnEmptyInboxIsAnEmptyPageWithLastZero() {
        let h = RESTHarness()
        let response = h.call(.get, "/api/inbox", headers: h.bearer("luke", "jedi"))
        XCTAssertEqual(response.map { String(decoding: $0.body, as: UTF8.self) }, #"{"messages":[],"last":0}"#)
    }

    func testMessagesArePagedBySeqOldestFirstWithoutTheRecipient() {
        let h = RESTHarness()
        let ids = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["one", "two", "three"])
        let luke = h.bearer("luke", "jedi")
        let all = h.call(.get, "/api/inbox", headers: luke)
        XCTAssertEqual(page(all).seqs, [1, 2, 3])
        XCTAssertEqual(page(all).texts, ["one", "two", "three"])
        XCTAssertEqual(page(all).last, 3)
        let first = all.flatMap { Self.messages(RESTHarness.json($0)).first }
        let expected: [String: JSONValue] = ["id": .number(Double(ids[0])), "seq": .number(1), "from": .string("hans"),
                                             "text": .string("one"), "at": first?["at"] ?? .null]
        XCTAssertEqual(first, .object(expected), "no `to`: the recipient is the caller")
        XCTAssertEqual(page(h.call(.get, "/api/inbox?after=1", headers: luke)).seqs, [2, 3])
        let limited = page(h.call(.get, "/api/inbox?after=0&limit=2", headers: luke))
        XCTAssertEqual(limited.seqs, [1, 2])
        XCTAssertEqual(limited.last, 3, "last is the inbox's newest seq, not the page's")
        XCTAssertEqual(page(h.call(.get, "/api/inbox?after=3&wait=0", headers: luke)).seqs, [])
        // Reading moves nothing: the same page again.
        XCTAssertEqual(page(h.call(.get, "/api/inbox", headers: luke)).seqs, [1, 2, 3])
        // Each user's inbox is their own, numbered from 1.
        _ = send(h, luke, to: "yoda", ["hi"])
        XCTAssertEqual(page(h.call(.get, "/api/inbox", headers: h.bearer("yoda", "green"))).seqs, [1])
    }

    func testAnAckMovesTheDefaultPageAndIsShared() {
        let h = RESTHarness()
        _ = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["one", "two", "three"])
        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.post, "/api/inbox/ack", headers: luke, json: #"{"seq":2}"#)?.status, 204)
        XCTAssertEqual(page(h.call(.get, "/api/inbox", headers: luke)).seqs, [3])
        // At or below the cursor: a no-op, still 204.
        XCTAssertEqual(h.call(.post, "/api/inbox/ack", headers: luke, json: #"{"seq":1}"#)?.status, 204)
        XCTAssertEqual(h.call(.post, "/api/inbox/ack", headers: luke, json: #"{"seq":0}"#)?.status, 204)
        XCTAssertEqual(page(h.call(.get, "/api/inbox", headers: luke)).seqs, [3])
        // Basic credentials read the same inbox and cursor.
        XCTAssertEqual(page(h.call(.get, "/api/inbox", headers: RESTHarness.basic("luke", "jedi"))).seqs, [3])
        // The cursor is the user's: an acking socket login replays only what is above it.
        let socket = h.connect()
        h.socketSend(socket, #"{"type":"login","user":"luke","password":"jedi","acks":true}"#)
        let events = h.events(socket)
        XCTAssertEqual(events.map { $0["type"]?.stringValue }, ["welcome", "message"])
        XCTAssertEqual(events.last?["seq"]?.integerValue, 3)
        XCTAssertEqual(events.last?["offline"]?.boolValue, true)
    }

    func testAnAckBeyondTheInboxIs400() {
        let h = RESTHarness()
        _ = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["one"])
        let response = h.call(.post, "/api/inbox/ack", headers: h.bearer("luke", "jedi"), json: #"{"seq":2}"#)
        XCTAssertEqual(response?.status, 400)
        XCTAssertEqual(RESTHarness.errorCode(response), "bad_request")
        XCTAssertEqual(response.map(RESTHarness.json)?["error"]?["message"]?.stringValue,
                       "ack beyond the inbox: last seq is 1")
    }

    func testTheRouterRefusesBadInput() {
        let h = RESTHarness()
        let luke = h.bearer("luke", "jedi")
        for query in ["limit=0", "limit=201", "limit=x", "wait=61", "wait=-1", "wait=1.5", "after=-1", "after=",
                      "after=9007199254740992", "limit=1&limit=2", "after=%ZZ"] {
            let response = h.call(.get, "/api/inbox?\(query)", headers: luke)
            XCTAssertEqual(response?.status, 400, query)
            XCTAssertEqual(RESTHarness.errorCode(response), "bad_request", query)
        }
        for body in ["{}", #"{"seq":null}"#, #"{"seq":"1"}"#, #"{"seq":-1}"#, #"{"seq":1.5}"#, #"{"seq":true}"#,
                     #"{"seq":9007199254740992}"#, "[1]", "{"] {
            let response = h.call(.post, "/api/inbox/ack", headers: luke, json: body)
            XCTAssertEqual(response?.status, 400, body)
            XCTAssertEqual(RESTHarness.errorCode(response), "bad_request", body)
        }
        let notJSON = h.call(.post, "/api/inbox/ack", headers: luke + [("Content-Type", "text/plain")], json: #"{"seq":0}"#)
        XCTAssertEqual(notJSON?.status, 415)
        for (method, target) in [(HTTPMethod.get, "/api/inbox"), (.post, "/api/inbox/ack")] {
            let response = h.call(method, target, json: method == .post ? #"{"seq":0}"# : nil)
            XCTAssertEqual(response?.status, 401, target)
            XCTAssertNotNil(response?.headers["WWW-Authenticate"], target)
        }
        // A stranger learns nothing about the query: 401 before 400.
        XCTAssertEqual(h.call(.get, "/api/inbox?limit=0")?.status, 401)
    }

    func testALongPollIsAnsweredWhenAMessageArrives() {
        let h = RESTHarness()
        let luke = h.bearer("luke", "jedi")
        let poll = h.start(.get, "/api/inbox?wait=30", headers: luke)
        h.settle()
        XCTAssertNil(poll.get(), "nothing to give yet: the poll waits")
        let ids = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["wake up"])
        h.settle()
        guard let response = poll.get() else { return XCTFail("the message did not end the poll") }
        XCTAssertEqual(page(response).seqs, [1])
        XCTAssertEqual(Self.messages(RESTHarness.json(response)).first?["id"]?.integerValue, ids.first)
    }

    func testALongPollEndsWithAnEmptyPageWhenItsWaitIsOver() {
        let h = RESTHarness()
        _ = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["already read"])
        let poll = h.start(.get, "/api/inbox?after=1&wait=5", headers: h.bearer("luke", "jedi"))
        h.clock.advance(seconds: 4.9)
        h.hub.sweep()
        h.settle()
        XCTAssertNil(poll.get(), "the wait is not over")
        h.clock.advance(seconds: 0.1)
        h.hub.sweep()
        h.settle()
        guard let response = poll.get() else { return XCTFail("the wait ended without an answer") }
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), #"{"messages":[],"last":1}"#)
    }

    func testALongPollWithSomethingToGiveAnswersAtOnce() {
        let h = RESTHarness()
        _ = send(h, h.bearer("hans", "falcon*solo"), to: "luke", ["already here"])
        XCTAssertEqual(page(h.call(.get, "/api/inbox?wait=60", headers: h.bearer("luke", "jedi"))).seqs, [1])
    }

    func testALongPollEndsEarlyWhenItsTokenIsRevoked() {
        let h = RESTHarness()
        let luke = h.bearer("luke", "jedi")
        let poll = h.start(.get, "/api/inbox?wait=30", headers: luke)
        h.settle()
        XCTAssertNil(poll.get())
        XCTAssertEqual(h.call(.post, "/api/logout", headers: luke)?.status, 204)
        h.settle()
        guard let response = poll.get() else { return XCTFail("revoking the token did not end the poll") }
        XCTAssertEqual(page(response).seqs, [])
        XCTAssertEqual(page(response).last, 0)
    }

    func testAPollingReaderIsNotOnline() {
        let h = RESTHarness()
        let hans = h.socketLogin("hans", "falcon*solo")
        _ = h.events(hans)
        _ = h.start(.get, "/api/inbox?wait=30", headers: h.bearer("luke", "jedi"))
        h.settle()
        XCTAssertEqual(h.events(hans), [], "no presence for a REST reader")
        h.socketSend(hans, #"{"type":"whoelse","id":1}"#)
        XCTAssertEqual(h.events(hans).first?["users"], .array([]))
    }
}
