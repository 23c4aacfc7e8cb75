import ChatCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The terminal client's private chats (docs/PROTOCOL.md §9): the listener, the direct links, and the
/// user each session is with. It lives on the session's single thread and its sockets join the one poll() set;
/// every method returns the lines to print, so the command loop stays the only thing that talks to the console.
///
/// A session starts for the asker when the server says `private_accepted` (it connects and sends the hello
/// first), and for the accepter when its user answers `y` (the link follows when the asker's hello arrives
/// with the token of `private_pending`). Text typed before the link is up waits for it. Whatever goes wrong
/// with one link (a bad line, a wrong token, a peer that stops reading) closes that link and nothing else.
final class PrivateSessions {
    static let connectTimeout: Duration = .seconds(10)
    /// How long an accepted connection may take to say hello.
    static let greetingTimeout: Duration = .seconds(10)
    /// How long a link that is ending may take to write its last message.
    static let flushTimeout: Duration = .seconds(5)
    /// Connections that have not said hello yet, at once; more are closed as they come.
    static let maxGreeting = 16
    /// Messages typed to a peer whose connection has not arrived yet.
    static let maxQueued = 256

    private struct Session {
        /// Nil while we (the accepter) wait for the asker's connection.
        var link: PeerLink?
        var queued: [PeerMessage] = []
        /// Without a link: when to stop waiting for it.
        var linkDeadline: ContinuousClock.Instant?
    }

    private let listener: PeerListener?
    /// Our user name, which the hello carries; set at login.
    var user = ""
    private var links: [Int32: PeerLink] = [:]
    private var sessions: [String: Session] = [:]
    private var book = TokenBook()
    /// Peers whose link died. The next `private` to one of them gets the "no longer reachable" line once more,
    /// as well as the line printed when it happened.
    private var lost: Set<String> = []
    /// Sessions we accepted and stopped before the asker's connection came; it is told `stopprivate` on arrival.
    private var stoppedEarly: [String: ContinuousClock.Instant] = [:]

    init(listener: PeerListener?) {
        self.listener = listener
    }

    /// What the client declares at login.
    var capability: PeerCapability { listener.map { .tcp(port: $0.port) } ?? .none }

    /// The users this client has a session with.
    var peers: [String] { sessions.keys.sorted() }

    // MARK: Commands

    /// `private <peer> <text>`.
    func send(_ text: String, to peer: String) -> [String] {
        guard var session = sessions[peer] else {
            return [lost.remove(peer) != nil ? Texts.noLongerReachable(peer) : Texts.privateNotEnabled(peer)]
        }
        let message = PeerMessage.text(text)
        if message.encoded().count - 1 > PeerMessage.maxLine { return [ClientTexts.messageTooLong] }
        guard let link = session.link else {
            guard session.queued.count < Self.maxQueued else { return [ClientTexts.messageTooLong] }
            session.queued.append(message)
            sessions[peer] = session
            return []
        }
        return link.send(message) ? [] : linkGone(link)
    }

    /// `stopprivate <peer>`: the peer is told, and the link closes once that is written. We print nothing.
    func stop(_ peer: String, now: ContinuousClock.Instant) -> [String] {
        guard let session = sessions.removeValue(forKey: peer) else {
            lost.remove(peer)
            return [Texts.noPrivateSession(peer)]
        }
        if let link = session.link {
            retire(link, saying: .stop, now: now)
        } else {
            stoppedEarly[peer] = now + TokenBook.lifetime
        }
        return []
    }

    /// Logout, idle timeout, or the end of the client: every peer is told (when `announce`), every link closes.
    func closeAll(announcingLogout announce: Bool) {
        if announce {
            for case let link? in sessions.values.map(\.link) where link.phase == .open { _ = link.send(.logout) }
        }
        for link in links.values { link.closeNow() }
        links.removeAll()
        sessions.removeAll()
        stoppedEarly.removeAll()
    }

    // MARK: What the server says

