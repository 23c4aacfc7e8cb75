import XCTest
@testable import ChatCore

/// docs/PROTOCOL.md §4.3, §7: presence, whoelse, whoelsesince, block, unblock, idle timeout, logout.
final class SocialTests: XCTestCase {
    private func harness(timeout: Int64 = 30) -> HubHarness {
        HubHarness(timeoutSeconds: timeout, accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder"), ("vader", "dark")])
    }

    private func users(_ h: HubHarness, _ c: ClientID) -> [String] {
        guard case .array(let items)? = h.events(c).last?["users"] else { return ["<no users reply>"] }
        return items.compactMap(\.stringValue)
    }

    func testPresenceIsAnnouncedAndFilteredByTheBlocker() {
        let h = harness()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        XCTAssertEqual(h.events(hans).last?["user"]?.stringValue, "luke")
        // luke blocks hans: hans hears nothing about luke any more; luke still hears about hans.
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        h.send(luke, #"{"type":"logout"}"#)
        XCTAssertEqual(h.types(hans), [])
        let luke2 = h.login("luke", "sky")
        XCTAssertEqual(h.types(hans), [])
        h.send(hans, #"{"type":"logout"}"#)
        XCTAssertEqual(h.events(luke2).last?["state"]?.stringValue, "out")
    }

    func testLogoutSaysByeClosesAndTellsOthers() {
        let h = harness()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(hans)
        h.send(luke, #"{"type":"logout"}"#)
        XCTAssertEqual(h.types(luke), ["bye"])
        XCTAssertTrue(h.output.isDisconnected(luke))
        let out = h.events(hans)
        XCTAssertEqual(out.last?["user"]?.stringValue, "luke")
        XCTAssertEqual(out.last?["state"]?.stringValue, "out")
    }

    func testWhoelseLeavesOutSelfAndBlockers() {
        let h = harness()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky"), _ = h.login("leia", "alder")
        h.send(hans, #"{"type":"whoelse"}"#)
        XCTAssertEqual(users(h, hans), ["leia", "luke"])
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        h.send(hans, #"{"type":"whoelse"}"#)
        XCTAssertEqual(users(h, hans), ["leia"])
    }

    func testWhoelsesinceCountsAnyoneOnlineDuringTheWindow() {
        let h = harness(timeout: 10_000)
        let hans = h.login("hans", "solo")
        let vader = h.login("vader", "dark")   // online long before the window…
        h.clock.advance(seconds: 100)
        h.send(vader, #"{"type":"logout"}"#)   // …and out 20 s before the question: still counts
        let luke = h.login("luke", "sky")
        h.send(luke, #"{"type":"logout"}"#)
        h.clock.advance(seconds: 20)
        h.send(hans, #"{"type":"whoelsesince","seconds":30}"#)
        XCTAssertEqual(users(h, hans), ["luke", "vader"])
        h.send(hans, #"{"type":"whoelsesince","seconds":10}"#)
        XCTAssertEqual(users(h, hans), [])
        _ = h.login("leia", "alder")
        h.send(hans, #"{"type":"whoelsesince","seconds":0}"#)
        XCTAssertEqual(users(h, hans), ["leia"])
    }

    func testBlockAndUnblockErrorsAndEffects() {
        let h = harness()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(hans)
        h.send(luke, #"{"type":"block","user":"luke"}"#)
        h.send(luke, #"{"type":"block","user":"ghost"}"#)
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        h.send(luke, #"{"type":"unblock","user":"leia"}"#)
        h.send(luke, #"{"type":"unblock","user":"luke"}"#)
        let replies = h.events(luke).map { $0["code"]?.stringValue ?? $0["type"]!.stringValue! }
        XCTAssertEqual(replies, ["self", "invalid_user", "ok", "already_blocked", "not_blocked", "self"])
        XCTAssertEqual(h.types(hans), [], "the blocked user is not told")
        h.send(hans, #"{"type":"message","to":"luke","text":"x"}"#)
        XCTAssertEqual(h.events(hans).last?["code"]?.stringValue, "blocked")
        h.send(luke, #"{"type":"unblock","user":"hans"}"#)
        h.send(hans, #"{"type":"message","to":"luke","text":"back"}"#)
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, "back")
        XCTAssertEqual(h.hub.blockedUsers(of: "luke"), [])
    }

    func testIdleTimeoutLogsOutAndOnlyValidCommandsCount() {
        let h = harness(timeout: 10)
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        _ = h.events(hans)
        h.clock.advance(seconds: 6)
        h.send(luke, #"{"type":"whatsthetime"}"#)                      // invalid: not activity
        h.send(hans, #"{"type":"message","to":"ghost","text":"x"}"#)   // valid though it fails: activity
        h.clock.advance(seconds: 4)
        h.hub.sweep()
        XCTAssertEqual(h.types(luke).last, "timeout")
        XCTAssertTrue(h.output.isDisconnected(luke))
        XCTAssertFalse(h.output.isDisconnected(hans))
        XCTAssertEqual(h.events(hans).last?["state"]?.stringValue, "out")
        h.clock.advance(seconds: 6)
        h.hub.sweep()
        XCTAssertTrue(h.output.isDisconnected(hans))
        XCTAssertEqual(h.hub.metricsSnapshot().idleLogouts, 2)
    }

    func testReceivedMessagesAreNotActivity() {
        let h = harness(timeout: 10)
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        h.clock.advance(seconds: 9)
        h.send(hans, #"{"type":"message","to":"luke","text":"keep talking"}"#)
        h.clock.advance(seconds: 1)
        h.hub.sweep()
        XCTAssertTrue(h.output.isDisconnected(luke))
        XCTAssertFalse(h.output.isDisconnected(hans))
    }
}
