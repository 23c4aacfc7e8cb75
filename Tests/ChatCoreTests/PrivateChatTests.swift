import XCTest
@testable import ChatCore

/// Private chat (docs/PROTOCOL.md §9): the hub's part (checks, consent, tokens, expiry, signal relay).
final class PrivateChatTests: XCTestCase {
    private func harness() -> HubHarness {
        HubHarness(accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder")])
    }

    func testChecksInOrderAndTheTargetIsNeverAsked() {
        let h = harness()
        let hans = h.login("hans", "solo", p2pPort: 40001)
        let luke = h.login("luke", "sky", p2pPort: 40002)
        let leia = h.login("leia", "alder")  // no direct connections
        _ = h.events(hans); _ = h.events(luke)
        for target in ["hans", "ghost"] { h.send(hans, #"{"type":"startprivate","user":"\#(target)"}"#) }
        h.send(luke, #"{"type":"block","user":"hans"}"#)
        h.send(hans, #"{"type":"startprivate","user":"luke"}"#)
        h.send(hans, #"{"type":"startprivate","user":"leia"}"#)
        let errors = h.events(hans)
        XCTAssertEqual(errors.map { $0["code"]?.stringValue }, ["self", "invalid_user", "blocked", "no_p2p"])
        XCTAssertEqual(errors[2]["message"]?.stringValue, Texts.hasBlockedYou("luke"))
        XCTAssertEqual(errors[3]["message"]?.stringValue, Texts.privateImpossible("leia"))
        XCTAssertFalse(h.types(luke).contains("private_request"))
        XCTAssertEqual(h.types(leia).filter { $0 == "private_request" }, [])
        h.send(luke, #"{"type":"logout"}"#)
        h.send(hans, #"{"type":"startprivate","user":"luke"}"#)
        XCTAssertEqual(h.events(hans).last?["message"]?.stringValue, Texts.userOffline("luke"))
    }

    func testAcceptHandsTheSameTokenToBothPendingFirst() {
        let h = harness()
        let hans = h.login("hans", "solo", p2pPort: 40001)
        let luke = h.login("luke", "sky", p2pPort: 40002)
        _ = h.events(hans)
        h.send(hans, #"{"type":"startprivate","user":"luke"}"#)
        XCTAssertEqual(h.types(hans), ["ok"])
        XCTAssertEqual(h.events(luke).last?["from"]?.stringValue, "hans")
        h.send(luke, #"{"type":"privatereply","user":"hans","accept":true}"#)
        let lukeSide = h.events(luke)
        XCTAssertEqual(lukeSide.map { $0["type"]?.stringValue }, ["ok", "private_pending"])
        let accepted = h.events(hans).last!
        XCTAssertEqual(accepted["type"]?.stringValue, "private_accepted")
        XCTAssertEqual(accepted["port"]?.integerValue, 40002)
        XCTAssertEqual(accepted["host"]?.stringValue, "127.0.0.1")
        XCTAssertEqual(accepted["token"], lukeSide[1]["token"])
        h.send(luke, #"{"type":"privatereply","user":"hans","accept":true}"#)
        XCTAssertEqual(h.events(luke).last?["code"]?.stringValue, "no_request")
    }

    func testDeclineAndExpiry() {
        let h = harness()
        let hans = h.login("hans", "solo", p2pPort: 40001)
        let luke = h.login("luke", "sky", p2pPort: 40002)
        h.send(hans, #"{"type":"startprivate","user":"luke"}"#)
        h.send(luke, #"{"type":"privatereply","user":"hans","accept":false}"#)
        XCTAssertEqual(h.events(hans).last?["type"]?.stringValue, "private_declined")
        h.send(hans, #"{"type":"startprivate","user":"luke"}"#)
        _ = h.events(hans)
        h.clock.advance(seconds: 59)
        h.send(hans, #"{"type":"activity"}"#)
        h.send(luke, #"{"type":"activity"}"#)
        h.hub.sweep()
        XCTAssertEqual(h.types(hans), ["ok"])
        h.clock.advance(seconds: 1)
        h.hub.sweep()
        XCTAssertEqual(h.events(hans).last?["user"]?.stringValue, "luke")
        h.send(luke, #"{"type":"privatereply","user":"hans","accept":true}"#)
        XCTAssertEqual(h.events(luke).last?["code"]?.stringValue, "no_request")
    }

    func testSignalsAreRelayedOnlyWithinAnAcceptedWebRTCPair() {
        let h = harness()
        let a = h.connect(), b = h.connect()
        h.send(a, #"{"type":"login","user":"hans","password":"solo","webrtc":true}"#)
        h.send(b, #"{"type":"login","user":"luke","password":"sky","webrtc":true}"#)
        _ = h.events(a); _ = h.events(b)
        h.send(a, #"{"type":"signal","to":"luke","data":{"sdp":"x"}}"#)
        XCTAssertEqual(h.events(a).last?["code"]?.stringValue, "no_session")
        h.send(a, #"{"type":"startprivate","user":"luke"}"#)
        h.send(b, #"{"type":"privatereply","user":"hans","accept":true}"#)
        _ = h.events(a); _ = h.events(b)
        h.send(a, #"{"type":"signal","to":"luke","data":{"sdp":"x"}}"#)
        let relayed = h.events(b).last!
        XCTAssertEqual(relayed["type"]?.stringValue, "signal")
        XCTAssertEqual(relayed["from"]?.stringValue, "hans")
        XCTAssertEqual(relayed["data"]?["sdp"]?.stringValue, "x")
    }
}