    /// `private_accepted`: `peer` said yes to our request; connect to its listener and present the token.
    func accepted(by peer: String, host: String, port: Int, token: String, now: ContinuousClock.Instant) -> [String] {
        var lines = [Texts.privateAccepts(LineRenderer.printable(peer))]
        lost.remove(peer)
        // An older link to the same user (asked again) is left to close quietly: the peer drops it when our new
        // hello arrives, so neither side reports it as lost.
        if let old = sessions.removeValue(forKey: peer)?.link {
            old.closeWhenFlushed = true
            old.deadline = now + Self.flushTimeout
        }
        let link: PeerLink
        switch ClientSocket.startConnecting(numericHost: host, port: port) {
        case .failed:
            lost.insert(peer)
            lines.append(Texts.noLongerReachable(LineRenderer.printable(peer)))
            return lines
        case .inProgress(let socket):
            link = PeerLink(socket: socket, phase: .connecting, peer: peer, deadline: now + Self.connectTimeout)
        case .connected(let socket):
            link = PeerLink(socket: socket, phase: .open, peer: peer)
        }
        links[link.fd] = link
        sessions[peer] = Session(link: link)
        // The hello goes first; anything typed before the connect finishes queues behind it.
        if !link.send(.hello(from: user, token: token)) { lines += linkGone(link) }
        return lines
    }

    /// `private_pending`: expect `peer` to connect with `token`. A hello already held for it is judged again.
    func pending(from peer: String, token: String, now: ContinuousClock.Instant) -> [String] {
        book.expect(user: peer, token: token, now: now)
        var lines: [String] = []
        for link in Array(links.values) where link.heldHello?.user == peer {
            lines += judge(link, now: now)
        }
        return lines
    }

    /// Our user answered `y` to `peer`: the session exists from now on (docs/PROTOCOL.md §9), its link to follow.
    func consented(to peer: String, now: ContinuousClock.Instant) {
        lost.remove(peer)
        stoppedEarly[peer] = nil
        // Asked again while a session is running: it keeps its link until the new one replaces it.
        if sessions[peer] == nil { sessions[peer] = Session(link: nil, linkDeadline: now + TokenBook.lifetime) }
    }

    /// The server refused our `privatereply` (the request expired or its sender left): no session after all.
    func consentFailed(for peer: String) {
        if let session = sessions[peer], session.link == nil { sessions[peer] = nil }
    }

    // MARK: The poll set

