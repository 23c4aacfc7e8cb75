import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// REST requests as short-lived hub sessions: the same dispatch as the socket doors, one reply to a completion
/// outside the hub's lock, and never online (no presence, no idle timer).
final class RESTSessionTests: XCTestCase {
    func testALoginGetsATokenWithoutGoingOnline() throws {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky")])
        let luke = h.login("luke", "sky")
        _ = h.events(luke)
        let reply = h.rest(.login(user: "hans", credential: .password("solo"), peer: .none), as: nil)
        h.settle()
        guard case .welcome(_, let user, let token, let created) = try reply.wait() else { return XCTFail("welcome") }
        XCTAssertEqual(user, "hans")
        XCTAssertFalse(created)
        XCTAssertEqual(h.events(luke), [], "no presence line: a REST caller is never online")
        XCTAssertEqual(h.hub.metricsSnapshot().onlineUsers, 1)
        XCTAssertEqual(h.hub.metricsSnapshot().loginsSucceeded, 1, "only luke's socket login")
        // The token works on a socket login, and hans can still log in there (the REST login took no name).
        let c = h.connect()
        h.send(c, #"{"type":"login","user":"hans","token":"\#(token)"}"#)
        XCTAssertEqual(h.types(c), ["welcome"])
    }

    func testARegistrationCreatesTheAccountAndItsTokenInOneWrite() throws {
        let h = HubHarness()
        let reply = h.rest(.register(user: "leia", password: "alder", peer: .none), as: nil)
        XCTAssertEqual(h.hasher.backlog, 1)
        h.hasher.runPending()
        XCTAssertEqual(h.store.queuedCount, 1, "account and token together")
        h.settle()
        guard case .welcome(_, "leia", let token, true) = try reply.wait() else { return XCTFail("welcome") }
        let resolved = AsyncResult<Result<String, ChatError>>()
        h.hub.authenticate(.bearer(token)) { resolved.set($0) }
        XCTAssertEqual(try resolved.wait(seconds: 0.1).get(), "leia")
        XCTAssertEqual(try h.rest(.register(user: "leia", password: "x", peer: .none), as: nil).wait(seconds: 0.1).errorCode,
                       .userExists)
        XCTAssertEqual(h.hub.metricsSnapshot().onlineUsers, 0)
    }

    func testRequestsOfAnAuthenticatedCallerShareTheSocketPaths() throws {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky")])
        let luke = h.login("luke", "sky")
        let sent = h.rest(.message(to: "luke", text: "over REST"), as: "hans")
        h.settle()
        guard case .ok(_, let ok) = try sent.wait() else { return XCTFail("ok") }
        XCTAssertEqual(ok.stored, false)
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, "over REST")
        XCTAssertEqual(try h.rest(.whoelse, as: "hans").wait(seconds: 0.1), .users(re: nil, ["luke"]))
        XCTAssertEqual(try h.rest(.message(to: "hans", text: "me"), as: "hans").wait(seconds: 0.1).errorCode, .self)
        let blocked = h.rest(.block(user: "luke"), as: "hans")
        h.settle()
        XCTAssertEqual(try blocked.wait(), .ok(re: nil, .init()))
        XCTAssertEqual(h.hub.blockedUsers(of: "hans"), ["luke"])
    }

    func testTheReplyRunsOutsideTheLockSoItMayCallTheHubAgain() throws {
        let h = HubHarness(accounts: [("hans", "solo")])
        let again = AsyncResult<[String]>()
        let hub = h.hub
        hub.handle(.whoelse, from: "hans") { _ in again.set(hub.blockedUsers(of: "hans")) }
        XCTAssertEqual(try again.wait(seconds: 1), [])
    }
}
