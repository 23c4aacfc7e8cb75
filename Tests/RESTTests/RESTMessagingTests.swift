import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// Messages, broadcasts, history, presence lists and blocks over REST: the socket doors' rules exactly.
final class RESTMessagingTests: XCTestCase {
    func testAMessageReachesAnOnlineSocketUserAtOnce() {
        let h = RESTHarness()
        let luke = h.socketLogin("luke", "jedi")
        _ = h.events(luke)
        let response = h.call(.post, "/api/messages", headers: h.bearer("hans", "falcon*solo"),
                              json: #"{"to":"luke","text":"hello from curl"}"#)
        XCTAssertEqual(response?.status, 201)
        let body = response.map(RESTHarness.json)
        XCTAssertEqual(body?["stored"]?.boolValue, false)
        let event = h.events(luke).first
        XCTAssertEqual(event?["type"]?.stringValue, "message")
        XCTAssertEqual(event?["from"]?.stringValue, "hans")
        XCTAssertEqual(event?["text"]?.stringValue, "hello from curl")
        XCTAssertEqual(event?["id"]?.integerValue, body?["id"]?.integerValue)
    }

    func testAMessageToAnOfflineUserIsStoredAndDeliveredAtLogin() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        for text in ["one", "two"] {
            let response = h.call(.post, "/api/messages", headers: auth, json: #"{"to":"luke","text":"\#(text)"}"#)
            XCTAssertEqual(response.map(RESTHarness.json)?["stored"]?.boolValue, true)
        }
        let luke = h.connect()
        h.socketSend(luke, #"{"type":"login","user":"luke","password":"jedi"}"#)
        let events = h.events(luke)
        XCTAssertEqual(events.map { $0["type"]?.stringValue }, ["welcome", "message", "message"])
        XCTAssertEqual(events.dropFirst().map { $0["text"]?.stringValue }, ["one", "two"])
        XCTAssertEqual(events.dropFirst().map { $0["offline"]?.boolValue }, [true, true])
    }

    func testMessageErrorsMatchTheSocketDoors() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let toSelf = h.call(.post, "/api/messages", headers: hans, json: #"{"to":"hans","text":"hi"}"#)
        XCTAssertEqual(toSelf?.status, 403)
        XCTAssertEqual(RESTHarness.errorCode(toSelf), "self")
        let unknown = h.call(.post, "/api/messages", headers: hans, json: #"{"to":"vader","text":"hi"}"#)
        XCTAssertEqual(unknown?.status, 404)
        XCTAssertEqual(RESTHarness.errorCode(unknown), "invalid_user")

        let luke = h.bearer("luke", "jedi")
        XCTAssertEqual(h.call(.put, "/api/blocks/hans", headers: luke)?.status, 204)
        let blocked = h.call(.post, "/api/messages", headers: hans, json: #"{"to":"luke","text":"hi"}"#)
        XCTAssertEqual(blocked?.status, 403)
        XCTAssertEqual(RESTHarness.errorCode(blocked), "blocked")
        XCTAssertEqual(blocked.map(RESTHarness.json)?["error"]?["message"]?.stringValue, Texts.recipientBlockedYou)
        // Nothing was stored for luke.
        let history = h.call(.get, "/api/history", headers: luke)
        XCTAssertEqual(history.map(RESTHarness.json)?["messages"], .array([]))
    }

    func testBroadcastReachesOnlineUsersAndReportsPartial() {
        let h = RESTHarness()
        let luke = h.socketLogin("luke", "jedi")
        let yoda = h.socketLogin("yoda", "green")
        _ = h.events(luke)
        let hans = h.bearer("hans", "falcon*solo")
        let first = h.call(.post, "/api/broadcasts", headers: hans, json: #"{"text":"all hands"}"#)
        XCTAssertEqual(first?.status, 201)
        XCTAssertEqual(first.map(RESTHarness.json)?["partial"]?.boolValue, false)
        XCTAssertEqual(h.events(luke).first?["text"]?.stringValue, "all hands")
        XCTAssertEqual(h.events(yoda).last?["type"]?.stringValue, "broadcast")

        h.socketSend(yoda, #"{"type":"block","user":"hans"}"#)
        _ = h.events(yoda)
        let second = h.call(.post, "/api/broadcasts", headers: hans, json: #"{"text":"again"}"#)
        XCTAssertEqual(second.map(RESTHarness.json)?["partial"]?.boolValue, true)
        XCTAssertEqual(h.events(luke).count, 1)
        XCTAssertEqual(h.events(yoda).count, 0)
    }

    func testHistoryPagesNewestFirstAndIsOnlyTheCallersOwn() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let luke = h.bearer("luke", "jedi")
        var ids: [Int64] = []
        for i in 1...5 {
            let r = h.call(.post, "/api/messages", headers: i % 2 == 0 ? luke : hans,
                           json: i % 2 == 0 ? #"{"to":"hans","text":"m\#(i)"}"# : #"{"to":"luke","text":"m\#(i)"}"#)
            ids.append(r.map(RESTHarness.json)?["id"]?.integerValue ?? 0)
        }
        // A conversation hans is not part of.
        let yoda = h.bearer("yoda", "green")
        h.call(.post, "/api/messages", headers: yoda, json: #"{"to":"luke","text":"secret"}"#)

        var texts: [String] = []
        var target = "/api/history?with=luke&limit=2"
        var pages = 0
        while pages < 10 {
            let page = h.call(.get, target, headers: hans).map(RESTHarness.json)
            guard case .array(let messages)? = page?["messages"] else { return XCTFail("no messages array") }
            XCTAssertLessThanOrEqual(messages.count, 2)
            texts += messages.compactMap { $0["text"]?.stringValue }
            pages += 1
            guard let next = page?["next"]?.integerValue else {
                XCTAssertEqual(page?["next"], .null)
                break
            }
            target = "/api/history?with=luke&limit=2&before=\(next)"
        }
        XCTAssertEqual(texts, ["m5", "m4", "m3", "m2", "m1"])
        XCTAssertEqual(pages, 3)

        // Without `with`: everyone the caller talked to, never anyone else's messages.
        let all = h.call(.get, "/api/history", headers: hans).map(RESTHarness.json)
        guard case .array(let everything)? = all?["messages"] else { return XCTFail("no messages array") }
        XCTAssertEqual(everything.count, 5)
        XCTAssertFalse(everything.contains { $0["text"]?.stringValue == "secret" })
        let first = everything.first
        XCTAssertEqual(first?["id"]?.integerValue, ids.last)
        XCTAssertEqual(first?["from"]?.stringValue, "hans")
        XCTAssertEqual(first?["to"]?.stringValue, "luke")
        XCTAssertNotNil(first?["at"]?.integerValue)
        let lukes = h.call(.get, "/api/history?with=yoda", headers: luke).map(RESTHarness.json)
        XCTAssertEqual(lukes?["messages"]?.arrayCount, 1)
        XCTAssertEqual(h.call(.get, "/api/history?with=yoda", headers: hans).map(RESTHarness.json)?["messages"]?.arrayCount, 0)
    }

    func testHistoryQueryValidation() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        let unknown = h.call(.get, "/api/history?with=vader", headers: hans)
        XCTAssertEqual(unknown?.status, 404)
        XCTAssertEqual(RESTHarness.errorCode(unknown), "invalid_user")
        for query in ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=", "before=0", "before=1.5",
                      "before=9007199254740992", "before=99999999999999999999999", "with=", "with=luke&with=yoda",
                      "limit=1&limit=2", "=x", "limit=5&=%C2%9C"] {
            let response = h.call(.get, "/api/history?\(query)", headers: hans)
            XCTAssertEqual(response?.status, 400, query)
        }
        for query in ["limit=200", "limit=1", "before=9007199254740991", "with=luke", "unknown=1", "", "&&"] {
            XCTAssertEqual(h.call(.get, "/api/history?\(query)", headers: hans)?.status, 200, query)
        }
    }

    func testWhoElseAndWhoElseSince() {
        let h = RESTHarness()
        let luke = h.socketLogin("luke", "jedi")
        h.socketLogin("yoda", "green")
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: hans).map { String(decoding: $0.body, as: UTF8.self) },
                       #"{"users":["luke","yoda"]}"#)
        h.socketSend(luke, #"{"type":"logout"}"#)
        h.clock.advance(seconds: 30)
        let recent = h.call(.get, "/api/whoelsesince?seconds=60", headers: hans).map(RESTHarness.json)
        XCTAssertEqual(recent?["users"], .array([.string("luke"), .string("yoda")]))
        let now = h.call(.get, "/api/whoelsesince?seconds=10", headers: hans).map(RESTHarness.json)
        XCTAssertEqual(now?["users"], .array([.string("yoda")]))
        XCTAssertEqual(h.call(.get, "/api/whoelsesince?seconds=2147483647", headers: hans)?.status, 200)
        for query in ["", "?seconds=", "?seconds=-1", "?seconds=x", "?seconds=1e3", "?seconds=2147483648",
                      "?seconds=1&seconds=2"] {
            XCTAssertEqual(h.call(.get, "/api/whoelsesince\(query)", headers: hans)?.status, 400, query)
        }
        // Yoda blocks hans: hans no longer sees yoda.
        XCTAssertEqual(h.call(.put, "/api/blocks/hans", headers: h.bearer("yoda", "green"))?.status, 204)
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: hans).map(RESTHarness.json)?["users"], .array([]))
    }

    func testRESTCallersAreNeverOnlineAndResetNoIdleTimer() {
        let h = RESTHarness(timeoutSeconds: 30)
        let luke = h.socketLogin("luke", "jedi")
        _ = h.events(luke)
        let hans = h.bearer("hans", "falcon*solo")
        h.call(.get, "/api/whoelse", headers: hans)
        // No presence event for a REST caller, and luke's whoelse does not list hans.
        XCTAssertEqual(h.events(luke).count, 0)
        h.socketSend(luke, #"{"type":"whoelse","id":1}"#)
        XCTAssertEqual(h.events(luke).first?["users"], .array([]))
        // A REST call by luke (with his welcome token's owner's password) does not count as activity.
        h.clock.advance(seconds: 20)
        h.call(.get, "/api/whoelse", headers: RESTHarness.basic("luke", "jedi"))
        h.clock.advance(seconds: 10)
        h.hub.sweep()
        XCTAssertEqual(h.events(luke).last?["type"]?.stringValue, "timeout")
    }

    func testBlockLifecycle() {
        let h = RESTHarness()
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/blocks/luke", headers: hans)?.status, 204)
        let again = h.call(.put, "/api/blocks/luke", headers: hans)
        XCTAssertEqual(again?.status, 409)
        XCTAssertEqual(RESTHarness.errorCode(again), "already_blocked")
        XCTAssertEqual(h.call(.put, "/api/blocks/yoda", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: hans).map { String(decoding: $0.body, as: UTF8.self) },
                       #"{"users":["luke","yoda"]}"#)
        XCTAssertEqual(h.call(.delete, "/api/blocks/luke", headers: hans)?.status, 204)
        let notBlocked = h.call(.delete, "/api/blocks/luke", headers: hans)
        XCTAssertEqual(notBlocked?.status, 404)
        XCTAssertEqual(RESTHarness.errorCode(notBlocked), "not_blocked")
        for method in [HTTPMethod.put, .delete] {
            let selfBlock = h.call(method, "/api/blocks/hans", headers: hans)
            XCTAssertEqual(selfBlock?.status, 403)
            XCTAssertEqual(RESTHarness.errorCode(selfBlock), "self")
            let unknown = h.call(method, "/api/blocks/vader", headers: hans)
            XCTAssertEqual(unknown?.status, 404)
            XCTAssertEqual(RESTHarness.errorCode(unknown), "invalid_user")
        }
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: hans).map { String(decoding: $0.body, as: UTF8.self) },
                       #"{"users":["yoda"]}"#)
    }

    func testNamesWithPunctuationRoundTripThroughThePathAndQuery() {
        let name = "a+b/c?d%e"
        let h = RESTHarness(accounts: [("hans", "pw"), (name, "pw")])
        let hans = h.bearer("hans", "pw")
        let encoded = "a%2Bb%2Fc%3Fd%25e"
        XCTAssertEqual(h.call(.put, "/api/blocks/\(encoded)", headers: hans)?.status, 204)
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: hans).map(RESTHarness.json)?["users"], .array([.string(name)]))
        XCTAssertEqual(h.call(.get, "/api/history?with=\(encoded)", headers: hans)?.status, 200)
        // In a path `+` is itself; in a query it is a space, so it must be escaped there.
        XCTAssertEqual(h.call(.get, "/api/history?with=a+b%2Fc%3Fd%25e", headers: hans)?.status, 404)
    }
}

private extension JSONValue {
    var arrayCount: Int? {
        if case .array(let items) = self { return items.count }
        return nil
    }
}
