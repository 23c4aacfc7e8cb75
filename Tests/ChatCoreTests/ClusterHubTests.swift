import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Three hubs joined by an in-memory bus act as one server (docs/SCALING.md): everything a user sees is what they
/// would see on one node, wherever each of them is connected.
final class ClusterHubTests: XCTestCase {
    private let people = [("hans", "solo"), ("luke", "sky"), ("leia", "alder")]

    private func cluster() throws -> ClusterHarness {
        try ClusterHarness(nodes: 3, accounts: people)
    }

    func testPresenceAndWhoelseSpanEveryNode() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")
        XCTAssertEqual(c[0].events(hans).last?["user"]?.stringValue, "luke", "hans sees luke come in")
        XCTAssertEqual(c[0].events(hans).count, 0)
        let leia = c[2].login("leia", "alder")
        XCTAssertEqual(c[0].events(hans).map { $0["state"]?.stringValue }, ["in"])
        XCTAssertEqual(c[1].events(luke).map { $0["user"]?.stringValue }, ["leia"])
        c[2].send(leia, #"{"type":"whoelse"}"#)
        XCTAssertEqual(c[2].events(leia).last?["users"], .array([.string("hans"), .string("luke")]))
        c[1].send(luke, #"{"type":"logout"}"#)
        XCTAssertEqual(c[0].events(hans).last?["state"]?.stringValue, "out")
        XCTAssertEqual(c[2].events(leia).last?["state"]?.stringValue, "out")
        c[2].send(leia, #"{"type":"whoelse"}"#)
        XCTAssertEqual(c[2].events(leia).last?["users"], .array([.string("hans")]))
        c.advance(seconds: 5)
        c[0].send(hans, #"{"type":"whoelsesince","seconds":60}"#)
        XCTAssertEqual(c[0].events(hans).last?["users"], .array([.string("leia"), .string("luke")]))
    }

    func testAlreadyOnlineHoldsAcrossNodes() throws {
        let c = try cluster()
        _ = c[0].login("hans", "solo")
        let again = c[1].connect()
        c[1].send(again, #"{"type":"login","user":"hans","password":"solo"}"#)
        XCTAssertEqual(c[1].events(again).last?["code"]?.stringValue, "already_online")
    }

    func testAClaimRacingAnotherNodeLosesWithAlreadyOnline() throws {
        let c = try cluster()
        // Both logins pass their password checks before either claim comes back.
        let first = c[0].connect(), second = c[2].connect()
        c[0].hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: first)
        c[2].hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: second)
        c.settle()
        let outcomes = [c[0].types(first).first, c[2].types(second).first]
        XCTAssertEqual(outcomes.filter { $0 == "welcome" }.count, 1, "\(outcomes)")
        XCTAssertEqual(outcomes.filter { $0 == "error" }.count, 1, "\(outcomes)")
    }

    func testDirectMessagesCrossNodesLiveAndOffline() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")
        _ = c[0].events(hans)
        c[0].send(hans, #"{"type":"message","to":"luke","text":"hello","id":1}"#)
        let ok = c[0].events(hans).last
        XCTAssertEqual(ok?["type"]?.stringValue, "ok")
        XCTAssertEqual(ok?["stored"]?.boolValue, false, "delivered live on the other node")
        let live = c[1].events(luke).last
        XCTAssertEqual(live?["text"]?.stringValue, "hello")
        XCTAssertEqual(live?["seq"]?.integerValue, 1)
        XCTAssertEqual(live?["id"], ok?["id"], "one id, chosen by the shared store")
        // leia is offline: her message waits in the store and reaches her on whichever node she logs in at.
        c[0].send(hans, #"{"type":"message","to":"leia","text":"are you there?"}"#)
        XCTAssertEqual(c[0].events(hans).last?["stored"]?.boolValue, true)
        let leia = c[2].connect()
        c[2].send(leia, #"{"type":"login","user":"leia","password":"alder"}"#)
        let events = c[2].events(leia)
        XCTAssertEqual(events.map { $0["type"]?.stringValue }, ["welcome", "message"])
        XCTAssertEqual(events.last?["offline"]?.boolValue, true)
        XCTAssertEqual(events.last?["text"]?.stringValue, "are you there?")
    }

    func testBroadcastReachesEveryNodeAndThePartialFlagSeesRemoteBlocks() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")
        let leia = c[2].login("leia", "alder")
        c[2].send(leia, #"{"type":"block","user":"hans"}"#)
        XCTAssertEqual(c[2].events(leia).last?["type"]?.stringValue, "ok")
        _ = c[0].events(hans); _ = c[1].events(luke)
        c[0].send(hans, #"{"type":"broadcast","text":"all hands"}"#)
        let ok = c[0].events(hans).last
        XCTAssertEqual(ok?["partial"]?.boolValue, true, "leia, on another node, blocked hans")
        XCTAssertEqual(c[1].events(luke).last?["text"]?.stringValue, "all hands")
        XCTAssertEqual(c[2].types(leia), [], "a blocker gets nothing")
        // The block is in force on hans's node too: his direct message is refused there.
        c[0].send(hans, #"{"type":"message","to":"leia","text":"hi"}"#)
        XCTAssertEqual(c[0].events(hans).last?["code"]?.stringValue, "blocked")
        c[1].send(luke, #"{"type":"broadcast","text":"second"}"#)
        let second = c[1].events(luke).last
        XCTAssertEqual(second?["partial"]?.boolValue, false)
        XCTAssertNotEqual(second?["id"], ok?["id"], "broadcast ids are unique across nodes")
        XCTAssertEqual(c[2].events(leia).last?["text"]?.stringValue, "second")
    }

    func testLockoutCountsWrongPasswordsOnEveryNode() throws {
        let c = try cluster()
        for node in 0..<3 {
            let client = c[node].connect()
            c[node].send(client, #"{"type":"login","user":"leia","password":"wrong"}"#)
            XCTAssertEqual(c[node].events(client).last?["code"]?.stringValue, "bad_password", "node \(node)")
        }
        for node in 0..<3 {
            let client = c[node].connect()
            c[node].send(client, #"{"type":"login","user":"leia","password":"alder"}"#)
            XCTAssertEqual(c[node].events(client).last?["code"]?.stringValue, "locked", "node \(node)")
        }
    }

    func testAccountsAndTokensMadeOnOneNodeWorkOnAnother() throws {
        let c = try cluster()
        let rey = c[0].connect()
        c[0].send(rey, #"{"type":"register","user":"rey","password":"jakku"}"#)
        let welcome = c[0].events(rey).first
        XCTAssertEqual(welcome?["created"]?.boolValue, true)
        let token = try XCTUnwrap(welcome?["token"]?.stringValue)
        let hans = c[1].login("hans", "solo")
        c[1].send(hans, #"{"type":"message","to":"rey","text":"welcome aboard"}"#)
        XCTAssertEqual(c[1].events(hans).last?["type"]?.stringValue, "ok", "the account is known on node 1")
        XCTAssertEqual(c[0].events(rey).last?["text"]?.stringValue, "welcome aboard")
        // A second registration of the name elsewhere is refused.
        let copy = c[2].connect()
        c[2].send(copy, #"{"type":"register","user":"rey","password":"other"}"#)
        XCTAssertEqual(c[2].events(copy).last?["code"]?.stringValue, "user_exists")
        // The page reloads onto another node and resumes with its token.
        c[0].hub.disconnected(rey)
        c.settle()
        let resumed = c[2].connect()
        c[2].send(resumed, #"{"type":"login","user":"rey","token":"\#(token)"}"#)
        XCTAssertEqual(c[2].events(resumed).first?["type"]?.stringValue, "welcome")
    }

    func testPrivateChatIsBrokeredBetweenNodes() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo", p2pPort: 40001)
        let luke = c[1].login("luke", "sky", p2pPort: 40002)
        _ = c[0].events(hans)
        c[0].send(hans, #"{"type":"startprivate","user":"luke"}"#)
        XCTAssertEqual(c[0].types(hans), ["ok"])
        XCTAssertEqual(c[1].events(luke).last?["from"]?.stringValue, "hans")
        c[1].send(luke, #"{"type":"privatereply","user":"hans","accept":true}"#)
        let lukeSide = c[1].events(luke)
        XCTAssertEqual(lukeSide.map { $0["type"]?.stringValue }, ["ok", "private_pending"])
        let accepted = try XCTUnwrap(c[0].events(hans).last)
        XCTAssertEqual(accepted["type"]?.stringValue, "private_accepted")
        XCTAssertEqual(accepted["port"]?.integerValue, 40002)
        XCTAssertEqual(accepted["host"]?.stringValue, "127.0.0.1")
        XCTAssertEqual(accepted["token"], lukeSide.last?["token"])
        // A second request that luke declines, then one that expires.
        c[1].send(luke, #"{"type":"logout"}"#)
        _ = c[0].events(hans)
        c[0].send(hans, #"{"type":"startprivate","user":"luke"}"#)
        XCTAssertEqual(c[0].events(hans).last?["code"]?.stringValue, "offline")
    }

    func testSignalsCrossNodesWithinAnAcceptedWebRTCPair() throws {
        let c = try cluster()
        let hans = c[0].connect(), luke = c[1].connect()
        c[0].send(hans, #"{"type":"login","user":"hans","password":"solo","webrtc":true}"#)
        c[1].send(luke, #"{"type":"login","user":"luke","password":"sky","webrtc":true}"#)
        _ = c[0].events(hans); _ = c[1].events(luke)
        c[0].send(hans, #"{"type":"signal","to":"luke","data":{"sdp":"x"}}"#)
        XCTAssertEqual(c[0].events(hans).last?["code"]?.stringValue, "no_session")
        c[0].send(hans, #"{"type":"startprivate","user":"luke"}"#)
        c[1].send(luke, #"{"type":"privatereply","user":"hans","accept":true}"#)
        _ = c[0].events(hans); _ = c[1].events(luke)
        c[0].send(hans, #"{"type":"signal","to":"luke","data":{"sdp":"x"}}"#)
        XCTAssertEqual(c[0].types(hans), ["ok"])
        XCTAssertEqual(c[1].events(luke).last?["data"]?["sdp"]?.stringValue, "x")
    }

    func testASilentNodesUsersGoOutEverywhere() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        _ = c[1].login("luke", "sky")
        _ = c[0].events(hans)
        c.bus.cutOff("node1")  // as if its process were killed: it sends nothing more
        c.advance(seconds: 9, sweeping: [0, 2])
        XCTAssertEqual(c[0].types(hans), [], "not yet: a node gets nodeTimeout to be heard from")
        c.advance(seconds: 2, sweeping: [0, 2])
        XCTAssertEqual(c[0].events(hans).last?["state"]?.stringValue, "out")
        XCTAssertEqual(c[0].hub.metricsSnapshot().clusterNodesLost, 1)
        c[0].send(hans, #"{"type":"whoelse"}"#)
        XCTAssertEqual(c[0].events(hans).last?["users"], .array([]))
        // Once the dead node's claims expire, luke can log in elsewhere.
        c.bus.expireClaims(of: "node1")
        let again = c[2].connect()
        c[2].send(again, #"{"type":"login","user":"luke","password":"sky"}"#)
        XCTAssertEqual(c[2].types(again).first, "welcome")
    }

    func testMessagesLostWithTheBusComeWhenItIsBack() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")
        _ = c[1].events(luke)
        c.bus.cutOff("node1")
        c[1].hub.clusterLinkChanged(up: false)
        c[0].send(hans, #"{"type":"message","to":"luke","text":"while you were away"}"#)
        XCTAssertEqual(c[0].events(hans).last?["type"]?.stringValue, "ok")
        XCTAssertEqual(c[1].types(luke), [], "the notice was lost")
        c.bus.reconnect("node1")
        c[1].hub.clusterLinkChanged(up: true)
        c.settle()
        let events = c[1].events(luke)
        XCTAssertEqual(events.map { $0["text"]?.stringValue }, ["while you were away"])
        XCTAssertEqual(events.first?["seq"]?.integerValue, 1)
    }

    func testANodeBackOnTheBusReadsWhatItMissedFromTheStore() throws {
        let c = try cluster()
        c.bus.cutOff("node1")
        c[1].hub.clusterLinkChanged(up: false)
        let rey = c[0].connect()
        c[0].send(rey, #"{"type":"register","user":"rey","password":"jakku"}"#)
        XCTAssertEqual(c[0].types(rey).first, "welcome")
        let hans = c[0].login("hans", "solo")
        c[0].send(hans, #"{"type":"block","user":"luke"}"#)
        XCTAssertFalse(c[1].hub.serialized { c[1].hub.accounts.exists("rey") }, "node 1 missed the notice")
        c.bus.reconnect("node1")
        c[1].hub.clusterLinkChanged(up: true)
        let deadline = Date().addingTimeInterval(5)
        while !c[1].hub.serialized({ c[1].hub.accounts.exists("rey") }) && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(c[1].hub.serialized { c[1].hub.accounts.exists("rey") }, "the account, from the store")
        XCTAssertTrue(c[1].hub.serialized { c[1].hub.blocks.hasBlocked("hans", "luke") }, "the block, from the store")
    }

    func testALoginForAnAccountWhoseNoticeHasNotArrivedAsksTheStore() throws {
        let c = try cluster()
        // Created on some node whose notice is still on its way: only the store knows it.
        let done = AsyncResult<Result<Void, any Error>>()
        c.store.perform([.createAccount(AccountRecord(name: "rey", passwordHash: QueuedHasher.encode("jakku"),
                                                      createdAt: 0))]) { done.set($0) }
        c.settle()
        XCTAssertNoThrow(try done.wait().get())
        let lookup = c[1].connect()
        c[1].send(lookup, #"{"type":"lookup","user":"rey"}"#)
        XCTAssertEqual(c[1].events(lookup).last?["exists"]?.boolValue, true)
        let rey = c[2].connect()
        c[2].send(rey, #"{"type":"login","user":"rey","password":"jakku"}"#)
        XCTAssertEqual(c[2].types(rey).first, "welcome")
        let ghost = c[0].connect()
        c[0].send(ghost, #"{"type":"login","user":"ghost","password":"boo"}"#)
        XCTAssertEqual(c[0].events(ghost).last?["code"]?.stringValue, "no_such_user")
        let basic = AsyncResult<Result<String, ChatError>>()
        c[0].hub.authenticate(.basic(user: "rey", password: "jakku")) { basic.set($0) }
        c.settle()
        XCTAssertEqual(try basic.wait().get(), "rey", "REST Basic on a third node")
    }

    func testATokenHandedOutOnAnotherNodeAMomentAgoIsAskedOfTheStore() throws {
        let c = try cluster()
        c.bus.mute("node0", true)  // the token notice is still on its way
        let login = c[0].rest(.login(user: "leia", credential: .password("alder"), peer: .none, acks: false), as: nil)
        c.settle()
        c.bus.mute("node0", false)
        guard case .welcome(_, _, let token, _)? = login.current else { return XCTFail("no token") }
        let bearer = AsyncResult<Result<String, ChatError>>()
        c[1].hub.authenticate(.bearer(token)) { bearer.set($0) }
        c.settle()
        XCTAssertEqual(try bearer.wait().get(), "leia")
        let socket = c[2].connect()
        c[2].send(socket, #"{"type":"login","user":"leia","token":"\#(token)"}"#)
        XCTAssertEqual(c[2].types(socket).first, "welcome")
        let forged = AsyncResult<Result<String, ChatError>>()
        c[1].hub.authenticate(.bearer("not-a-token")) { forged.set($0) }
        c.settle()
        XCTAssertEqual(try forged.wait().failureCode, .badToken)
    }

    func testACursorMovedOnOneNodeHoldsOnTheNext() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")  // no acks: what is handed over counts as received
        for i in 1...3 { c[0].send(hans, #"{"type":"message","to":"luke","text":"m\#(i)"}"#) }
        XCTAssertEqual(c[1].events(luke).count, 3)
        c[1].send(luke, #"{"type":"logout"}"#)
        c.sweep()
        c[0].send(hans, #"{"type":"message","to":"luke","text":"m4"}"#)
        let again = c[2].connect()
        c[2].send(again, #"{"type":"login","user":"luke","password":"sky"}"#)
        let texts = c[2].events(again).compactMap { $0["text"]?.stringValue }
        XCTAssertEqual(texts, ["m4"], "node 2 knows the cursor node 1 moved: nothing shown twice")
    }

    func testAMessageCommittedBeforeTheOnlineNoticeArrivesComesSoonAfter() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        c.bus.mute("node1", true)  // luke's online notice is lost on the way
        let luke = c[1].login("luke", "sky")
        c.bus.mute("node1", false)
        c[0].send(hans, #"{"type":"message","to":"luke","text":"early"}"#)
        XCTAssertEqual(c[0].events(hans).last?["stored"]?.boolValue, true, "node 0 thinks luke is offline")
        XCTAssertEqual(c[1].types(luke), [])
        c.advance(seconds: 1)
        XCTAssertEqual(c[1].events(luke).compactMap { $0["text"]?.stringValue }, ["early"])
    }

    /// The second look after a login reads a message from the store while its notice from the sending node is
    /// still on the way: the recipient gets it once, from the look, and not again when the notice arrives.
    func testAMessageReplayedBeforeItsNoticeArrivesIsShownOnce() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        let luke = c[1].login("luke", "sky")
        _ = c[1].events(luke)
        c.bus.holdSends(to: "node1", true)
        c[0].send(hans, #"{"type":"message","to":"luke","text":"once"}"#)
        XCTAssertEqual(c[0].events(hans).last?["type"]?.stringValue, "ok")
        XCTAssertEqual(c[1].types(luke), [], "the notice is on its way")
        c.advance(seconds: 1)
        XCTAssertEqual(c[1].events(luke).compactMap { $0["text"]?.stringValue }, ["once"], "read from the store")
        c.bus.holdSends(to: "node1", false)
        c.settle()
        XCTAssertEqual(c[1].types(luke), [], "the notice came late and brought nothing new")
        c[0].send(hans, #"{"type":"message","to":"luke","text":"twice"}"#)
        XCTAssertEqual(c[1].events(luke).compactMap { $0["text"]?.stringValue }, ["twice"], "and live again after")
    }

    func testRestAcksOnAnyNodeSeeTheWholeInbox() throws {
        let c = try cluster()
        let hans = c[0].login("hans", "solo")
        for i in 1...2 { c[0].send(hans, #"{"type":"message","to":"leia","text":"m\#(i)"}"#) }
        // Node 2 never saw these messages committed; it reads the head from the store.
        let ack = c[2].rest(.ack(seq: 2), as: "leia")
        c.settle()
        XCTAssertEqual(ack.current?.errorCode, nil, "\(String(describing: ack.current))")
        let beyond = c[1].rest(.ack(seq: 3), as: "leia")
        c.settle()
        XCTAssertEqual(beyond.current?.errorCode, .badRequest)
        let read = c[1].rest(.inbox(after: nil, limit: 50, wait: 0), as: "leia")
        c.settle()
        guard case .inbox(_, let messages, let last)? = read.current else { return XCTFail("no inbox") }
        XCTAssertEqual(messages, [], "the cursor acked on node 2 is the default on node 1")
        XCTAssertEqual(last, 2)
    }

    func testARestReaderOnAnotherNodeIsWokenByAMessage() throws {
        let c = try cluster()
        let reader = c[2].rest(.inbox(after: nil, limit: 50, wait: 30), as: "leia")
        c.settle()
        XCTAssertNil(reader.current, "nothing yet: the reader waits")
        let hans = c[0].login("hans", "solo")
        c[0].send(hans, #"{"type":"message","to":"leia","text":"wake up"}"#)
        guard case .inbox(_, let messages, let last)? = reader.current else {
            return XCTFail("the reader got \(String(describing: reader.current))")
        }
        XCTAssertEqual(messages.map(\.text), ["wake up"])
        XCTAssertEqual(last, 1)
    }
}

private extension Result where Failure == ChatError {
    var failureCode: ErrorCode? {
        if case .failure(let error) = self { return error.code }
        return nil
    }
}
