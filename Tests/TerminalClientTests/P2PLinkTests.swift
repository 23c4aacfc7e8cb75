import XCTest
import ChatCore
@testable import CLI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `PrivateSessions` over real loopback sockets, with the test playing the other client byte by byte: the
/// hello handling of the listener (the server's token, once, for that user; held while the token is on its way),
/// hostile input closing only its own link, and the asker's side. Time is pushed forward through the `now`
/// the sessions are given, so the 5 s hold and the timeouts cost no waiting.
final class P2PLinkTests: XCTestCase {
    private var serverSide: Int32 = -1
    private var clientSide: Int32 = -1
    private var sessions: PrivateSessions!

    override func setUp() {
        // The listener binds beside the connection to the server; a loopback pair stands in for it.
        let (listener, port) = Self.makeListener()
        clientSide = Self.dial(port)
        serverSide = accept(listener, nil, nil)
        close(listener)
        sessions = PrivateSessions(listener: PeerListener.open(beside: clientSide))
        sessions.user = "luke"
    }

    override func tearDown() {
        sessions.closeAll(announcingLogout: false)
        close(serverSide)
        close(clientSide)
    }

    private var port: Int {
        guard case .tcp(let port) = sessions.capability else { XCTFail("no listener"); return 0 }
        return port
    }

    // MARK: The listener's side

