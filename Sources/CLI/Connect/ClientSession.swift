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
    /// SIGINT (input not a terminal), SIGTERM or SIGHUP.
    func interrupted() -> PhaseStep
    /// The server closed the connection.
    func connectionClosed() -> SessionEnd
    /// How long poll() may wait for anything (nil: for ever), and what happens when that time runs out.
    var waitLimit: ContinuousClock.Instant? { get }
    func waitLimitReached() -> PhaseStep
}

/// The client's whole life after connecting: one thread, one poll() over the socket, the keyboard and the
/// signal pipe. No busy waiting and no threads: the keyboard is read only while a prompt waits for an answer,
/// so keys typed during a login round trip, or lines of a script, wait their turn in order.
final class ClientSession {
    private let connection: ChatConnection
    private let console: Console
    private var phase: SessionPhase

    init(connection: ChatConnection, console: Console) {
        self.connection = connection
        self.console = console
        self.phase = LoginDialogue(connection: connection, console: console)
    }

    func run() -> SessionEnd {
        phase.start()
        while true {
            // Answers already received (a pasted line, a script's next line) go first.
            while console.wantsInput, let event = console.nextEvent() {
                if let end = apply(phase.handle(event)) { return end }
            }
            let readKeyboard = console.wantsInput && !console.hasEndedInput
            var fds = [
                pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: SignalPipe.readFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: readKeyboard ? STDIN_FILENO : -1, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds())
            if ready < 0 {
                if errno == EINTR { continue }
                return .connectionLost
            }
            if ready == 0 {
                if let limit = phase.waitLimit, ContinuousClock.now >= limit,
                   let end = apply(phase.waitLimitReached()) { return end }
                continue
            }
            if fds[1].revents != 0, !SignalPipe.drain().isEmpty {
                if let end = apply(phase.interrupted()) { return end }
            }
            if fds[0].revents != 0 {
                switch connection.readAvailable() {
                case .closed:
                    return phase.connectionClosed()
                case .frames(let frames):
                    for frame in frames {
                        if let end = apply(phase.handle(frame)) { return end }
                    }
                }
            }
            if readKeyboard, fds[2].revents != 0 { readKeyboardBytes() }
        }
    }

    /// Carries out a phase's step; returns the end of the session, if that is what it was.
    private func apply(_ step: PhaseStep) -> SessionEnd? {
        switch step {
        case .stay:
            return nil
        case .loggedIn(let user):
            phase = CommandLoop(user: user, connection: connection, console: console)
            phase.start()
            return nil
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
        let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress!, $0.count) }
        if n > 0 {
            console.receive(buffer[..<n])
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            console.receiveEndOfInput()
        }
    }
}

/// Text the client prints that is its own, not a SPEC.md line.
enum ClientTexts {
    static let commandPrompt = "> "
    static let connectionLost = "Connection to the server was lost"
    static let messageTooLong = "Error. Message too long"
}
