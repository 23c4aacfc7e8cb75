import ChatCore

/// The login dialogue (docs/PROTOCOL.md §8.1) over protocol requests: `lookup` chooses between `Password: ` and the
/// new-user prompt, then `login` or `register`. Wrong passwords ask again until the server says the account
/// is locked; a user already online is told so and asked for a username again.
final class LoginDialogue: SessionPhase {
    private enum State {
        case username
        case lookingUp(user: String)
        case password(user: String, isNew: Bool)
        case loggingIn(user: String, isNew: Bool)
    }

    private var connection: ChatConnection
    private let console: Console
    /// How this client takes direct connections (`p2pPort` when its P2P listener is open).
    private let peer: PeerCapability
    private var state = State.username
    private var awaitedReply: Int64?
    /// The last login or register sent, and when to send it again if the server was too busy to check it.
    private var lastRequest: ClientRequest?
    private var retryAt: ContinuousClock.Instant?
    private var busyRetries = 0
    private static let maxBusyRetries = 10

    init(connection: ChatConnection, console: Console, peer: PeerCapability = .none) {
        self.connection = connection
        self.console = console
        self.peer = peer
    }

    func start() { askUsername() }

    var waitLimit: ContinuousClock.Instant? { retryAt }

    /// The server was busy with other logins: the same request once more (the user typed nothing wrong).
    func waitLimitReached() -> PhaseStep {
        retryAt = nil
        guard let request = lastRequest, let id = connection.send(request) else { return connectionClosed() }
        awaitedReply = id
        return .stay
    }

    func interrupted() -> PhaseStep { .end(.quitBeforeLogin) }

    /// The server closes a connection that has not logged in after a while. Nobody is logged in and nothing
    /// is lost, so a person slow at the prompt just goes on, on a fresh connection. Only a login in flight
    /// is not retried (it might have counted as a failed attempt).
    func connectionClosed() -> PhaseStep {
        switch state {
        case .username, .password, .lookingUp:
            return .reconnect
        case .loggingIn:
            console.printLine(ClientTexts.connectionLost)
            return .end(.connectionLost)
        }
    }

    func reconnected(_ connection: ChatConnection) -> PhaseStep {
        self.connection = connection
        awaitedReply = nil
        if case .lookingUp(let user) = state { return send(.lookup(user: user), then: state) }
        return .stay
    }

    func handle(_ event: InputEvent) -> PhaseStep {
        guard case .line(let line) = event else { return .end(.quitBeforeLogin) }
        switch state {
        case .username:
            let user = line.trimmingBlanks
            guard !user.isEmpty else {
                askUsername()
                return .stay
            }
            return send(.lookup(user: user), then: .lookingUp(user: user))
        case .password(let user, let isNew):
            guard !line.isEmpty else {
                askPassword(user: user, isNew: isNew)
                return .stay
            }
            let request: ClientRequest = isNew
                ? .register(user: user, password: line, peer: peer, acks: true)
                : .login(user: user, credential: .password(line), peer: peer, acks: true)
            return send(request, then: .loggingIn(user: user, isNew: isNew))
        case .lookingUp, .loggingIn:
            return .stay  // not asked for; the console only reads at a prompt
        }
    }

    func handle(_ frame: ServerFrame) -> PhaseStep {
        if frame.type == "timeout" {
            console.printLine(Texts.timedOut)
            return .end(.timedOut)
        }
        guard let re = frame.re, re == awaitedReply else { return .stay }
        awaitedReply = nil
        switch state {
        case .lookingUp(let user):
            if frame.type == "ok" {
                askPassword(user: user, isNew: !frame.bool("exists"))
            } else {
                console.printLine(ReplyPrinter.generic(frame.chatError))
                askUsername()
            }
            return .stay
        case .loggingIn(let user, let isNew):
            if frame.type == "welcome" {
                console.printLine(Texts.welcome)
                return .loggedIn(user: frame.string("user") ?? user)
            }
            let step = loginFailed(frame.chatError, user: user, isNew: isNew)
            if retryAt == nil { busyRetries = 0 }
            return step
        case .username, .password:
            return .stay
        }
    }

    private func loginFailed(_ error: ChatError, user: String, isNew: Bool) -> PhaseStep {
        switch error.code {
        case .busy where busyRetries < Self.maxBusyRetries:
            busyRetries += 1
            retryAt = ContinuousClock.now + .milliseconds(200 * busyRetries)
            return .stay
        case .badPassword:
            if let left = error.attemptsLeft, left <= 0 {
                console.printLine(Texts.lockedNow)
                return .end(.lockedOut)
            }
            console.printLine(Texts.invalidPassword)
            askPassword(user: user, isNew: false)
        case .locked:
            console.printLine(Texts.lockedAlready)
            return .end(.lockedOut)
        case .alreadyOnline:
            console.printLine(Texts.alreadyLoggedIn(user))
            askUsername()
        case .invalidPassword, .rateLimited, .busy:
            console.printLine(ReplyPrinter.generic(error))
            askPassword(user: user, isNew: isNew)
        case .userExists:
            // Someone registered the name between our lookup and now: it is an existing account.
            console.printLine(ReplyPrinter.generic(error))
            askPassword(user: user, isNew: false)
        default:
            console.printLine(ReplyPrinter.generic(error))
            askUsername()
        }
        return .stay
    }

    private func send(_ request: ClientRequest, then next: State) -> PhaseStep {
        guard let id = connection.send(request) else { return connectionClosed() }
        awaitedReply = id
        lastRequest = request
        state = next
        return .stay
    }

    private func askUsername() {
        state = .username
        console.prompt(Texts.usernamePrompt)
    }

    private func askPassword(user: String, isNew: Bool) {
        state = .password(user: user, isNew: isNew)
        console.prompt(isNew ? Texts.newUserPrompt : Texts.passwordPrompt, masked: true)
    }
}

extension String {
    /// Without the spaces and tabs around it.
    var trimmingBlanks: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