    func pollFDs() -> [pollfd] {
        var fds: [pollfd] = []
        if let listener { fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)) }
        for link in links.values { fds.append(pollfd(fd: link.fd, events: link.pollEvents, revents: 0)) }
        return fds
    }

    /// After poll(): the entries of `pollFDs()` with their `revents` filled in.
    func handle(_ ready: [pollfd], now: ContinuousClock.Instant) -> [String] {
        var lines: [String] = []
        for entry in ready where entry.revents != 0 {
            if let listener, entry.fd == listener.fd {
                acceptConnections(now: now)
            } else if let link = links[entry.fd] {
                lines += service(link, revents: Int32(entry.revents), now: now)
            }
        }
        return lines
    }

    /// The earliest moment something here has to happen without any input.
    var nextDeadline: ContinuousClock.Instant? {
        let times = links.values.compactMap(\.deadline) + sessions.values.compactMap(\.linkDeadline)
            + Array(stoppedEarly.values)
        return times.min()
    }

    /// Carries out what is due at `now`: connects and hellos that took too long, held hellos whose token never
    /// came, sessions whose asker never connected, links that could not write their last words.
    func expire(now: ContinuousClock.Instant) -> [String] {
        var lines: [String] = []
        for link in Array(links.values) where link.deadline.map({ $0 <= now }) ?? false {
            guard links[link.fd] === link else { continue }
            switch link.phase {
            case .connecting:
                lines += linkGone(link)
            case .greeting where link.heldHello != nil:
                lines += judge(link, now: now)
            case .greeting:
                drop(link)
            case .open:
                if link.closeWhenFlushed { drop(link) } else { link.deadline = nil }
            }
        }
        for (peer, session) in sessions where session.link == nil && (session.linkDeadline.map { $0 <= now } ?? false) {
            sessions[peer] = nil
            book.forget(user: peer)
            lost.insert(peer)
            lines.append(Texts.noLongerReachable(LineRenderer.printable(peer)))
        }
        for (peer, until) in stoppedEarly where until <= now {
            stoppedEarly[peer] = nil
            book.forget(user: peer)
        }
        return lines
    }

    // MARK: Links

    private func acceptConnections(now: ContinuousClock.Instant) {
        guard let listener else { return }
        for socket in listener.acceptAll() {
            // Over the limit, the socket closes as it goes out of scope.
            guard links.values.filter({ $0.phase == .greeting }).count < Self.maxGreeting else { continue }
            links[socket.fd] = PeerLink(socket: socket, phase: .greeting, deadline: now + Self.greetingTimeout)
        }
    }

    private func service(_ link: PeerLink, revents: Int32, now: ContinuousClock.Instant) -> [String] {
        if link.phase == .connecting {
            guard revents & Int32(POLLOUT | POLLERR | POLLHUP) != 0 else { return [] }
            guard link.socket.connectError == nil else { return linkGone(link) }
            link.phase = .open
            if !link.closeWhenFlushed { link.deadline = nil }
        }
        if link.hasOutput || link.closeWhenFlushed {
            guard link.flush() else { return linkGone(link) }
            if link.closeWhenFlushed {
                if !link.hasOutput || revents & Int32(POLLERR | POLLHUP) != 0 { drop(link) }
                return []
            }
        }
        guard revents & Int32(POLLIN | POLLERR | POLLHUP) != 0 else { return [] }
        let state = link.readAvailable()
        var lines = consumeLines(of: link, now: now)
        if state == .gone, links[link.fd] === link { lines += linkGone(link) }
        return lines
    }

    /// Acts on the lines a link has received, while it is still ours and not holding its hello.
    private func consumeLines(of link: PeerLink, now: ContinuousClock.Instant) -> [String] {
        var lines: [String] = []
        while links[link.fd] === link, link.heldHello == nil, let line = link.nextLine() {
            switch link.phase {
            case .greeting:
                // The first line of a connection to our listener must be a hello; anything else ends it.
                guard case .hello(let from, let token)? = PeerMessage.decode(line) else {
                    drop(link)
                    return lines
                }
                link.heldHello = (from, token, now)
                lines += judge(link, now: now)
            case .open:
                lines += deliver(line, from: link)
            case .connecting:
                return lines
            }
        }
        return lines
    }

    /// Decides on a held hello: accept it (and act on what came after it), keep holding, or close the link.
    private func judge(_ link: PeerLink, now: ContinuousClock.Instant) -> [String] {
        guard let hello = link.heldHello else { return [] }
        switch book.check(user: hello.user, token: hello.token, arrivedAt: hello.arrivedAt, now: now) {
        case .accept:
            link.heldHello = nil
            attach(link, to: hello.user, now: now)
            return consumeLines(of: link, now: now)
        case .hold(let until):
            link.deadline = until
            return []
        case .refuse:
            drop(link)
            return []
        }
    }

    /// An authenticated connection from `peer` becomes the link of its session.
    private func attach(_ link: PeerLink, to peer: String, now: ContinuousClock.Instant) {
        link.phase = .open
        link.peer = peer
        link.deadline = nil
        if stoppedEarly.removeValue(forKey: peer) != nil {
            retire(link, saying: .stop, now: now)
            return
        }
        var session = sessions[peer] ?? Session()
        if let old = session.link, old !== link { drop(old) }  // asked again: the new link replaces the old
        session.link = link
        session.linkDeadline = nil
        let queued = session.queued
        session.queued = []
        sessions[peer] = session
        lost.remove(peer)
        for message in queued where !link.send(message) {
            _ = linkGone(link)
            return
        }
    }

    /// One line from the peer of an open link.
    private func deliver(_ line: [UInt8], from link: PeerLink) -> [String] {
        // A link no session uses any more (replaced, or ending) has nothing left to show.
        guard let peer = link.peer, sessions[peer]?.link === link else { return [] }
        guard let message = PeerMessage.decode(line) else { return linkGone(link) }
        let name = LineRenderer.printable(peer)
        switch message {
        case .text(let text):
            return [Texts.privateLine(from: name, text: LineRenderer.printable(text))]
        case .stop:
            sessions[peer] = nil
            drop(link)
            return [Texts.stoppedPrivate(name)]
        case .logout:
            sessions[peer] = nil
            drop(link)
            return [Texts.privateConcluding(name)]
        case .hello, .unknown:
            return []
        }
    }

    /// The link broke. If a session was using it, the session ends and the user is told.
    private func linkGone(_ link: PeerLink) -> [String] {
        drop(link)
        guard let peer = link.peer, sessions[peer]?.link === link else { return [] }
        sessions[peer] = nil
        lost.insert(peer)
        return [Texts.noLongerReachable(LineRenderer.printable(peer))]
    }

    /// Sends a last message on a link no session uses any more, and closes it once that is written.
    private func retire(_ link: PeerLink, saying farewell: PeerMessage, now: ContinuousClock.Instant) {
        guard link.send(farewell), link.hasOutput || link.phase == .connecting else { return drop(link) }
        link.closeWhenFlushed = true
        link.deadline = now + (link.phase == .connecting ? Self.connectTimeout : Self.flushTimeout)
    }

    private func drop(_ link: PeerLink) {
        if links[link.fd] === link { links[link.fd] = nil }
        link.closeNow()
    }
}
