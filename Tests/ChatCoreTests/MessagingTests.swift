import XCTest
@testable import ChatCore

/// docs/PROTOCOL.md §4.3, §7: message, broadcast, offline delivery, history; error handling (§6).
final class MessagingTests: XCTestCase {
    private func threeUsers() -> HubHarness {
        HubHarness(accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder")])
    }

    func testMessageToAnOnlineUserIsDeliveredAfterTheCommit() {
        let h = threeUsers()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(hans)
        h.hub.receive(Array(#"{"type":"message","to":"luke","text":"hi there","id":3}"#.utf8), from: hans)
        XCTAssertEqual(h.events(hans), [], "no ok before the commit")
        XCTAssertEqual(h.events(luke), [], "no delivery before the commit")
        h.store.runPending()
        let ok = h.events(hans)[0]
        XCTAssertEqual(ok["type"]?.stringValue, "ok")
        XCTAssertEqual(ok["stored"], .bool(false))
        XCTAssertEqual(ok["re"]?.integerValue, 3)
        let m = h.events(luke)[0]
        XCTAssertEqual(m["type"]?.stringValue, "message")
        XCTAssertEqual(m["from"]?.stringValue, "hans")
        XCTAssertEqual(m["text"]?.stringValue, "hi there")
        XCTAssertEqual(m["id"], ok["id"])
        XCTAssertNil(m["offline"])
    }

    func testOfflineMessagesArriveAtNextLoginInOrderExactlyOnce() {
        let h = threeUsers()
        let hans = h.login("hans", "solo")
        for text in ["one", "two", "three"] {
            h.send(hans, #"{"type":"message","to":"luke","text":"\#(text)"}"#)
            XCTAssertEqual(h.events(hans).last?["stored"], .bool(true))
        }
        let luke = h.connect()
        h.send(luke, #"{"type":"login","user":"luke","password":"sky"}"#)
        let events = h.events(luke)
        XCTAssertEqual(events.map { $0["type"]?.stringValue }, ["welcome", "message", "message", "message"])
        XCTAssertEqual(events.dropFirst().map { $0["text"]?.stringValue }, ["one", "two", "three"])
        XCTAssertTrue(events.dropFirst().allSatisfy { $0["offline"] == .bool(true) })
        h.send(luke, #"{"type":"logout"}"#)
        let again = h.connect()
        h.send(again, #"{"type":"login","user":"luke","password":"sky"}"#)
        XCTAssertEqual(h.types(again), ["welcome"])
    }

    func testMessageErrors() {
        let h = threeUsers()
        let hans = h.login("hans", "solo")
        let luke = h.login("luke", "sky")
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        _ = h.events(hans)
        h.send(hans, #"{"type":"message","to":"hans","text":"me"}"#)
        h.send(hans, #"{"type":"message","to":"vader","text":"x"}"#)
        h.send(hans, #"{"type":"message","to":"luke","text":"x"}"#)
        let errors = h.events(hans).map { $0["code"]?.stringValue }
        XCTAssertEqual(errors, ["self", "invalid_user", "blocked"])
        // Blocked: nothing stored either.
        h.send(luke, #"{"type":"logout"}"#)
        let again = h.connect()
        h.send(again, #"{"type":"login","user":"luke","password":"sky"}"#)
        XCTAssertEqual(h.types(again), ["welcome"])
    }

    func testBroadcastSkipsSenderAndBlockersAndSaysPartial() {
        let h = threeUsers()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky"), leia = h.login("leia", "alder")
        h.send(hans, #"{"type":"broadcast","text":"all"}"#)
        XCTAssertEqual(h.events(hans).last?["partial"], .bool(false))
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, "all")
        XCTAssertEqual(h.events(leia).last?["type"]?.stringValue, "broadcast")
        h.send(leia, #"{"type":"block","user":"hans"}"#)
        _ = h.events(leia)
        h.send(hans, #"{"type":"broadcast","text":"again"}"#)
        XCTAssertEqual(h.events(hans).last?["partial"], .bool(true))
        XCTAssertEqual(h.types(luke), ["broadcast"])
        XCTAssertEqual(h.types(leia), [])
    }

    func testBroadcastsAreNeverStoredForOfflineUsers() {
        let h = threeUsers()
        let hans = h.login("hans", "solo")
        h.send(hans, #"{"type":"broadcast","text":"nobody home"}"#)
        let luke = h.connect()
        h.send(luke, #"{"type":"login","user":"luke","password":"sky"}"#)
        XCTAssertEqual(h.types(luke), ["welcome"])
    }

    func testHistoryPagesNewestFirstAndShowsOnlyOwnMessages() {
        let h = threeUsers()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky"), leia = h.login("leia", "alder")
        for i in 1...5 { h.send(hans, #"{"type":"message","to":"luke","text":"m\#(i)"}"#) }
        h.send(leia, #"{"type":"message","to":"luke","text":"secret"}"#)
        _ = h.events(hans)
        h.send(hans, #"{"type":"history","with":"luke","limit":2}"#)
        let page1 = h.events(hans)[0]
        let texts1 = page1["messages"].flatMap { v -> [String]? in
            if case .array(let items) = v { return items.compactMap { $0["text"]?.stringValue } }
            return nil
        }
        XCTAssertEqual(texts1, ["m5", "m4"])
        let next = page1["next"]!.integerValue!
        h.send(hans, #"{"type":"history","with":"luke","limit":10,"before":\#(next)}"#)
        let page2 = h.events(hans)[0]
        if case .array(let items) = page2["messages"]! {
            XCTAssertEqual(items.compactMap { $0["text"]?.stringValue }, ["m3", "m2", "m1"])
        } else { XCTFail("messages is not an array") }
        XCTAssertEqual(page2["next"], .null)
        h.send(hans, #"{"type":"history"}"#)
        if case .array(let items) = h.events(hans)[0]["messages"]! {
            XCTAssertFalse(items.contains { $0["text"]?.stringValue == "secret" })
        }
        h.send(hans, #"{"type":"history","with":"vader"}"#)
        XCTAssertEqual(h.events(hans)[0]["code"]?.stringValue, "invalid_user")
        _ = h.events(luke)
    }

    func testBadInputGetsBadRequestAndTheConnectionStaysUsable() {
        let h = threeUsers()
        let hans = h.login("hans", "solo")
        for bad in ["{nope", "[1,2]", #"{"type":"message","to":"luke"}"#, #"{"type":"whoelsesince","seconds":-1}"#,
                    #"{"type":"teleport"}"#, #"{"type":"message","to":"luke","text":5,"id":"x"}"#] {
            h.send(hans, bad)
            let e = h.events(hans)
            XCTAssertEqual(e.count, 1, bad)
            XCTAssertEqual(e.first?["code"]?.stringValue, "bad_request", bad)
        }
        h.send(hans, #"{"type":"whoelse","id":"still-here"}"#)
        XCTAssertEqual(h.events(hans).first?["re"]?.stringValue, "still-here")
        XCTAssertFalse(h.output.isDisconnected(hans))
    }

    func testMessageCommittedWhileTheRecipientIsLoggingInIsDeliveredOnce() {
        let h = threeUsers()
        let hans = h.login("hans", "solo")
        let luke = h.connect()
        // Luke's password check finishes, his offline fetch is queued; Hans's message is committed meanwhile.
        h.hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: luke)
        h.hasher.runPending()
        h.hub.receive(Array(#"{"type":"message","to":"luke","text":"race"}"#.utf8), from: hans)
        h.settle()
        let events = h.events(luke)
        XCTAssertEqual(events.filter { $0["text"]?.stringValue == "race" }.count, 1)
        XCTAssertEqual(events.first?["type"]?.stringValue, "welcome")
    }

    /// The protocol has no text limit of its own: a request that fits the 64 KiB line limit is accepted whatever
    /// its text's share of it (the gateway refuses one byte more as a line over the limit, below).
    func testAMessageRequestOfExactly64KiBIsAcceptedAndDelivered() {
        let h = threeUsers()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(luke)
        let head = #"{"type":"message","id":"big","to":"luke","text":""#
        let text = String(repeating: "x", count: 65_536 - head.utf8.count - 2)
        let line = head + text + #""}"#
        XCTAssertEqual(line.utf8.count, 65_536)
        h.send(hans, line)
        let reply = h.events(hans).last
        XCTAssertEqual(reply?["type"]?.stringValue, "ok")
        XCTAssertEqual(reply?["re"]?.stringValue, "big")
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, text)
    }

    func testLineTooLongSendsTooLargeAndCloses() {
        let h = threeUsers()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(luke)
        h.hub.lineTooLong(from: hans)
        XCTAssertEqual(h.events(hans).last?["code"]?.stringValue, "too_large")
        XCTAssertTrue(h.output.isDisconnected(hans))
        XCTAssertEqual(h.events(luke).last?["state"]?.stringValue, "out")
    }
}
