import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// The hub's seam types on their own, with the manual clock: the single-node presence directory, account
/// directory, block list, login guard and inbox router. The hub tests cover them again through the doors.
final class HubStateTests: XCTestCase {
    private let clock = ManualClock()

    private func session(_ id: UInt64, _ kind: ClientKind = .json) -> Session {
        Session(id: ClientID(id), kind: kind, peerHost: "127.0.0.1", now: clock.now())
    }

    // MARK: Presence

    func testPresenceTracksOneSessionPerUserReservationsAndLogoutTimes() {
        let presence = LocalPresence()
        let hans = session(1), luke = session(2)
        presence.reserve("hans")
        XCTAssertTrue(presence.isReserved("hans"))
        XCTAssertNil(presence.session(of: "hans"), "a reservation is not being online")
        presence.release("hans")
        XCTAssertFalse(presence.isReserved("hans"))

        presence.setOnline("hans", hans)
        presence.setOnline("luke", luke)
        XCTAssertTrue(presence.session(of: "hans") === hans)
        XCTAssertEqual(presence.onlineCount, 2)
        var visited: [String] = []
        presence.forEachOnline { name, s in
            visited.append(name)
            XCTAssertTrue(presence.session(of: name) === s)
        }
        XCTAssertEqual(visited.sorted(), ["hans", "luke"])

        presence.setOffline("luke", at: clock.now())
        XCTAssertNil(presence.session(of: "luke"))
        XCTAssertEqual(presence.onlineCount, 1)
        let loggedOut = clock.now()
        clock.advance(seconds: 30)
        XCTAssertEqual(presence.users(onlineOrSeenSince: nil), ["hans"])
        XCTAssertEqual(presence.users(onlineOrSeenSince: loggedOut), ["hans", "luke"], "the cutoff is inclusive")
        XCTAssertEqual(presence.users(onlineOrSeenSince: loggedOut + 1), ["hans"])
    }

    // MARK: Accounts and tokens

    func testAccountsAndTokensWithExpiry() {
        let now = clock.now()
        let accounts = LocalAccounts(
            accounts: [AccountRecord(name: "hans", passwordHash: "h1", createdAt: 0)],
            tokens: [TokenRecord(digest: "d1", user: "hans", expiresAt: now + 1_000)])
        XCTAssertEqual(accounts.passwordHash(of: "hans"), "h1")
        XCTAssertFalse(accounts.exists("luke"))
        accounts.addAccount("luke", passwordHash: "h2")
        XCTAssertTrue(accounts.exists("luke"))

        XCTAssertEqual(accounts.user(forToken: "d1", now: clock.now()), "hans")
        XCTAssertNil(accounts.user(forToken: "unknown", now: clock.now()))
        accounts.addToken(TokenRecord(digest: "d2", user: "luke", expiresAt: now + 60_000))
        clock.advance(seconds: 1)
        XCTAssertNil(accounts.user(forToken: "d1", now: clock.now()), "expired at its expiry time")
        XCTAssertNotNil(accounts.token(digest: "d1"), "expired but not yet swept")
        XCTAssertEqual(accounts.removeTokens(expiredAt: clock.now()), 1)
        XCTAssertNil(accounts.token(digest: "d1"))
        XCTAssertEqual(accounts.user(forToken: "d2", now: clock.now()), "luke")
        XCTAssertTrue(accounts.removeToken(digest: "d2"))
        XCTAssertFalse(accounts.removeToken(digest: "d2"), "revoking twice finds nothing the second time")
    }

    // MARK: Blocks

    func testBlocksAreOneWayAndListedSorted() {
        let blocks = LocalBlockList(["hans": ["yoda"]])
        XCTAssertTrue(blocks.hasBlocked("hans", "yoda"))
        XCTAssertFalse(blocks.hasBlocked("yoda", "hans"))
        blocks.setBlocked("hans", "luke", true)
        XCTAssertEqual(blocks.blocked(by: "hans"), ["luke", "yoda"])
        blocks.setBlocked("hans", "yoda", false)
        XCTAssertEqual(blocks.blocked(by: "hans"), ["luke"])
        XCTAssertEqual(blocks.blocked(by: "nobody"), [])
    }

    // MARK: Login guard

