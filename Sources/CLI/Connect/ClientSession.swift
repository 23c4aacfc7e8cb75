import ChatCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a phase of the session (the login dialogue, then the command loop) wants next.
enum PhaseStep {
    case stay
    case loggedIn(user: String)
    /// Open a fresh connection and hand it to the phase (the server closed an idle login dialogue).
    case reconnect
    case end(SessionEnd)
}

/// One phase of the session. Every call happens on the session's single thread.
protocol SessionPhase: AnyObject {
    /// Shows the first prompt.
    func start()
    /// The user answered the prompt (or pressed ^D / ^C at it).
    func handle(_ event: InputEvent) -> PhaseStep
    /// A reply or an event from the server.
    func handle(_ frame: ServerFrame) -> PhaseStep
    /// Every frame of one read has been handled (the point where acknowledgements are coalesced).
    func framesHandled() -> PhaseStep
    /// SIGINT (input not a terminal), SIGTERM or SIGHUP.
    func interrupted() -> PhaseStep
    /// The server closed the connection (or a write found it closed).
    func connectionClosed() -> PhaseStep
    /// After `.reconnect`: the new connection to use from now on.
    func reconnected(_ connection: ChatConnection) -> PhaseStep
    /// Sockets of the phase's own to poll too (the P2P listener and links).
    var peerPollFDs: [pollfd] { get }
    /// After poll(): the entries of `peerPollFDs`, with what happened to each.
    func peerEventsReady(_ ready: [pollfd]) -> PhaseStep
    /// How long poll() may wait for anything (nil: for ever), and what happens when that time runs out.
    var waitLimit: ContinuousClock.Instant? { get }
    func waitLimitReached() -> PhaseStep
}

extension SessionPhase {
    var peerPollFDs: [pollfd] { [] }
    func peerEventsReady(_ ready: [pollfd]) -> PhaseStep { .stay }
    func framesHandled() -> PhaseStep { .stay }
}

/// The client's whole life after connecting: one thread, one poll() over the socket, the keyboard, the
/// signal pipe and the P2P sockets. No busy waiting and no threads: the keyboard is read only while a prompt
/// waits for an answer, so keys typed during a login round trip, or lines of a script, wait their turn in order.
final class ClientSession {
    private var connection: ChatConnection
    private let console: Console
    /// Private chats; its listener is open from the start, so the login can name its port.
    private let p2p: PrivateSessions
    private var phase: SessionPhase
    private let reopen: () -> ChatConnection?
    /// Reconnections in a row with nothing received in between: a server that closes at once is not retried.
    private var fruitlessReconnects = 0
    private var connectedAt = ContinuousClock.now

    /// `reopen` opens another connection to the same server (nil if it can't).
    init(connection: ChatConnection, console: Console, reopen: @escaping () -> ChatConnection?) {
        self.connection = connection
        self.console = console
        self.reopen = reopen
        let p2p = PrivateSessions(listener: PeerListener.open(beside: connection.fd))
        self.p2p = p2p
        self.phase = LoginDialogue(connection: connection, console: console, peer: p2p.capability)
    }

    /// Runs the session, then lets the server see the end of the stream.
    func run() -> SessionEnd {
        let end = loop()
        connection.shutdownWrite()
        return end
    }

    private func loop() -> SessionEnd {
        phase.start()
        while true {
            // Answers already received (a pasted line, a script's next line) go first.
            while console.wantsInput, let event = console.nextEvent() {
                if let end = apply(phase.handle(event)) { return end }
            }
            let readKeyboard = console.wantsInput && !console.hasEndedInput
            var fds = [
                pollfd(fd: connection.fd, events: connection.pollEvents, revents: 0),
                pollfd(fd: SignalPipe.readFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: readKeyboard ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0),
            ] + phase.peerPollFDs
            switch SystemCall.poll(&fds, timeoutMilliseconds: timeoutMilliseconds()) {
            case .interrupted:
                continue
            case .failed:
                return .connectionLost
            case .ready(0):
                if let end = checkWaitLimit() { return end }
                continue
            case .ready:
                break
            }
            if fds[1].revents != 0 {
                let signals = SignalPipe.drain()
                if signals.contains(SIGWINCH) { console.screenResized() }
                if signals.contains(where: { $0 != SIGWINCH }), let end = apply(phase.interrupted()) { return end }
            }
            if fds[0].revents != 0 {
                switch connection.readAvailable() {
                case .closed:
                    if let end = apply(phase.connectionClosed()) { return end }
                    continue
                case .frames(let frames):
                    if !frames.isEmpty { fruitlessReconnects = 0 }
                    for frame in frames {
                        if let end = apply(phase.handle(frame)) { return end }
                    }
                    if !frames.isEmpty, let end = apply(phase.framesHandled()) { return end }
                }
            }
            if readKeyboard, fds[2].revents != 0 { readKeyboardBytes() }
            if fds.count > 3, let end = apply(phase.peerEventsReady(Array(fds[3...]))) { return end }
            // Deadlines are checked every round, not only when poll() times out: a busy peer must not hold them off.
            if let end = checkWaitLimit() { return end }
        }
    }

    private func checkWaitLimit() -> SessionEnd? {
        guard let limit = phase.waitLimit, ContinuousClock.now >= limit else { return nil }
        return apply(phase.waitLimitReached())
    }

    /// Carries out a phase's step; returns the end of the session, if that is what it was.
    private func apply(_ step: PhaseStep) -> SessionEnd? {
        switch step {
        case .stay:
            return nil
        case .loggedIn(let user):
            phase = CommandLoop(user: user, connection: connection, console: console, p2p: p2p)
            phase.start()
            return nil
        case .reconnect:
            // A connection that lasted a while was closed for idling, not refused: that is no reason to give up.
            if connectedAt.duration(to: .now) > .seconds(10) { fruitlessReconnects = 0 }
            fruitlessReconnects += 1
            guard fruitlessReconnects <= 2, let fresh = reopen() else {
                console.printLine(ClientTexts.connectionLost)
                return .connectionLost
            }
            connection = fresh
            connectedAt = .now
            return apply(phase.reconnected(fresh))
        case .end(let end):
            return end
        }
    }

    private func timeoutMilliseconds() -> Int32 {
        guard let limit = phase.waitLimit else { return -1 }
        let left = ContinuousClock.now.duration(to: limit)
        if left <= .zero { return 0 }
        let (seconds, attoseconds) = left.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    private func readKeyboardBytes() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        switch buffer.withUnsafeMutableBytes({ SystemCall.read(STDIN_FILENO, into: $0) }) {
        case .bytes(let n): console.receive(buffer[..<n])
        case .wouldBlock: break
        case .closed, .failed: console.receiveEndOfInput()
        }
    }
}

/// Text the client prints that is its own, not a line of the terminal dialogue.
enum ClientTexts {
    static let commandPrompt = "> "
    static let connectionLost = "Connection to the server was lost"
    static let messageTooLong = "Error. Message too long"
    /// The answer to a private-messaging request came after the server dropped it (60 s, or the asker left).
    static func privateRequestGone(_ user: String) -> String {
        "Error. The private messaging request from \(user) is no longer open"
    }
}
