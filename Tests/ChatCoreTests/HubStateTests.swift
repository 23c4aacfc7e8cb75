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

        presence.setOffline("luke")
        presence.setSeen("luke", at: clock.now())
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

    // MARK: Inboxes

    private func message(_ id: Int64, seq: Int64, to: String = "luke") -> StoredMessage {
        StoredMessage(id: id, seq: seq, from: "hans", to: to, text: "m\(id)", at: clock.now())
    }

    func testAcksMoveTheCursorForwardOnlyWithinTheInboxAndAreCoalescedIntoOneWritePerUser() {
        let inbox = Inboxes(["luke": InboxHead(last: 3, acked: 1)])
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 4), .beyondInbox(last: 3))
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 1), .unchanged, "at the cursor: nothing to do")
        XCTAssertFalse(inbox.hasUnsavedCursors)
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 2), .advanced)
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 3), .advanced)
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 2), .unchanged, "a late, lower ack never moves it back")
        inbox.committed(message(9, seq: 4))
        XCTAssertEqual(inbox.head(of: "luke"), InboxHead(last: 4, acked: 3))
        XCTAssertEqual(inbox.takeCursorWrites(), [.advanceCursor(user: "luke", to: 3)], "one write for three acks")
        XCTAssertEqual(inbox.takeCursorWrites(), [])
        XCTAssertEqual(inbox.acknowledge("leia", upTo: 0), .unchanged, "an empty inbox takes an ack of 0")
        XCTAssertEqual(inbox.acknowledge("leia", upTo: 1), .beyondInbox(last: 0))
    }

    func testAMessageHandedToASessionWithoutAcksMovesBothCountsAndIsWrittenOnceWhateverComesBetween() {
        let inbox = Inboxes(["luke": InboxHead(last: 2, acked: 2)])
        for seq in Int64(3)...5 { inbox.committed(message(seq, seq: seq), receivedUnder: nil) }
        XCTAssertEqual(inbox.head(of: "luke"), InboxHead(last: 5, acked: 5))
        inbox.committed(message(6, seq: 6), receivedUnder: 5)
        XCTAssertEqual(inbox.head(of: "luke"), InboxHead(last: 6, acked: 5), "the session's ceiling holds the cursor")
        inbox.committed(message(7, seq: 1, to: "leia"), receivedUnder: nil)
        XCTAssertEqual(inbox.takeCursorWrites(), [.advanceCursor(user: "luke", to: 5), .advanceCursor(user: "leia", to: 1)],
                       "one write per user for many moves")
        XCTAssertFalse(inbox.hasUnsavedCursors)

        // A logout writes the cursor at once; the flush after it has nothing more to write for that user, unless
        // the cursor moved again after the logout's write.
        XCTAssertEqual(inbox.acknowledge("luke", upTo: 6), .advanced)
        XCTAssertEqual(inbox.takeCursorWrite(of: "luke"), .advanceCursor(user: "luke", to: 6))
        XCTAssertNil(inbox.takeCursorWrite(of: "luke"))
        XCTAssertEqual(inbox.takeCursorWrites(), [], "the logout wrote it")
        XCTAssertEqual(inbox.acknowledge("leia", upTo: 1), .unchanged)
        inbox.committed(message(8, seq: 2, to: "leia"), receivedUnder: nil)
        XCTAssertEqual(inbox.takeCursorWrite(of: "leia"), .advanceCursor(user: "leia", to: 2))
        inbox.committed(message(9, seq: 3, to: "leia"), receivedUnder: nil)
        XCTAssertEqual(inbox.takeCursorWrites(), [.advanceCursor(user: "leia", to: 3)], "listed once, written at its latest")

        // A cursor another node saved in the shared store needs no write from here.
        inbox.merge("yoda", InboxHead(last: 4, acked: 4))
        XCTAssertEqual(inbox.acknowledge("yoda", upTo: 3), .unchanged)
        XCTAssertFalse(inbox.hasUnsavedCursors)
        XCTAssertEqual(inbox.acknowledge("yoda", upTo: 4), .unchanged)
        inbox.committed(message(10, seq: 5, to: "yoda"))
        XCTAssertEqual(inbox.head(of: "yoda"), InboxHead(last: 5, acked: 4), "committed alone moves no cursor")
        XCTAssertEqual(inbox.takeCursorWrites(), [])
    }

    func testMessagesCommittedDuringAReplayFollowItOnceInSeqOrder() {
        let inbox = Inboxes(["luke": InboxHead(last: 2, acked: 0)])
        let luke = session(2), stale = session(3)
        inbox.startReplay(of: "luke", into: luke)
        XCTAssertTrue(inbox.holdForReplay(message(2, seq: 2)), "committed before the read: also in the page")
        XCTAssertTrue(inbox.holdForReplay(message(4, seq: 4)))
        XCTAssertTrue(inbox.holdForReplay(message(3, seq: 3)))
        XCTAssertFalse(inbox.holdForReplay(message(5, seq: 1, to: "yoda")), "no replay for yoda")
        inbox.replayed("luke", upTo: 2)
        XCTAssertEqual(inbox.finishReplay(of: "luke", into: stale), [], "only the session that started it")
        XCTAssertEqual(inbox.finishReplay(of: "luke", into: luke).map(\.seq), [3, 4], "seq 2 came with the page")
        XCTAssertEqual(inbox.replayCount, 0)
        XCTAssertFalse(inbox.holdForReplay(message(6, seq: 5)))

        inbox.startReplay(of: "luke", into: luke)
        inbox.cancelReplay(of: "luke", into: stale)
        XCTAssertEqual(inbox.replayCount, 1, "another session's end leaves it alone")
        inbox.cancelReplay(of: "luke", into: luke)
        XCTAssertEqual(inbox.replayCount, 0)
    }

    func testWaitingReadersWakeOnANewerMessageOrEndAtTheirDeadlineOrWithTheirToken() {
        let inbox = Inboxes([:])
        let early = session(4), late = session(5), revoked = session(6)
        revoked.tokenDigest = "digest"
        inbox.wait("luke", .init(session: early, after: 0, limit: 50, deadline: 1_000, re: nil))
        inbox.wait("luke", .init(session: late, after: 1, limit: 50, deadline: 5_000, re: nil))
        inbox.wait("leia", .init(session: revoked, after: 0, limit: 50, deadline: 5_000, re: nil))
        XCTAssertEqual(inbox.wake("luke", seq: 1).map(\.session.id), [early.id], "seq 1 is news only after 0")
        XCTAssertEqual(inbox.expire(now: 4_999).count, 0)
        XCTAssertEqual(inbox.expire(token: "digest").map(\.session.id), [revoked.id])
        XCTAssertEqual(inbox.expire(now: 5_000).map(\.session.id), [late.id])
        XCTAssertEqual(inbox.waiterCount, 0)
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