    func testTheServersTokenOpensTheLinkAndTextFlowsBothWays() {
        sessions.consented(to: "hans", now: .now)
        XCTAssertEqual(sessions.pending(from: "hans", token: "tok", now: .now), [])
        let hans = RawPeer(port: port)
        hans.say(#"{"type":"p2p_hello","from":"hans","token":"tok"}"# + "\n" + #"{"type":"private","text":"hi luke"}"# + "\n")
        XCTAssertEqual(pump(until: { $0.count == 1 }), ["hans(private): hi luke"])
        XCTAssertEqual(sessions.send("hi hans", to: "hans"), [])
        XCTAssertEqual(hans.readLine(), #"{"type":"private","text":"hi hans"}"#)
        XCTAssertEqual(sessions.peers, ["hans"])
    }

    func testATokenWorksOnceAndOnlyForItsUser() {
        sessions.consented(to: "hans", now: .now)
        _ = sessions.pending(from: "hans", token: "tok", now: .now)
        let leia = RawPeer(port: port)
        leia.say(#"{"type":"p2p_hello","from":"leia","token":"tok"}"# + "\n")
        let hans = RawPeer(port: port)
        hans.say(#"{"type":"p2p_hello","from":"hans","token":"tok"}"# + "\n")
        let replay = RawPeer(port: port)
        pump()
        replay.say(#"{"type":"p2p_hello","from":"hans","token":"tok"}"# + "\n")
        pump()
        XCTAssertFalse(leia.isClosed(), "held: its token might still be on its way")
        pump(offset: .seconds(6))
        XCTAssertTrue(leia.isClosed(), "another user's token")
        XCTAssertTrue(replay.isClosed(), "a token already used")
        XCTAssertFalse(hans.isClosed())
        XCTAssertEqual(sessions.send("still here", to: "hans"), [])
        XCTAssertEqual(hans.readLine(), #"{"type":"private","text":"still here"}"#)
    }

    func testAHelloBeforeItsTokenIsHeldThenAccepted() {
        let hans = RawPeer(port: port)
        hans.say(#"{"type":"p2p_hello","from":"hans","token":"late"}"# + "\n" + #"{"type":"private","text":"early bird"}"# + "\n")
        XCTAssertEqual(pump(), [], "nothing is shown before the hello is accepted")
        sessions.consented(to: "hans", now: .now)
        XCTAssertEqual(sessions.pending(from: "hans", token: "late", now: .now), ["hans(private): early bird"])
        XCTAssertFalse(hans.isClosed())
    }

    func testBadFirstLinesCloseOnlyTheirOwnLink() {
        sessions.consented(to: "hans", now: .now)
        _ = sessions.pending(from: "hans", token: "tok", now: .now)
        let hans = RawPeer(port: port)
        hans.say(#"{"type":"p2p_hello","from":"hans","token":"tok"}"# + "\n")
        pump()
        let hostile = [
            "garbage\n",
            #"{"type":"private","text":"no hello"}"# + "\n",
            #"{"type":"p2p_hello","from":"hans"}"# + "\n",
            "{\"type\":\"p2p_hello\",\"from\":\"" + String(repeating: "x", count: 70_000),
            "\n",
        ].map { bytes -> RawPeer in
            let peer = RawPeer(port: port)
            peer.say(bytes)
            return peer
        }
        let silent = RawPeer(port: port)
        XCTAssertEqual(pump(), [])
        for (i, peer) in hostile.enumerated() { XCTAssertTrue(peer.isClosed(), "hostile connection \(i)") }
        XCTAssertFalse(silent.isClosed())
        pump(offset: PrivateSessions.greetingTimeout + .seconds(1))
        XCTAssertTrue(silent.isClosed(), "a connection that never says hello")
        XCTAssertEqual(sessions.send("unharmed", to: "hans"), [])
        XCTAssertEqual(hans.readLine(), #"{"type":"private","text":"unharmed"}"#)
    }

    func testABrokenLineFromTheAuthenticatedPeerEndsTheSession() {
        let hans = openSession(with: "hans")
        hans.say("{nope\n")
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["Error. hans is no longer reachable"])
        XCTAssertTrue(hans.isClosed())
        XCTAssertEqual(sessions.send("x", to: "hans"), ["Error. hans is no longer reachable"], "said once more")
        XCTAssertEqual(sessions.send("x", to: "hans"), ["Error. Private messaging to hans not enabled"])
    }

    func testALineOfExactlyTheLimitIsTakenAndOneByteMoreEndsTheSession() {
        let hans = openSession(with: "hans")
        func line(_ length: Int) -> String {
            let frame = #"{"type":"private","text":""}"#
            return #"{"type":"private","text":""# + String(repeating: "x", count: length - frame.utf8.count) + #""}"#
        }
        hans.say(line(PeerMessage.maxLine) + "\r\n")
        let taken = pump(until: { !$0.isEmpty })
        XCTAssertEqual(taken.count, 1)
        XCTAssertTrue(taken.first?.hasPrefix("hans(private): xxx") ?? false)
        hans.say(line(PeerMessage.maxLine + 1) + "\n")
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["Error. hans is no longer reachable"])
        XCTAssertTrue(hans.isClosed())
    }

    func testStopLogoutAndUnknownTypesFromThePeer() {
        let hans = openSession(with: "hans")
        hans.say(#"{"type":"typing"}"# + "\n" + #"{"type":"stopprivate"}"# + "\n")
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["hans stopped private messaging"])
        XCTAssertTrue(hans.isClosed())
        XCTAssertEqual(sessions.stop("hans", now: .now), ["Error. No private messaging session with hans"])

        let leia = openSession(with: "leia")
        leia.say(#"{"type":"logout"}"# + "\n")
        leia.shutdownWrite()
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["leia logged out, private chat concluding"],
                       "the close right after the logout is not reported as well")
    }

    func testTextTypedBeforeTheLinkWaitsForIt_andAStopBeforeItIsDeliveredOnArrival() {
        sessions.consented(to: "hans", now: .now)
        XCTAssertEqual(sessions.send("queued", to: "hans"), [])
        _ = sessions.pending(from: "hans", token: "t1", now: .now)
        let hans = RawPeer(port: port)
        hans.say(#"{"type":"p2p_hello","from":"hans","token":"t1"}"# + "\n")
        pump()
        XCTAssertEqual(hans.readLine(), #"{"type":"private","text":"queued"}"#)

        sessions.consented(to: "leia", now: .now)
        _ = sessions.pending(from: "leia", token: "t2", now: .now)
        XCTAssertEqual(sessions.stop("leia", now: .now), [])
        let leia = RawPeer(port: port)
        leia.say(#"{"type":"p2p_hello","from":"leia","token":"t2"}"# + "\n")
        pump()
        XCTAssertEqual(leia.readLine(), #"{"type":"stopprivate"}"#)
        XCTAssertTrue(leia.isClosed())
    }

    func testAnAskerThatNeverConnectsIsNoLongerReachable() {
        sessions.consented(to: "hans", now: .now)
        XCTAssertEqual(pump(offset: TokenBook.lifetime + .seconds(1)), ["Error. hans is no longer reachable"])
        XCTAssertEqual(sessions.peers, [])
    }

    func testLogoutIsAnnouncedToEveryPeer() {
        let hans = openSession(with: "hans")
        let leia = openSession(with: "leia")
        sessions.closeAll(announcingLogout: true)
        for peer in [hans, leia] {
            XCTAssertEqual(peer.readLine(), #"{"type":"logout"}"#)
            XCTAssertTrue(peer.isClosed())
        }
    }

    // MARK: The asker's side

    func testTheAskerConnectsPresentsTheTokenAndNoticesTheLinkDying() {
        let (listener, peerPort) = Self.makeListener()
        defer { close(listener) }
        XCTAssertEqual(sessions.accepted(by: "hans", host: "127.0.0.1", port: peerPort, token: "tk", now: .now),
                       ["hans accepts private messaging"])
        XCTAssertEqual(sessions.send("sent while connecting", to: "hans"), [])
        pump()
        let hans = RawPeer(fd: accept(listener, nil, nil))
        XCTAssertEqual(hans.readLine(), #"{"type":"p2p_hello","from":"luke","token":"tk"}"#, "the hello goes first")
        XCTAssertEqual(hans.readLine(), #"{"type":"private","text":"sent while connecting"}"#)
        hans.say(#"{"type":"private","text":"got it"}"# + "\n")
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["hans(private): got it"])
        hans.closeNow()
        XCTAssertEqual(pump(until: { !$0.isEmpty }), ["Error. hans is no longer reachable"])
    }

    func testAPeerThatCannotBeReachedAtAll() {
        let (listener, closedPort) = Self.makeListener()
        close(listener)
        var lines = sessions.accepted(by: "hans", host: "127.0.0.1", port: closedPort, token: "tk", now: .now)
        if lines.count < 2 { lines += pump(until: { !$0.isEmpty }) }  // refused at once, or a moment later
        XCTAssertEqual(lines, ["hans accepts private messaging", "Error. hans is no longer reachable"])
        XCTAssertEqual(sessions.accepted(by: "leia", host: "not-an-address", port: 1, token: "tk", now: .now),
                       ["leia accepts private messaging", "Error. leia is no longer reachable"],
                       "a name would need a blocking lookup; the server only ever sends addresses")
    }

    // MARK: Helpers

    /// A session with `peer` over a real link, as the accepter.
    private func openSession(with peer: String) -> RawPeer {
        sessions.consented(to: peer, now: .now)
        _ = sessions.pending(from: peer, token: "token-\(peer)", now: .now)
        let raw = RawPeer(port: port)
        raw.say(#"{"type":"p2p_hello","from":"\#(peer)","token":"token-\#(peer)"}"# + "\n")
        pump()
        XCTAssertTrue(sessions.peers.contains(peer))
        return raw
    }

    /// Runs the sessions' side of the poll loop for a while (or until `done`), as if the time were `offset` later.
    /// Without `done` it runs 300 ms; with it, until `done` says so (5 s at most).
    @discardableResult
    private func pump(offset: Duration = .zero, until done: (([String]) -> Bool)? = nil) -> [String] {
        var lines: [String] = []
        let end = ContinuousClock.now + (done == nil ? .milliseconds(300) : .seconds(5))
        while ContinuousClock.now < end {
            var fds = sessions.pollFDs()
            _ = poll(&fds, nfds_t(fds.count), 20)
            let now = ContinuousClock.now + offset
            lines += sessions.handle(fds, now: now)
            if let deadline = sessions.nextDeadline, deadline <= now { lines += sessions.expire(now: now) }
            if let done, done(lines) { return lines }
        }
        return lines
    }

    private static func makeListener() -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        _ = listen(fd, 8)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    fileprivate static func dial(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        precondition(result == 0, "loopback connect failed")
        return fd
    }
}

/// The other client, played by the test over a blocking socket.
private final class RawPeer {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(fd: Int32) { self.fd = fd }
    convenience init(port: Int) { self.init(fd: P2PLinkTests.dial(port)) }
    deinit { closeNow() }

    func say(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }  // closed by the other side half-way: what some tests want
            offset += n
        }
    }

    func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    func closeNow() {
        guard !closed else { return }
        closed = true
        close(fd)
    }

    /// The next line, nil at the end of the stream (or after `timeout` ms of silence).
    func readLine(timeout: Int32 = 2000) -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeFirst(newline + 1)
                return line
            }
            guard let chunk = receive(timeout: timeout), !chunk.isEmpty else { return nil }
            buffer += chunk
        }
    }

    /// Whether the other side has closed (reading whatever it still sent), waiting up to `timeout` ms.
    func isClosed(timeout: Int32 = 1000) -> Bool {
        while let chunk = receive(timeout: timeout) {
            if chunk.isEmpty { return true }
            buffer += chunk
        }
        return false
    }

    /// Bytes received; empty at the end of the stream or a reset; nil if nothing came in time.
    private func receive(timeout: Int32) -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeout) > 0 else { return nil }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        return n > 0 ? Array(chunk[..<n]) : []
    }
}
