import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Inboxes with seq and acks (docs/PROTOCOL.md §4, §7): every direct message has its recipient's seq, a client
/// with acks gets everything after its acked cursor at every login, and a client without acks keeps version 1's
/// behaviour. Driven with the manual clock and the in-memory store.
final class InboxDeliveryTests: XCTestCase {
    private func hub() -> HubHarness {
        HubHarness(accounts: [("hans", "solo"), ("luke", "sky"), ("leia", "alder")]) { $0.limits.messages = nil }
    }

    private func login(_ h: HubHarness, _ user: String, _ password: String, acks: Bool) -> ClientID {
        let client = h.connect()
        h.send(client, #"{"type":"login","user":"\#(user)","password":"\#(password)","acks":\#(acks)}"#)
        return client
    }

    private func send(_ h: HubHarness, _ from: ClientID, to: String, _ texts: [String]) {
        for text in texts { h.send(from, #"{"type":"message","to":"\#(to)","text":"\#(text)"}"#) }
        _ = h.events(from)
    }

    private func messages(_ events: [JSONValue]) -> [(seq: Int64, text: String, offline: Bool)] {
        events.filter { $0["type"]?.stringValue == "message" }.map {
            ($0["seq"]?.integerValue ?? -1, $0["text"]?.stringValue ?? "", $0["offline"] == .bool(true))
        }
    }

    func testEveryDirectMessageCarriesItsRecipientsSeqGapFree() {
        let h = hub()
        let hans = h.login("hans", "solo"), luke = h.login("luke", "sky")
        send(h, hans, to: "luke", ["a", "b"])
        send(h, hans, to: "leia", ["c"])
        send(h, hans, to: "luke", ["d"])
        XCTAssertEqual(messages(h.events(luke)).map(\.seq), [1, 2, 3], "leia's message has a seq of her own")
        let leia = login(h, "leia", "alder", acks: false)
        XCTAssertEqual(messages(h.events(leia)).map(\.seq), [1])
    }

    func testWhatAnAckingClientDidNotAckComesAgainAtTheNextLoginAndWhatItAckedDoesNot() {
        let h = hub()
        let hans = h.login("hans", "solo")
        var luke = login(h, "luke", "sky", acks: true)
        _ = h.events(luke)
        send(h, hans, to: "luke", ["one", "two", "three"])
        XCTAssertEqual(messages(h.events(luke)).map(\.text), ["one", "two", "three"])
        h.send(luke, #"{"type":"ack","seq":1}"#)
        XCTAssertEqual(h.events(luke), [], "an ack without an id gets no answer")
        h.hub.disconnected(luke)  // the connection drops with two messages received but not acknowledged
        luke = login(h, "luke", "sky", acks: true)
        let replay = messages(h.events(luke))
        XCTAssertEqual(replay.map(\.seq), [2, 3])
        XCTAssertEqual(replay.map(\.text), ["two", "three"])
        XCTAssertTrue(replay.allSatisfy(\.offline))
        h.send(luke, #"{"type":"ack","seq":3,"id":"a"}"#)
        XCTAssertEqual(h.events(luke).first?["type"]?.stringValue, "ok", "an ack with an id is answered")
        h.send(luke, #"{"type":"logout"}"#)
        luke = login(h, "luke", "sky", acks: true)
        XCTAssertEqual(h.types(luke), ["welcome"])
    }

    func testAClientWithoutAcksHasReceivedWhatWasHandedToItsConnection() {
        let h = hub()
        let hans = h.login("hans", "solo")
        var luke = login(h, "luke", "sky", acks: false)
        send(h, hans, to: "luke", ["live"])
        h.hub.disconnected(luke)
        send(h, hans, to: "luke", ["while away"])
        luke = login(h, "luke", "sky", acks: false)
        XCTAssertEqual(messages(h.events(luke)).map(\.text), ["while away"], "version 1: the live one is not sent again")
        h.hub.disconnected(luke)
        luke = login(h, "luke", "sky", acks: false)
        XCTAssertEqual(h.types(luke), ["welcome"], "offline messages come once")
    }

    func testAcksBeyondTheInboxAreBadRequestsAndAcksKeepNobodyLoggedIn() {
        let h = HubHarness(timeoutSeconds: 30, accounts: [("hans", "solo"), ("luke", "sky")])
        let hans = h.login("hans", "solo")
        let luke = login(h, "luke", "sky", acks: true)
        _ = h.events(luke)
        send(h, hans, to: "luke", ["x"])
        _ = h.events(luke)
        h.send(luke, #"{"type":"ack","seq":2,"id":1}"#)
        let error = h.events(luke).first
        XCTAssertEqual(error?["code"]?.stringValue, "bad_request")
        XCTAssertEqual(error?["message"]?.stringValue, "ack beyond the inbox: last seq is 1")
        h.send(luke, #"{"type":"ack","seq":-1}"#)
        XCTAssertEqual(h.events(luke).first?["code"]?.stringValue, "bad_request")
        h.send(luke, #"{"type":"ack","seq":"1"}"#)
        XCTAssertEqual(h.events(luke).first?["code"]?.stringValue, "bad_request")
        h.clock.advance(seconds: 20)
        h.send(luke, #"{"type":"ack","seq":1}"#)
        h.clock.advance(seconds: 11)
        h.hub.sweep()
        XCTAssertEqual(h.types(luke).last, "timeout", "30 s after the last command, acks or not")
    }

    func testALongInboxIsReplayedInPagesInOrderWithWhatArrivesMeanwhileAfterIt() {
        let h = hub()
        let hans = h.login("hans", "solo")
        let total = ChatService.replayPageSize * 2 + 500
        send(h, hans, to: "luke", (1...total).map { "m\($0)" })
        let luke = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"luke","password":"sky","acks":false}"#.utf8), from: luke)
        h.hasher.runPending()
        h.store.runPending()  // the password, then the first page: luke is online, the next page is queued
        h.hub.receive(Array(#"{"type":"message","to":"luke","text":"late"}"#.utf8), from: hans)
        h.settle()
        let seen = messages(h.events(luke))
        XCTAssertEqual(seen.map(\.seq), (1...Int64(total + 1)).map { $0 }, "every seq once, in order")
        XCTAssertEqual(seen.last?.text, "late")
        XCTAssertTrue(seen.dropLast().allSatisfy(\.offline))
    }

    func testAClientWithAcksPacesItsReplayPageByPageAndOneThatNeverAcksIsNotStalledForever() {
        let h = hub()
        let hans = h.login("hans", "solo")
        let page = ChatService.replayPageSize
        send(h, hans, to: "luke", (1...(page * 2 + 10)).map { "m\($0)" })
        let luke = login(h, "luke", "sky", acks: true)
        XCTAssertEqual(messages(h.events(luke)).count, page, "one page, then it waits for the client")
        send(h, hans, to: "luke", ["live"])
        XCTAssertEqual(h.events(luke), [], "a message arriving meanwhile waits behind the replay")
        h.send(luke, #"{"type":"ack","seq":\#(page)}"#)
        XCTAssertEqual(messages(h.events(luke)).map(\.seq), (Int64(page + 1)...Int64(page * 2)).map { $0 })
        h.clock.advance(seconds: Double(ChatService.replayAckPatience) / 1000)
        h.hub.sweep()
        h.settle()
        let rest = messages(h.events(luke))
        XCTAssertEqual(rest.map(\.seq), (Int64(page * 2 + 1)...Int64(page * 2 + 11)).map { $0 },
                       "no ack for too long: the replay goes on, then the live message follows it")
        XCTAssertEqual(rest.last?.text, "live")
    }

    func testAnAckReadsOnTheAckingUsersReplayOnlyWhileOthersStillWaitOnTheirs() {
        let h = hub()
        let hans = h.login("hans", "solo")
        let page = ChatService.replayPageSize
        send(h, hans, to: "luke", (1...(page + 3)).map { "l\($0)" })
        send(h, hans, to: "leia", (1...(page + 5)).map { "e\($0)" })
        let luke = login(h, "luke", "sky", acks: true), leia = login(h, "leia", "alder", acks: true)
        XCTAssertEqual(messages(h.events(luke)).count, page)
        XCTAssertEqual(messages(h.events(leia)).count, page)
        h.send(luke, #"{"type":"ack","seq":\#(page)}"#)
        XCTAssertEqual(messages(h.events(luke)).map(\.text), (page + 1...page + 3).map { "l\($0)" })
        XCTAssertEqual(h.events(leia), [], "luke's ack moves nobody else's replay")
        h.send(leia, #"{"type":"ack","seq":\#(page - 1)}"#)
        XCTAssertEqual(h.events(leia), [], "an ack short of the page it waits on reads nothing more")
        h.send(leia, #"{"type":"ack","seq":\#(page)}"#)
        XCTAssertEqual(messages(h.events(leia)).map(\.text), (page + 1...page + 5).map { "e\($0)" })
    }

    func testAFailedReplayReadKeepsTheClientsAcksFromMovingTheCursorPastWhatItNeverGot() {
        let h = hub()
        let hans = h.login("hans", "solo")
        send(h, hans, to: "luke", ["one", "two", "three"])
        var luke = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"luke","password":"sky","acks":true}"#.utf8), from: luke)
        h.hasher.runPending()
        h.store.failNextBatch(with: StoreError.closed)
        h.store.runPending()  // the first page of the replay cannot be read: luke is online without it
        XCTAssertEqual(h.types(luke), ["welcome"])
        send(h, hans, to: "luke", ["live"])
        XCTAssertEqual(messages(h.events(luke)).map(\.seq), [4])
        h.send(luke, #"{"type":"ack","seq":4,"id":1}"#)  // the highest seq shown, as a client acks
        XCTAssertEqual(h.types(luke), ["ok"], "a seq within the inbox is a valid ack")
        h.hub.disconnected(luke)
        h.hub.sweep()
        h.settle()
        luke = login(h, "luke", "sky", acks: true)
        XCTAssertEqual(messages(h.events(luke)).map(\.text), ["one", "two", "three", "live"],
                       "the replay that failed comes at the next login; the ack could not skip it")
    }

    func testAFailedReplayReadKeepsWhatIsHandedToAClientWithoutAcksFromMovingTheCursorPastIt() {
        let h = hub()
        let hans = h.login("hans", "solo")
        send(h, hans, to: "luke", ["one"])
        var luke = h.connect()
        h.hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: luke)
        h.hasher.runPending()
        h.store.failNextBatch(with: StoreError.closed)
        h.store.runPending()
        send(h, hans, to: "luke", ["live"])
        XCTAssertEqual(messages(h.events(luke)).map(\.seq), [2])
        h.hub.disconnected(luke)
        luke = login(h, "luke", "sky", acks: false)
        XCTAssertEqual(messages(h.events(luke)).map(\.text), ["one", "live"], "handing seq 2 over did not skip seq 1")
    }

    func testCursorMovesReachTheStoreAtTheSweepAndLoginHistorySurvivesARestart() throws {
        let h = hub()
        let hans = h.login("hans", "solo")
        let luke = login(h, "luke", "sky", acks: true)
        send(h, hans, to: "luke", ["a", "b"])
        h.send(luke, #"{"type":"ack","seq":2}"#)
        h.send(luke, #"{"type":"logout"}"#)
        XCTAssertEqual(try h.store.loadSnapshot().inboxes["luke"], InboxHead(last: 2, acked: 0), "not yet flushed")
        h.hub.sweep()
        h.settle()
        let snapshot = try h.store.loadSnapshot()
        XCTAssertEqual(snapshot.inboxes["luke"], InboxHead(last: 2, acked: 2))
        XCTAssertEqual(snapshot.lastSeen["luke"], h.clock.now())

        h.clock.advance(seconds: 30)
        let restarted = ChatService(configuration: HubConfiguration(blockDuration: 10_000, idleTimeout: 30_000),
                                    snapshot: snapshot, store: h.store, hasher: h.hasher, output: h.output,
                                    clock: h.clock)
        let reply = AsyncResult<ServerEvent>()
        restarted.handle(.whoelsesince(seconds: 60), from: "hans") { reply.set($0) }
        XCTAssertEqual(try reply.wait(), .users(re: nil, ["luke"]), "luke logged out before the restart")
    }

    func testAtTheStopEveryoneStillOnlineIsInTheLoginHistoryAndWaitingReadersAreAnswered() throws {
        let h = hub()
        let luke = login(h, "luke", "sky", acks: true)
        let hans = h.login("hans", "solo")
        send(h, hans, to: "luke", ["a"])
        h.send(luke, #"{"type":"ack","seq":1}"#)
        let waiting = h.rest(.inbox(after: 1, limit: 50, wait: 60), as: "leia")
        h.clock.advance(seconds: 42)
        h.hub.prepareToStop()
        h.settle()
        XCTAssertEqual(try waiting.wait(), .inbox(re: nil, messages: [], last: 0))
        let snapshot = try h.store.loadSnapshot()
        XCTAssertEqual(snapshot.lastSeen["luke"], h.clock.now(), "online until the stop, not only since the login")
        XCTAssertEqual(snapshot.lastSeen["hans"], h.clock.now())
        XCTAssertEqual(snapshot.inboxes["luke"]?.acked, 1, "the cursor reached the store before it closed")
    }

    func testARESTReaderWaitsForTheNextMessageOrItsDeadlineAndEndsWithItsToken() throws {
        let h = hub()
        let hans = h.login("hans", "solo")
        send(h, hans, to: "luke", ["first"])
        let now = h.rest(.inbox(after: nil, limit: 50, wait: 0), as: "luke")
        h.settle()
        guard case .inbox(_, let page, let last) = try now.wait() else { return XCTFail("not an inbox page") }
        XCTAssertEqual(page.map(\.text), ["first"])
        XCTAssertEqual(page.map(\.seq), [1])
        XCTAssertEqual(last, 1)

        let waiting = h.rest(.inbox(after: 1, limit: 50, wait: 20), as: "luke")
        h.settle()
        XCTAssertEqual(h.hub.inbox.waiterCount, 1, "nothing after 1 yet: it waits")
        send(h, hans, to: "luke", ["second"])
        h.settle()
        guard case .inbox(_, let news, _) = try waiting.wait() else { return XCTFail("not an inbox page") }
        XCTAssertEqual(news.map(\.text), ["second"])

        let quiet = h.rest(.inbox(after: 2, limit: 50, wait: 5), as: "luke")
        h.clock.advance(seconds: 5)
        h.hub.sweep()
        XCTAssertEqual(try quiet.wait(), .inbox(re: nil, messages: [], last: 2))

        let token = try XCTUnwrap(h.rest(.login(user: "luke", credential: .password("sky"), peer: .none), as: nil)
            .waitingFor(h).welcomeToken)
        let revoked = AsyncResult<ServerEvent>()
        h.hub.handle(.inbox(after: 2, limit: 50, wait: 60), from: "luke", bearerToken: token) { revoked.set($0) }
        XCTAssertTrue(h.hub.revokeToken(token))
        XCTAssertEqual(try revoked.wait(), .inbox(re: nil, messages: [], last: 2))

        let ack = h.rest(.ack(seq: 3), as: "luke")
        XCTAssertEqual(try ack.wait().errorCode, .badRequest)
        XCTAssertEqual(try h.rest(.ack(seq: 2), as: "luke").wait(), .ok(re: nil, .init()))
    }
}

extension AsyncResult where T == ServerEvent {
    /// Runs the harness's hasher and store until this reply is in, then returns it.
    func waitingFor(_ h: HubHarness) throws -> ServerEvent {
        h.settle()
        return try wait()
    }
}

extension ServerEvent {
    var welcomeToken: String? {
        if case .welcome(_, _, let token, _) = self { return token }
        return nil
    }
}
