import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The hub's abuse limits (docs/SECURITY.md), driven with the manual clock: messages per user across doors,
/// failed password attempts per address and per account (refused before any hashing), registrations per
/// address, the loopback exemption, and the `authenticated` hook that lifts the pre-login size limit.
final class AbuseLimitTests: XCTestCase {
    private let remote = "203.0.113.7"
    private let otherRemote = "198.51.100.9"

    private func message(_ h: HubHarness, _ client: ClientID, to: String = "luke", _ text: String = "hi") -> JSONValue {
        h.send(client, #"{"type":"message","to":"\#(to)","text":"\#(text)"}"#)
        return h.events(client).last!
    }

    // MARK: Messages per user

    func testTenMessagesInARowThenRateLimitedWithRetryAfterThenTwoPerSecond() {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky")])
        let hans = h.login("hans", "solo")
        for i in 1...10 { XCTAssertEqual(message(h, hans, "m\(i)")["type"]?.stringValue, "ok", "message \(i)") }
        let refused = message(h, hans, "m11")
        XCTAssertEqual(refused["code"]?.stringValue, "rate_limited")
        XCTAssertEqual(refused["retryAfter"]?.integerValue, 1)
        h.clock.advance(seconds: 0.5)
        XCTAssertEqual(message(h, hans, "m12")["type"]?.stringValue, "ok", "one more every half second")
        XCTAssertEqual(message(h, hans, "m13")["code"]?.stringValue, "rate_limited")
        XCTAssertEqual(h.hub.metricsSnapshot().rateLimitedMessages, 2)
        XCTAssertEqual(h.hub.metricsSnapshot().messages, 11, "refused messages are never stored")
    }

    func testTheBucketIsPerUserAndSharedByBroadcastsTextModeAndREST() {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder")])
        let hans = h.login("hans", "solo")
        let text = h.connect(.text)
        h.type(text, "leia")
        h.type(text, "alder")
        _ = h.text(text)
        for _ in 0..<5 { _ = message(h, hans) }
        for _ in 0..<3 {
            h.send(hans, #"{"type":"broadcast","text":"all"}"#)
            XCTAssertEqual(h.events(hans).last?["type"]?.stringValue, "ok")
        }
        XCTAssertEqual(try h.rest(.broadcast(text: "rest"), as: "hans").wait(seconds: 0.1).okID.map { $0 > 0 }, true)
        let posted = h.rest(.message(to: "luke", text: "rest"), as: "hans")
        h.settle()
        XCTAssertNotNil(try posted.wait().okID, "the tenth of the burst")
        // The eleventh, whichever door it comes through, is refused.
        XCTAssertEqual(try h.rest(.broadcast(text: "again"), as: "hans").wait(seconds: 0.1).errorCode, .rateLimited)
        h.send(hans, #"{"type":"broadcast","text":"again"}"#)
        XCTAssertEqual(h.events(hans).last?["code"]?.stringValue, "rate_limited")
        // Another user's bucket is untouched; the text-mode user sees the error as a line.
        _ = h.text(text)  // hans's broadcasts
        for _ in 0..<10 { h.type(text, "message luke hello") }
        XCTAssertEqual(h.text(text), "")
        h.type(text, "message luke one too many")
        XCTAssertTrue(h.text(text).hasPrefix("Error. too many messages; try again in 1 s"))
    }

    func testAMessageLimitOfNilMeansUnlimited() {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky")]) { $0.limits.messages = nil }
        let hans = h.login("hans", "solo")
        for i in 1...200 { XCTAssertEqual(message(h, hans, "m\(i)")["type"]?.stringValue, "ok") }
    }

    // MARK: Password attempts per address

    func testFailedAttemptsPerAddressAreRefusedBeforeHashingAndRightPasswordsCostNothing() {
        let h = HubHarness(accounts: [("a", "pa"), ("b", "pb"), ("c", "pc"), ("d", "pd")]) {
            $0.limits.loginAttemptsPerAddress = RateLimit(3, per: 60_000)
        }
        var attacker = h.connect(from: remote)
        // Right passwords give their attempt back: any number of them.
        for _ in 0..<5 {
            h.send(attacker, #"{"type":"login","user":"d","password":"pd"}"#)
            XCTAssertEqual(h.types(attacker), ["welcome"])
            h.send(attacker, #"{"type":"logout"}"#)
            _ = h.events(attacker)
            attacker = h.connect(from: remote)
        }
        let guesser = h.connect(from: remote)
        for user in ["a", "b", "c"] {
            h.send(guesser, #"{"type":"login","user":"\#(user)","password":"guess"}"#)
            XCTAssertEqual(h.events(guesser).last?["code"]?.stringValue, "bad_password")
        }
        // The fourth failure-to-be is refused without a hash being queued, even with the right password.
        h.hub.receive(Array(#"{"type":"login","user":"d","password":"pd"}"#.utf8), from: guesser)
        XCTAssertEqual(h.hasher.backlog, 0, "refused before hashing")
        let refused = h.events(guesser).last!
        XCTAssertEqual(refused["code"]?.stringValue, "rate_limited")
        XCTAssertEqual(refused["retryAfter"]?.integerValue, 20)
        // Another address is not affected, and neither is the accounts' own state (no lockout happened).
        let friend = h.connect(from: otherRemote)
        h.send(friend, #"{"type":"login","user":"a","password":"pa"}"#)
        XCTAssertEqual(h.types(friend), ["welcome"])
        // One attempt comes back every 20 s.
        h.clock.advance(seconds: 20)
        h.send(guesser, #"{"type":"login","user":"b","password":"pb"}"#)
        XCTAssertEqual(h.types(guesser), ["welcome"])
        XCTAssertEqual(h.hub.metricsSnapshot().loginsThrottledAddress, 1)
    }

    func testLoopbackIsExemptFromPerAddressLimitsUnlessLimitLoopbackIsSet() {
        for limitLoopback in [false, true] {
            let h = HubHarness(blockSeconds: 0, accounts: [("a", "pa")]) {
                $0.limits.loginAttemptsPerAddress = RateLimit(2, per: 60_000)
                $0.limits.loginAttemptsPerAccount = nil
                $0.limits.limitLoopback = limitLoopback
            }
            let local = h.connect(from: "127.0.0.1")
            var codes: [String] = []
            for _ in 0..<4 {
                h.send(local, #"{"type":"login","user":"a","password":"x"}"#)
                codes.append(h.events(local).last?["code"]?.stringValue ?? "")
            }
            XCTAssertEqual(codes.last, limitLoopback ? "rate_limited" : "bad_password", "limitLoopback=\(limitLoopback)")
        }
    }

    func testIPv6AddressesCountPerSlash64AndMappedIPv4AsItself() {
        XCTAssertEqual(AbuseLimits.addressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(AbuseLimits.addressKey("2001:DB8:1:2:bbbb::9"), "2001:db8:1:2::/64")
        XCTAssertEqual(AbuseLimits.addressKey("::ffff:203.0.113.7"), "203.0.113.7")
        XCTAssertEqual(AbuseLimits.addressKey("203.0.113.7"), "203.0.113.7")
        XCTAssertTrue(AbuseLimits.isLoopback("::ffff:127.0.0.1"))
        XCTAssertFalse(AbuseLimits.isLoopback("128.0.0.1"))
        let h = HubHarness(blockSeconds: 0, accounts: [("a", "pa")]) {
            $0.limits.loginAttemptsPerAddress = RateLimit(1, per: 60_000)
            $0.limits.loginAttemptsPerAccount = nil
        }
        let first = h.connect(from: "2001:db8:1:2::10"), neighbour = h.connect(from: "2001:db8:1:2::11")
        h.send(first, #"{"type":"login","user":"a","password":"x"}"#)
        h.send(neighbour, #"{"type":"login","user":"a","password":"x"}"#)
        XCTAssertEqual(h.events(neighbour).last?["code"]?.stringValue, "rate_limited", "same /64")
    }

    // MARK: Password attempts per account

    func testFailedAttemptsPerAccountAreRefusedFromAnyAddressBeforeHashing() {
        let h = HubHarness(blockSeconds: 0, accounts: [("yoda", "wise"), ("luke", "sky")]) {
            $0.limits.loginAttemptsPerAccount = RateLimit(2, per: 60_000)
            $0.maxFailedAttempts = 100  // the lockout out of the way: this limit stands alone here
        }
        for address in [remote, otherRemote] {
            let c = h.connect(from: address)
            h.send(c, #"{"type":"login","user":"yoda","password":"guess"}"#)
            XCTAssertEqual(h.events(c).last?["code"]?.stringValue, "bad_password")
        }
        let third = h.connect(from: "192.0.2.1")
        h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"wise"}"#.utf8), from: third)
        XCTAssertEqual(h.hasher.backlog, 0, "refused before hashing")
        XCTAssertEqual(h.events(third).last?["code"]?.stringValue, "rate_limited")
        h.settle()
        h.login("luke", "sky")  // other accounts are not affected
        h.clock.advance(seconds: 30)
        h.send(third, #"{"type":"login","user":"yoda","password":"wise"}"#)
        XCTAssertEqual(h.types(third), ["welcome"])
        XCTAssertEqual(h.hub.metricsSnapshot().loginsThrottledAccount, 1)
    }

    func testOnlyFailuresAreChargedSoConcurrentRightPasswordsAreNeverThrottled() throws {
        let h = HubHarness(blockSeconds: 0, accounts: [("yoda", "wise")]) {
            $0.limits.loginAttemptsPerAccount = RateLimit(4, per: 60_000)
            $0.limits.loginAttemptsPerAddress = RateLimit(4, per: 60_000)
            $0.maxFailedAttempts = 100
        }
        // REST Basic sends the password with every request, often several at once.
        let results = (0..<20).map { _ in AsyncResult<Result<String, ChatError>>() }
        for result in results {
            h.hub.authenticate(.basic(user: "yoda", password: "wise"), peerHost: remote) { result.set($0) }
        }
        XCTAssertEqual(h.hasher.backlog, 20)
        h.settle()
        for result in results { XCTAssertEqual(try result.wait().get(), "yoda") }
        // Wrong ones in flight together all run (the hasher's backlog bounds them), and are charged as they fail.
        let clients = (0..<6).map { h.connect(from: "192.0.2.\($0 + 1)") }
        for c in clients { h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"x"}"#.utf8), from: c) }
        XCTAssertEqual(h.hasher.backlog, 6)
        h.settle()
        let late = h.connect(from: "192.0.2.99")
        h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"wise"}"#.utf8), from: late)
        XCTAssertEqual(h.hasher.backlog, 0)
        let refused = h.events(late).last
        XCTAssertEqual(refused?["code"]?.stringValue, "rate_limited")
        XCTAssertEqual(refused?["retryAfter"]?.integerValue, 45, "six charged against four: the overshoot waits longer")
    }

    func testRESTPasswordChecksShareTheSocketBudgets() throws {
        let h = HubHarness(blockSeconds: 0, accounts: [("yoda", "wise")]) {
            $0.limits.loginAttemptsPerAddress = RateLimit(2, per: 60_000)
            $0.maxFailedAttempts = 100
        }
        let c = h.connect(from: remote)
        h.send(c, #"{"type":"login","user":"yoda","password":"x"}"#)
        let basic = AsyncResult<Result<String, ChatError>>()
        h.hub.authenticate(.basic(user: "yoda", password: "y"), peerHost: remote) { basic.set($0) }
        h.settle()
        XCTAssertEqual((try basic.wait()).failure?.code, .badPassword)
        let token = h.rest(.login(user: "yoda", credential: .password("wise"), peer: .none), as: nil, from: remote)
        guard case .error(_, let refused) = try token.wait(seconds: 0.1) else { return XCTFail("answered at once, no hash") }
        XCTAssertEqual(refused.code, .rateLimited, "answered at once, no hash")
        XCTAssertEqual(refused.retryAfter, 30)
    }

    func testABusyRefusalGivesTheAttemptBack() {
        let h = HubHarness(accounts: [("yoda", "wise")]) {
            $0.limits.loginAttemptsPerAddress = RateLimit(1, per: 60_000)
            $0.maxHashBacklog = 0
        }
        let c = h.connect(from: remote)
        for _ in 0..<3 {
            h.send(c, #"{"type":"login","user":"yoda","password":"x"}"#)
            XCTAssertEqual(h.events(c).last?["code"]?.stringValue, "busy")
        }
    }

    // MARK: Registrations per address

    func testRegistrationsPerAddressAreRefusedBeforeHashingOnEveryDoor() throws {
        let h = HubHarness { $0.limits.registrationsPerAddress = RateLimit(2, per: 600_000) }
        for name in ["r1", "r2"] {
            let c = h.connect(from: remote)
            h.send(c, #"{"type":"register","user":"\#(name)","password":"pw"}"#)
            XCTAssertEqual(h.types(c), ["welcome"])
        }
        let c = h.connect(from: remote)
        h.hub.receive(Array(#"{"type":"register","user":"r3","password":"pw"}"#.utf8), from: c)
        XCTAssertEqual(h.hasher.backlog, 0)
        let refused = h.events(c).last!
        XCTAssertEqual(refused["code"]?.stringValue, "rate_limited")
        XCTAssertEqual(refused["retryAfter"]?.integerValue, 300)
        let viaREST = h.rest(.register(user: "r4", password: "pw", peer: .none), as: nil, from: remote)
        XCTAssertEqual(try viaREST.wait().errorCode, .rateLimited)
        // Another address, and loopback, still register.
        let other = h.connect(from: otherRemote)
        h.send(other, #"{"type":"register","user":"r5","password":"pw"}"#)
        XCTAssertEqual(h.types(other), ["welcome"])
        for name in ["l1", "l2", "l3"] {
            let local = h.connect()
            h.send(local, #"{"type":"register","user":"\#(name)","password":"pw"}"#)
            XCTAssertEqual(h.types(local), ["welcome"])
        }
        XCTAssertEqual(h.hub.metricsSnapshot().registrationsThrottled, 2)
    }

    // MARK: Housekeeping and the size-limit hook

    func testRefilledBucketsArePrunedByTheSweep() {
        let h = HubHarness(blockSeconds: 0, accounts: [("hans", "solo"), ("luke", "sky")]) {
            $0.limits.loginAttemptsPerAddress = RateLimit(5, per: 10_000)
            $0.limits.loginAttemptsPerAccount = nil
            $0.maxFailedAttempts = 1000
        }
        let hans = h.login("hans", "solo")
        _ = message(h, hans)
        for i in 0..<50 {
            let c = h.connect(from: "192.0.2.\(i)")
            h.send(c, #"{"type":"login","user":"luke","password":"x"}"#)
        }
        let limits = h.hub.loginGuard as! LocalLoginGuard
        XCTAssertEqual(h.hub.serialized { limits.loginsPerAddress.trackedKeys }, 50)
        h.clock.advance(seconds: 61)
        h.hub.sweep()
        XCTAssertEqual(h.hub.serialized { limits.loginsPerAddress.trackedKeys }, 0)
        XCTAssertEqual(h.hub.serialized { limits.messages.trackedKeys }, 0)
    }

    func testTheTransportIsToldOfEachLoginBeforeTheWelcome() {
        let h = HubHarness(accounts: [("hans", "solo")])
        let failed = h.connect()
        h.send(failed, #"{"type":"login","user":"hans","password":"nope"}"#)
        let hans = h.login("hans", "solo")
        let text = h.connect(.text)
        h.type(text, "newbie")
        h.type(text, "pw")
        XCTAssertEqual(h.output.authenticatedClients, [hans, text], "only successful logins and registrations")
    }

    func testRateLimitParsing() {
        XCTAssertEqual(RateLimit(parsing: "10/5s"), RateLimit(10, per: 5_000))
        XCTAssertEqual(RateLimit(parsing: "20/10m"), RateLimit(20, per: 600_000))
        XCTAssertEqual(RateLimit(parsing: "5/h"), RateLimit(5, per: 3_600_000))
        XCTAssertEqual(RateLimit(parsing: "3/250ms"), RateLimit(3, per: 250))
        for bad in ["", "10", "10/", "/5s", "0/5s", "-1/5s", "10/5", "10/5x", "10/0s", "10/-5s", "a/5s", "10/5s/1", "10/５s"] {
            XCTAssertNil(RateLimit(parsing: bad), bad)
        }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
