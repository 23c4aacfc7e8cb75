import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// docs/PROTOCOL.md §3: login, registration, lockout.
final class LoginTests: XCTestCase {
    func testRightPasswordIsWelcomedWithAToken() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.send(c, #"{"type":"login","user":"yoda","password":"wise","id":7}"#)
        let welcome = h.events(c)
        XCTAssertEqual(welcome.count, 1)
        XCTAssertEqual(welcome[0]["type"]?.stringValue, "welcome")
        XCTAssertEqual(welcome[0]["re"]?.integerValue, 7)
        XCTAssertEqual(welcome[0]["created"], .bool(false))
        XCTAssertGreaterThanOrEqual(welcome[0]["token"]?.stringValue?.count ?? 0, 43)
    }

    func testThreeWrongPasswordsLockTheAccountForBlockDuration() {
        let h = HubHarness(blockSeconds: 10, accounts: [("yoda", "wise")])
        let c = h.connect()
        for expected in [2, 1, 0] {
            h.send(c, #"{"type":"login","user":"yoda","password":"nope"}"#)
            let e = h.events(c)[0]
            XCTAssertEqual(e["code"]?.stringValue, "bad_password")
            XCTAssertEqual(e["attemptsLeft"]?.integerValue, Int64(expected))
            XCTAssertEqual(e["message"]?.stringValue, expected == 0 ? Texts.lockedNow : Texts.invalidPassword)
        }
        // Even the right password is refused while locked (docs/PROTOCOL.md §3).
        let c2 = h.connect()
        h.send(c2, #"{"type":"login","user":"yoda","password":"wise"}"#)
        let locked = h.events(c2)[0]
        XCTAssertEqual(locked["code"]?.stringValue, "locked")
        XCTAssertEqual(locked["message"]?.stringValue, Texts.lockedAlready)
        XCTAssertEqual(locked["retryAfter"]?.integerValue, 10)
        h.clock.advance(seconds: 10)
        h.send(c2, #"{"type":"login","user":"yoda","password":"wise"}"#)
        XCTAssertEqual(h.types(c2), ["welcome"])
    }

    func testFailuresCountAcrossConnections() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let a = h.connect(), b = h.connect(.text)
        h.send(a, #"{"type":"login","user":"yoda","password":"x"}"#)
        h.send(a, #"{"type":"login","user":"yoda","password":"y"}"#)
        h.type(b, "yoda")
        h.type(b, "z")
        XCTAssertTrue(h.text(b).hasSuffix(Texts.lockedNow + "\n"))
        XCTAssertTrue(h.output.isDisconnected(b))
        h.send(a, #"{"type":"login","user":"yoda","password":"wise"}"#)
        XCTAssertEqual(h.events(a).last?["code"]?.stringValue, "locked")
    }

    func testLockoutOfOneUserDoesNotAffectAnother() {
        let h = HubHarness(accounts: [("yoda", "wise"), ("luke", "sky")])
        let a = h.connect()
        for _ in 0..<3 { h.send(a, #"{"type":"login","user":"yoda","password":"x"}"#) }
        h.login("luke", "sky")
    }

    func testSuccessResetsTheCount() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let a = h.connect()
        h.send(a, #"{"type":"login","user":"yoda","password":"x"}"#)
        h.send(a, #"{"type":"login","user":"yoda","password":"x"}"#)
        h.send(a, #"{"type":"login","user":"yoda","password":"wise"}"#)
        h.send(a, #"{"type":"logout"}"#)
        let b = h.connect()
        h.send(b, #"{"type":"login","user":"yoda","password":"x"}"#)
        XCTAssertEqual(h.events(b)[0]["attemptsLeft"]?.integerValue, 2)
    }

    func testUnknownUserAndLookup() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.send(c, #"{"type":"lookup","user":"yoda","id":"a"}"#)
        h.send(c, #"{"type":"lookup","user":"ghost","id":"b"}"#)
        let replies = h.events(c)
        XCTAssertEqual(replies[0]["exists"], .bool(true))
        XCTAssertEqual(replies[0]["re"]?.stringValue, "a")
        XCTAssertEqual(replies[1]["exists"], .bool(false))
        h.send(c, #"{"type":"login","user":"ghost","password":"x"}"#)
        XCTAssertEqual(h.events(c)[0]["code"]?.stringValue, "no_such_user")
    }

    func testRegistrationCreatesAUsableAccount() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.send(c, #"{"type":"register","user":"rey","password":"jakku"}"#)
        let welcome = h.events(c)[0]
        XCTAssertEqual(welcome["type"]?.stringValue, "welcome")
        XCTAssertEqual(welcome["created"], .bool(true))
        // At once a valid target of every command (docs/PROTOCOL.md §3).
        let yoda = h.login("yoda", "wise")
        _ = h.events(c)
        h.send(yoda, #"{"type":"block","user":"rey"}"#)
        XCTAssertEqual(h.types(yoda), ["ok"])
        let d = h.connect()
        h.send(d, #"{"type":"register","user":"rey","password":"other"}"#)
        XCTAssertEqual(h.events(d)[0]["code"]?.stringValue, "user_exists")
        h.send(d, #"{"type":"register","user":"bad name","password":"x"}"#)
        XCTAssertEqual(h.events(d)[0]["code"]?.stringValue, "invalid_username")
        h.send(d, #"{"type":"register","user":"finn","password":"has space"}"#)
        XCTAssertEqual(h.events(d)[0]["code"]?.stringValue, "invalid_password")
        XCTAssertEqual(try! h.store.loadSnapshot().accounts.map(\.name).sorted(), ["rey", "yoda"])
    }

    /// A hash the hasher could not make is not stored: the client hears `busy`, the name stays free, and the
    /// same registration succeeds once the hasher can hash again.
    func testARegistrationWhoseHashFailedIsRefusedBusyAndStoresNothing() {
        let h = HubHarness()
        let c = h.connect()
        h.hasher.failsHashing = true
        h.send(c, #"{"type":"register","user":"rey","password":"jakku"}"#)
        let refused = h.events(c).last!
        XCTAssertEqual(refused["code"]?.stringValue, "busy")
        XCTAssertEqual(refused["retryAfter"]?.integerValue, 1)
        XCTAssertEqual(try! h.store.loadSnapshot().accounts.map(\.name), [])

        h.hasher.failsHashing = false
        h.send(c, #"{"type":"register","user":"rey","password":"jakku"}"#)
        XCTAssertEqual(h.events(c).last?["type"]?.stringValue, "welcome", "the same session may try again")
        XCTAssertEqual(try! h.store.loadSnapshot().accounts.map(\.name), ["rey"])
        XCTAssertEqual(try! h.store.loadSnapshot().accounts.first?.passwordHash, QueuedHasher.encode("jakku"))
    }

    func testAlreadyOnlineIsCheckedAfterThePassword() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        h.login("yoda", "wise")
        let c = h.connect()
        h.send(c, #"{"type":"login","user":"yoda","password":"wise"}"#)
        let e = h.events(c)[0]
        XCTAssertEqual(e["code"]?.stringValue, "already_online")
        XCTAssertEqual(e["message"]?.stringValue, Texts.alreadyLoggedIn("yoda"))
        h.send(c, #"{"type":"login","user":"yoda","password":"bad"}"#)
        XCTAssertEqual(h.events(c)[0]["attemptsLeft"]?.integerValue, 2)
    }

    func testRequestsBeforeLoginAreRefused() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.send(c, #"{"type":"whoelse","id":1}"#)
        let e = h.events(c)[0]
        XCTAssertEqual(e["code"]?.stringValue, "not_logged_in")
        XCTAssertEqual(e["re"]?.integerValue, 1)
    }

    func testTokenResumesASessionUntilLogoutRevokesIt() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.send(c, #"{"type":"login","user":"yoda","password":"wise"}"#)
        let token = h.events(c)[0]["token"]!.stringValue!
        h.hub.disconnected(c)
        let d = h.connect()
        h.send(d, #"{"type":"login","user":"yoda","token":"\#(token)"}"#)
        XCTAssertEqual(h.types(d), ["welcome"])
        h.send(d, #"{"type":"logout"}"#)
        XCTAssertEqual(h.types(d), ["bye"])
        let e = h.connect()
        h.send(e, #"{"type":"login","user":"yoda","token":"\#(token)"}"#)
        XCTAssertEqual(h.events(e)[0]["code"]?.stringValue, "bad_token")
    }

    func testHashBacklogIsBoundedNotQueuedForever() {
        let h = HubHarness(accounts: [("yoda", "wise"), ("luke", "sky")]) { $0.maxHashBacklog = 1 }
        let a = h.connect(), b = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"wise"}"#.utf8), from: a)
        h.hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: b)
        let refused = h.events(b)[0]
        XCTAssertEqual(refused["code"]?.stringValue, "busy")
        XCTAssertEqual(refused["retryAfter"]?.integerValue, 1)
        h.settle()
        XCTAssertEqual(h.types(a), ["welcome"])
    }
}

/// Requests pipelined right behind a login wait for it instead of failing.
final class PipelinedLoginTests: XCTestCase {
    func testRequestsBehindALoginRunAfterTheWelcome() {
        let h = HubHarness(accounts: [("yoda", "wise"), ("luke", "sky")])
        let luke = h.login("luke", "sky")
        let c = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"wise","id":1}"#.utf8), from: c)
        h.hub.receive(Array(#"{"type":"message","to":"luke","text":"right away","id":2}"#.utf8), from: c)
        h.settle()
        XCTAssertEqual(h.types(c), ["welcome", "ok"])
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, "right away")
    }

    func testRequestsBehindAFailedLoginAreRefused() {
        let h = HubHarness(accounts: [("yoda", "wise")])
        let c = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"yoda","password":"nope","id":1}"#.utf8), from: c)
        h.hub.receive(Array(#"{"type":"whoelse","id":2}"#.utf8), from: c)
        h.settle()
        XCTAssertEqual(h.events(c).map { $0["code"]?.stringValue }, ["bad_password", "not_logged_in"])
    }
}
