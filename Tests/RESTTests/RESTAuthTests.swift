import Foundation
import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// Tokens, Basic credentials, registration and the lockout shared with the socket doors (docs/PROTOCOL.md §3).
final class RESTAuthTests: XCTestCase {
    func testLoginHandsOutATokenThatAuthenticates() {
        let h = RESTHarness()
        let response = h.call(.post, "/api/login", json: #"{"user":"hans","password":"falcon*solo"}"#)
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.headers["Content-Type"], "application/json")
        let body = response.map(RESTHarness.json)
        XCTAssertEqual(body?["user"]?.stringValue, "hans")
        let token = body?["token"]?.stringValue ?? ""
        // 256 random bits in unpadded base64url.
        XCTAssertEqual(token.count, 43)
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: [("Authorization", "Bearer \(token)")])?.status, 200)
    }

    func testLoginFailuresAre401WithTheChallenge() {
        let h = RESTHarness()
        let unknown = h.call(.post, "/api/login", json: #"{"user":"nobody","password":"x"}"#)
        XCTAssertEqual(unknown?.status, 401)
        XCTAssertEqual(RESTHarness.errorCode(unknown), "no_such_user")
        XCTAssertEqual(unknown?.headers["WWW-Authenticate"], #"Bearer realm="parley", Basic realm="parley""#)
        let wrong = h.call(.post, "/api/login", json: #"{"user":"hans","password":"wrong"}"#)
        XCTAssertEqual(wrong?.status, 401)
        XCTAssertEqual(RESTHarness.errorCode(wrong), "bad_password")
        XCTAssertEqual(wrong.map(RESTHarness.json)?["error"]?["attemptsLeft"]?.integerValue, 2)
        XCTAssertNotNil(wrong?.headers["WWW-Authenticate"])
    }

    func testThirdWrongPasswordLocksEveryDoorWith423AndRetryAfter() {
        let h = RESTHarness(blockSeconds: 10)
        for _ in 0..<3 { h.call(.post, "/api/login", json: #"{"user":"hans","password":"wrong"}"#) }
        // Even the right password is refused while locked, on REST (login and Basic) and on a socket.
        let locked = h.call(.post, "/api/login", json: #"{"user":"hans","password":"falcon*solo"}"#)
        XCTAssertEqual(locked?.status, 423)
        XCTAssertEqual(RESTHarness.errorCode(locked), "locked")
        XCTAssertEqual(locked?.headers["Retry-After"], "10")
        let basic = h.call(.get, "/api/whoelse", headers: RESTHarness.basic("hans", "falcon*solo"))
        XCTAssertEqual(basic?.status, 423)
        XCTAssertNotNil(basic?.headers["Retry-After"])
        let socket = h.connect()
        h.socketSend(socket, #"{"type":"login","user":"hans","password":"falcon*solo"}"#)
        XCTAssertEqual(h.events(socket).first?["code"]?.stringValue, "locked")
        // Another account is untouched, and the lock ends after block_duration.
        XCTAssertEqual(h.call(.post, "/api/login", json: #"{"user":"luke","password":"jedi"}"#)?.status, 200)
        h.clock.advance(seconds: 10)
        XCTAssertEqual(h.call(.post, "/api/login", json: #"{"user":"hans","password":"falcon*solo"}"#)?.status, 200)
    }

    func testFailuresCountAcrossRESTBasicAndSocketDoors() {
        let h = RESTHarness()
        let socket = h.connect()
        h.socketSend(socket, #"{"type":"login","user":"luke","password":"sith"}"#)
        XCTAssertEqual(h.events(socket).first?["attemptsLeft"]?.integerValue, 2)
        let basic = h.call(.get, "/api/blocks", headers: RESTHarness.basic("luke", "sith"))
        XCTAssertEqual(basic?.status, 401)
        XCTAssertEqual(RESTHarness.errorCode(basic), "bad_password")
        XCTAssertEqual(basic.map(RESTHarness.json)?["error"]?["attemptsLeft"]?.integerValue, 1)
        let third = h.call(.post, "/api/login", json: #"{"user":"luke","password":"vader"}"#)
        XCTAssertEqual(third.map(RESTHarness.json)?["error"]?["attemptsLeft"]?.integerValue, 0)
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: RESTHarness.basic("luke", "jedi"))?.status, 423)
    }

    func testBasicCredentialsWork() {
        let h = RESTHarness()
        let response = h.call(.get, "/api/blocks", headers: RESTHarness.basic("hans", "falcon*solo"))
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response.map { String(decoding: $0.body, as: UTF8.self) }, #"{"users":[]}"#)
        // A password may hold a colon: only the first one splits (RFC 7617).
        let h2 = RESTHarness(accounts: [("ann", "a:b:c")])
        XCTAssertEqual(h2.call(.get, "/api/blocks", headers: RESTHarness.basic("ann", "a:b:c"))?.status, 200)
    }

    func testMissingOrUnreadableCredentialsAre401NeverACrash() {
        let h = RESTHarness()
        let cases: [[(String, String)]] = [
            [],
            [("Authorization", "")],
            [("Authorization", "Bearer")],
            [("Authorization", "Bearer not-a-token")],
            [("Authorization", "Bearer a b")],
            [("Authorization", "Basic !!!notbase64")],
            [("Authorization", "Basic " + "aGFucw==")],              // "hans" without a colon
            [("Authorization", "Basic /w==")],                       // one byte 0xFF: not UTF-8
            [("Authorization", "Basic a")],                          // impossible length
            [("Authorization", "Digest username=hans")],
            [("Authorization", "Bearer x"), ("Authorization", "Bearer y")],
        ]
        for headers in cases {
            let response = h.call(.get, "/api/whoelse", headers: headers)
            XCTAssertEqual(response?.status, 401, "\(headers)")
            XCTAssertEqual(response?.headers["WWW-Authenticate"], RESTError.challenge, "\(headers)")
            XCTAssertEqual(response?.headers["Content-Type"], "application/json")
        }
        XCTAssertEqual(RESTHarness.errorCode(h.call(.get, "/api/whoelse")), "not_logged_in")
        XCTAssertEqual(RESTHarness.errorCode(h.call(.get, "/api/whoelse", headers: [("Authorization", "Bearer zzz")])),
                       "bad_token")
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let token = h.bearer("hans", "falcon*solo")[0].1.dropFirst("Bearer ".count)
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: [("Authorization", "bEaReR \(token)")])?.status, 200)
    }

    func testLogoutRevokesTheTokenEverywhere() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.post, "/api/logout", headers: auth)?.status, 204)
        let after = h.call(.get, "/api/whoelse", headers: auth)
        XCTAssertEqual(after?.status, 401)
        XCTAssertEqual(RESTHarness.errorCode(after), "bad_token")
        XCTAssertEqual(h.call(.post, "/api/logout", headers: auth)?.status, 401)
        XCTAssertEqual(h.call(.post, "/api/logout")?.status, 401)
        // Basic holds no token: checked, then nothing to revoke.
        XCTAssertEqual(h.call(.post, "/api/logout", headers: RESTHarness.basic("luke", "jedi"))?.status, 204)
        XCTAssertEqual(h.call(.post, "/api/logout", headers: RESTHarness.basic("luke", "nope"))?.status, 401)
    }

    func testTheWelcomeTokenWorksOverRESTAndSocketLogoutRevokesIt() {
        let h = RESTHarness()
        let socket = h.connect()
        h.socketSend(socket, #"{"type":"login","user":"yoda","password":"green"}"#)
        let token = h.events(socket).first?["token"]?.stringValue ?? ""
        let auth = [("Authorization", "Bearer \(token)")]
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: auth)?.status, 200)
        h.socketSend(socket, #"{"type":"logout"}"#)
        XCTAssertEqual(h.call(.get, "/api/whoelse", headers: auth)?.status, 401)
    }

    func testTokensExpireAfterThirtyDays() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        h.clock.advance(seconds: 30 * 24 * 3600 - 1)
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: auth)?.status, 200)
        h.clock.advance(seconds: 1)
        XCTAssertEqual(h.call(.get, "/api/blocks", headers: auth)?.status, 401)
    }

    func testRegisterCreatesAnAccountWithoutGoingOnline() {
        let h = RESTHarness()
        let created = h.call(.post, "/api/register", json: #"{"user":"rey","password":"scavenger"}"#)
        XCTAssertEqual(created?.status, 201)
        XCTAssertEqual(created.map(RESTHarness.json)?["user"]?.stringValue, "rey")
        let token = created.map(RESTHarness.json)?["token"]?.stringValue ?? ""
        let others = h.call(.get, "/api/whoelse", headers: [("Authorization", "Bearer \(token)")])
        XCTAssertEqual(others.map { String(decoding: $0.body, as: UTF8.self) }, #"{"users":[]}"#)
        // At once a valid target and able to log in.
        let hans = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.post, "/api/messages", headers: hans, json: #"{"to":"rey","text":"hi"}"#)?.status, 201)
        h.socketLogin("rey", "scavenger")

        let taken = h.call(.post, "/api/register", json: #"{"user":"hans","password":"other"}"#)
        XCTAssertEqual(taken?.status, 409)
        XCTAssertEqual(RESTHarness.errorCode(taken), "user_exists")
        let badName = h.call(.post, "/api/register", json: #"{"user":"has space","password":"x"}"#)
        XCTAssertEqual(badName?.status, 400)
        XCTAssertEqual(RESTHarness.errorCode(badName), "invalid_username")
        let badPassword = h.call(.post, "/api/register", json: #"{"user":"finn","password":""}"#)
        XCTAssertEqual(RESTHarness.errorCode(badPassword), "invalid_password")
    }

    func testRegistrationOverRESTHonoursAppendCredentials() throws {
        let path = NSTemporaryDirectory() + "parley-rest-append-\(getpid()).txt"
        try Data("hans falcon*solo\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = RESTHarness { $0.appendCredentialsPath = path }
        XCTAssertEqual(h.call(.post, "/api/register", json: #"{"user":"rey","password":"scavenger"}"#)?.status, 201)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "hans falcon*solo\nrey scavenger\n")
    }

    func testAFullHasherBacklogIs429WithRetryAfter() {
        let h = RESTHarness { $0.maxHashBacklog = 1 }
        // The first check is held in the queue, so the second finds the backlog full.
        let held = h.start(.post, "/api/login", json: #"{"user":"hans","password":"falcon*solo"}"#)
        let busy = h.call(.post, "/api/login", json: #"{"user":"luke","password":"jedi"}"#, settle: false)
        XCTAssertEqual(busy?.status, 429)
        XCTAssertEqual(RESTHarness.errorCode(busy), "busy")
        XCTAssertEqual(busy?.headers["Retry-After"], "1")
        let basic = h.call(.get, "/api/blocks", headers: RESTHarness.basic("luke", "jedi"), settle: false)
        XCTAssertEqual(basic?.status, 429)
        XCTAssertEqual(h.call(.post, "/api/register", json: #"{"user":"finn","password":"x"}"#, settle: false)?.status, 429)
        h.settle()
        XCTAssertEqual(held.get()?.status, 200)
    }
}