    private func guardWith(_ configure: (inout AbuseLimits) -> Void = { _ in }) -> LocalLoginGuard {
        var limits = AbuseLimits()
        configure(&limits)
        return LocalLoginGuard(policy: limits, maxFailedAttempts: 3, lockDuration: 10_000)
    }

    func testLockoutAfterThreeFailuresCountsDownAndASuccessResetsTheCount() {
        let guard_ = guardWith { $0.loginAttemptsPerAccount = nil }
        XCTAssertEqual(guard_.recordFailure(user: "hans", from: nil, now: clock.now()), 2)
        guard_.recordSuccess(user: "hans")
        XCTAssertEqual(guard_.recordFailure(user: "hans", from: nil, now: clock.now()), 2, "the success reset it")
        XCTAssertEqual(guard_.recordFailure(user: "hans", from: nil, now: clock.now()), 1)
        XCTAssertNil(guard_.lockedFor("hans", now: clock.now()))
        XCTAssertEqual(guard_.recordFailure(user: "hans", from: nil, now: clock.now()), 0)
        XCTAssertEqual(guard_.lockedFor("hans", now: clock.now()), 10)
        clock.advance(seconds: 9.5)
        XCTAssertEqual(guard_.lockedFor("hans", now: clock.now()), 1, "whole seconds, rounded up")
        XCTAssertNil(guard_.lockedFor("luke", now: clock.now()))
        clock.advance(seconds: 0.5)
        XCTAssertNil(guard_.lockedFor("hans", now: clock.now()))
    }

    func testPasswordThrottlesChargeOnlyFailuresAndSkipLoopback() {
        let guard_ = guardWith {
            $0.loginAttemptsPerAddress = RateLimit(2, per: 60_000)
            $0.loginAttemptsPerAccount = RateLimit(3, per: 60_000)
        }
        let remote = "203.0.113.7"
        for _ in 0..<5 { XCTAssertNil(guard_.throttlePasswordAttempt(user: "hans", from: remote, now: clock.now())) }
        _ = guard_.recordFailure(user: "hans", from: remote, now: clock.now())
        _ = guard_.recordFailure(user: "hans", from: remote, now: clock.now())
        XCTAssertEqual(guard_.throttlePasswordAttempt(user: "luke", from: remote, now: clock.now()),
                       .address(retryAfter: 30))
        XCTAssertNil(guard_.throttlePasswordAttempt(user: "luke", from: "127.0.0.1", now: clock.now()),
                     "loopback is exempt from per-address limits")
        _ = guard_.recordFailure(user: "hans", from: "127.0.0.1", now: clock.now())
        XCTAssertEqual(guard_.throttlePasswordAttempt(user: "hans", from: "127.0.0.1", now: clock.now()),
                       .account(retryAfter: 20))
        clock.advance(seconds: 20)
        XCTAssertNil(guard_.throttlePasswordAttempt(user: "hans", from: "127.0.0.1", now: clock.now()))
    }

    func testMessageAndRegistrationBudgetsAndTheSweep() {
        let guard_ = guardWith {
            $0.messages = RateLimit(2, per: 1_000)
            $0.registrationsPerAddress = RateLimit(1, per: 60_000)
        }
        XCTAssertNil(guard_.admitMessage(from: "hans", now: clock.now()))
        XCTAssertNil(guard_.admitMessage(from: "hans", now: clock.now()))
        XCTAssertEqual(guard_.admitMessage(from: "hans", now: clock.now()), 1)
        XCTAssertNil(guard_.admitMessage(from: "luke", now: clock.now()), "per user")
        XCTAssertNil(guard_.admitRegistration(from: "203.0.113.7", now: clock.now()))
        XCTAssertEqual(guard_.admitRegistration(from: "203.0.113.7", now: clock.now()), 60)
        XCTAssertNil(guard_.admitRegistration(from: nil, now: clock.now()), "not a network peer: no address budget")
        XCTAssertEqual(guard_.messages.trackedKeys, 2)
        clock.advance(seconds: 5)
        guard_.sweep(now: clock.now())
        XCTAssertEqual(guard_.messages.trackedKeys, 0, "refilled buckets are forgotten")
        XCTAssertEqual(guard_.registrationsPerAddress.trackedKeys, 1, "this one has not refilled yet")
        clock.advance(seconds: 60)
        guard_.sweep(now: clock.now())
        XCTAssertEqual(guard_.registrationsPerAddress.trackedKeys, 0)
    }

