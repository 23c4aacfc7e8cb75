import ChatCore

/// The command prompt after login: typed lines become PROTOCOL.md requests (`TypedCommand`), replies and
/// events become SPEC.md lines (`ReplyPrinter`). The next prompt waits for the reply (briefly: at most
/// `replyPatience`), so a script's output comes in the order of its commands; events are printed whenever
/// they arrive, and replies are matched to their requests by id.
final class CommandLoop: SessionPhase {
    /// The server's line limit (PROTOCOL.md): a longer request would cost the connection.
    static let maxRequestBytes = 65_536
    /// How long to wait for `bye` after asking to log out.
    static let logoutGrace: Duration = .seconds(5)
    /// How long the next prompt waits for the reply to the last command.
    static let replyPatience: Duration = .seconds(2)

    let user: String
    private let connection: ChatConnection
    private let console: Console
    private var printer = ReplyPrinter()
    private var pending: [Int64: ClientRequest] = [:]
    private var logoutDeadline: ContinuousClock.Instant?
    /// Set while the next prompt waits for replies.
    private var promptDeferredUntil: ContinuousClock.Instant?

    init(user: String, connection: ChatConnection, console: Console) {
        self.user = user
        self.connection = connection
        self.console = console
    }

    func start() { prompt() }

    var waitLimit: ContinuousClock.Instant? { logoutDeadline ?? promptDeferredUntil }

    func waitLimitReached() -> PhaseStep {
        // The server never answered the logout: the user asked to leave, so leave.
        if logoutDeadline != nil { return .end(.loggedOut) }
        // A slow reply doesn't hold the keyboard any longer; it is printed when it comes.
        promptDeferredUntil = nil
        prompt()
        return .stay
    }

    func interrupted() -> PhaseStep { logout() }

    func connectionClosed() -> PhaseStep {
        if logoutDeadline != nil { return .end(.loggedOut) }  // the server closed after (or instead of) `bye`
        console.printLine(ClientTexts.connectionLost)
        return .end(.connectionLost)
    }

    /// A logged-in session is never silently resumed: the user must know they were gone.
    func reconnected(_ connection: ChatConnection) -> PhaseStep { .end(.connectionLost) }

    func handle(_ event: InputEvent) -> PhaseStep {
        switch event {
        case .endOfInput, .interrupt:
            return logout()
        case .line(let line):
            if logoutDeadline != nil { return .stay }  // logging out: the rest of the input is not for us
            let step = run(line)
            if case .stay = step, logoutDeadline == nil {
                if pending.isEmpty {
                    prompt()
                } else {
                    promptDeferredUntil = ContinuousClock.now + Self.replyPatience
                }
            }
            return step
        }
    }

    func handle(_ frame: ServerFrame) -> PhaseStep {
        let request = frame.re.flatMap { pending.removeValue(forKey: $0) }
        let output = printer.output(for: frame, answering: request)
        for line in output.lines { console.printLine(line) }
        if let end = output.end {
            // A `bye` we didn't ask for still means the server logged us out cleanly.
            return .end(end)
        }
        if promptDeferredUntil != nil, pending.isEmpty, logoutDeadline == nil {
            promptDeferredUntil = nil
            prompt()
        }
        return .stay
    }

    /// Carries out one typed line.
    private func run(_ line: String) -> PhaseStep {
        if line.trimmingBlanks.isEmpty { return .stay }
        guard let command = TypedCommand.parse(line) else {
            console.printLine(Texts.invalidCommand)
            return .stay
        }
        switch command {
        case .server(.logout):
            return logout()
        // Private messaging goes peer to peer and arrives with the P2P work; until then this client takes no
        // direct connections, and says so in SPEC.md's words. These are still commands, so they count as
        // activity for the idle timer (SPEC.md §3).
        case .server(.startprivate(let peer)):
            return reportActivity(then: Texts.privateImpossible(peer))
        case .privateMessage(let peer, _):
            return reportActivity(then: Texts.privateNotEnabled(peer))
        case .stopPrivate(let peer):
            return reportActivity(then: Texts.noPrivateSession(peer))
        case .server(let request):
            return send(request)
        }
    }

    private func send(_ request: ClientRequest) -> PhaseStep {
        if RequestEncoder.encode(request, id: Int64.max).count + 1 > Self.maxRequestBytes {
            console.printLine(ClientTexts.messageTooLong)
            return .stay
        }
        guard let id = connection.send(request) else { return connectionClosed() }
        pending[id] = request
        return .stay
    }

    private func reportActivity(then line: String) -> PhaseStep {
        let step = send(.activity)
        console.printLine(line)
        return step
    }

    /// `logout`, ^D, ^C: ask the server and wait (briefly) for `bye`. Asked twice: leave at once.
    private func logout() -> PhaseStep {
        guard logoutDeadline == nil else { return .end(.loggedOut) }
        logoutDeadline = ContinuousClock.now + Self.logoutGrace
        console.cancelPrompt()
        guard connection.send(.logout) != nil else { return .end(.loggedOut) }
        return .stay
    }

    private func prompt() {
        console.prompt(ClientTexts.commandPrompt, shownWhenPlain: false)
    }
}