    // MARK: Inbox routing

    private func message(_ id: Int64, to: String = "luke") -> StoredMessage {
        StoredMessage(id: id, from: "hans", to: to, text: "m\(id)", at: clock.now())
    }

    func testRoutesToTheLiveSessionOrTheOfflineQueueWithTheRightStoreFix() {
        let inbox = InboxRouter()
        let luke = session(2)
        XCTAssertEqual(inbox.route(message(1), storedPending: false, live: luke), .live(luke, markDelivered: false))
        XCTAssertEqual(inbox.route(message(2), storedPending: true, live: luke), .live(luke, markDelivered: true),
                       "written as pending, then the recipient came online: it leaves the queue")
        XCTAssertEqual(inbox.route(message(3), storedPending: true, live: nil), .queued(markPending: false))
        XCTAssertEqual(inbox.route(message(4), storedPending: false, live: nil), .queued(markPending: true),
                       "written as delivered, then the recipient left: it joins the queue")
    }

    func testMessagesCommittedDuringALoginsReplayJoinItOnce() {
        let inbox = InboxRouter()
        let luke = session(2), stale = session(3)
        inbox.startReplay(of: "luke", into: luke)
        // Stored as pending: the offline fetch, queued after it, contains it already.
        XCTAssertEqual(inbox.route(message(1), storedPending: true, live: nil), .replaying)
        // Stored as delivered: the fetch cannot contain it, so it is handed over after the fetched ones.
        XCTAssertEqual(inbox.route(message(2), storedPending: false, live: nil), .replaying)
        XCTAssertEqual(inbox.route(message(3, to: "yoda"), storedPending: false, live: nil), .queued(markPending: true))
        XCTAssertEqual(inbox.finishReplay(of: "luke", into: stale), [], "only the session that started it")
        XCTAssertEqual(inbox.finishReplay(of: "luke", into: luke).map(\.id), [2])
        XCTAssertEqual(inbox.replayCount, 0)
        XCTAssertEqual(inbox.route(message(4), storedPending: false, live: nil), .queued(markPending: true))

        inbox.startReplay(of: "luke", into: luke)
        inbox.cancelReplay(of: "luke", into: stale)
        XCTAssertEqual(inbox.replayCount, 1, "another session's end leaves it alone")
        inbox.cancelReplay(of: "luke", into: luke)
        XCTAssertEqual(inbox.replayCount, 0)
    }

    // MARK: The text dialogue's line interpreter

    func testTheDialogueTurnsTypedLinesIntoPromptsAndRequests() {
        var dialogue = TextDialogue()
        let exists: (String) -> Bool = { $0 == "hans" }
        XCTAssertEqual(dialogue.interpret("  ", accountExists: exists), .write(Texts.usernamePrompt))
        XCTAssertEqual(dialogue.interpret(" hans ", accountExists: exists), .write(Texts.passwordPrompt))
        XCTAssertEqual(dialogue.interpret("solo", accountExists: exists),
                       .send(.login(user: "hans", credential: .password("solo"), peer: .none), .number(1)))
        XCTAssertEqual(dialogue.interpret("typed ahead", accountExists: exists), .none)
        _ = dialogue.render(.welcome(re: .number(1), user: "hans", token: "t", created: false))
        XCTAssertEqual(dialogue.phase, .commands)
        XCTAssertEqual(dialogue.interpret("whoelse", accountExists: exists), .send(.whoelse, .number(2)))
        XCTAssertEqual(dialogue.interpret("private luke hi", accountExists: exists),
                       .answer(Texts.privateNotEnabled("luke") + "\n"))
        XCTAssertEqual(dialogue.interpret("fly", accountExists: exists), .write(Texts.invalidCommand + "\n"))

        var newcomer = TextDialogue()
        XCTAssertEqual(newcomer.interpret("leia", accountExists: exists), .write(Texts.newUserPrompt))
        XCTAssertEqual(newcomer.interpret("alder", accountExists: exists),
                       .send(.register(user: "leia", password: "alder", peer: .none), .number(1)))
        var stranger = TextDialogue()
        XCTAssertEqual(stranger.interpret("no spaces allowed", accountExists: exists),
                       .write(Texts.invalidUser + "\n" + Texts.usernamePrompt))
    }
}
