/// The server side of the plain-text mode (docs/PROTOCOL.md §8): what a `nc` or `telnet` user sees is the
/// terminal dialogue, produced from the same replies and events JSON clients get. One per text session, held by
/// it and updated in place, confined to the hub's serialisation.
///
/// Both directions are a small state machine: `interpret` turns a typed line into what should happen (a prompt
/// to write, a request to send), `render` words a reply for the phase the dialogue is in and advances it.
struct TextDialogue {
    enum Phase: Equatable {
        /// The next line is a username (the very first line of the connection is one too).
        case username
        case password(user: String)
        case newPassword(user: String)
        /// A login or registration is being checked; lines typed meanwhile are dropped.
        case waiting(user: String, isNew: Bool)
        case commands
        case finished
    }

    /// What to write, and whether the connection ends after it (lockout).
    struct Rendered {
        var text: String
        var closes = false
    }

    var phase: Phase = .username
    /// Requests sent on behalf of the typed lines, by the synthetic id their replies carry.
    private var pending: [Int64: ClientRequest] = [:]
    private var nextID: Int64 = 1

    /// What a typed line asks the hub to do.
    enum Action: Equatable {
        /// Write this text back (a prompt, or a local error); it is no command, so no activity either.
        case write(String)
        /// Send this request with this id; its reply is worded by `render`.
        case send(ClientRequest, RequestID)
        /// A command the server answers locally (peer-to-peer ones): it counts as activity, then this text.
        case answer(String)
        /// Nothing (typed ahead while a password is checked, or after the end).
        case none
    }

    /// The next typed line. `accountExists` tells the password prompt from the new-user one.
    mutating func interpret(_ line: String, accountExists: (String) -> Bool) -> Action {
        switch phase {
        case .username:
            let user = line.trimmingSpaces()
            if user.isEmpty { return .write(Texts.usernamePrompt) }
            if accountExists(user) {
                phase = .password(user: user)
                return .write(Texts.passwordPrompt)
            }
            guard AccountRules.isValidUsername(user) else { return .write(Texts.invalidUser + "\n" + Texts.usernamePrompt) }
            phase = .newPassword(user: user)
            return .write(Texts.newUserPrompt)
        case .password(let user):
            phase = .waiting(user: user, isNew: false)
            return send(.login(user: user, credential: .password(line), peer: .none))
        case .newPassword(let user):
            phase = .waiting(user: user, isNew: true)
            return send(.register(user: user, password: line, peer: .none))
        case .waiting, .finished:
            return .none
        case .commands:
            switch TypedCommand.parse(line) {
            case nil: return .write(Texts.invalidCommand + "\n")
            case .server(let request)?: return send(request)
            case .privateMessage(let user, _)?: return .answer(Texts.privateNotEnabled(user) + "\n")
            case .stopPrivate(let user)?: return .answer(Texts.noPrivateSession(user) + "\n")
            }
        }
    }

    private mutating func send(_ request: ClientRequest) -> Action {
        .send(request, track(request))
    }

    /// Remembers a request so its reply can be worded for it; returns the id to send it with.
    mutating func track(_ request: ClientRequest) -> RequestID {
        let id = nextID
        nextID += 1
        pending[id] = request
        return .number(id)
    }

    /// Words a reply (or event) for this session, advancing the login phases.
    mutating func render(_ event: ServerEvent) -> Rendered? {
        switch event {
        case .welcome:
            phase = .commands
            return Rendered(text: Texts.welcome + "\n")
        case .error(let re, let error):
            let request = take(re)
            if case .waiting(let user, let isNew) = phase { return renderLoginError(error, user: user, isNew: isNew) }
            guard let request else { return Rendered(text: "Error. \(error.message)\n") }
            return Rendered(text: Texts.line(for: error, request: request) + "\n")
        case .ok(let re, let ok):
            switch take(re) {
            case .block(let user)?: return Rendered(text: Texts.isBlocked(user) + "\n")
            case .unblock(let user)?: return Rendered(text: Texts.isUnblocked(user) + "\n")
            case .broadcast? where ok.partial == true: return Rendered(text: Texts.someRecipientsMissed + "\n")
            case .startprivate(let user)?: return Rendered(text: Texts.startPrivate(user) + "\n")
            case let request? where request.roomName != nil:
                return Self.roomOKLine(ok, for: request).map { Rendered(text: $0 + "\n") }
            default: return nil
            }
        case .users(let re, let names), .members(let re, let names, _):
            _ = take(re)
            return names.isEmpty ? nil : Rendered(text: names.map { $0 + "\n" }.joined())
        case .rooms(let re, let rooms):
            _ = take(re)
            return Rendered(text: Self.roomListLines(rooms).map { $0 + "\n" }.joined())
        case .roomHistory(let re, _, _, _), .roomPage(let re, _, _, _):
            _ = take(re)
            return nil
        case .history(let re, _, _):
            _ = take(re)
            return nil
        case .timeout, .bye:
            phase = .finished
            return Self.renderEvent(event).map { Rendered(text: $0) }
        default:
            return Self.renderEvent(event).map { Rendered(text: $0) }
        }
    }

    /// Words an event that is the same for every text client (encoded once per fan-out).
    static func renderEvent(_ event: ServerEvent) -> String? {
        switch event {
        case .message(let m, _): return Texts.chatLine(from: m.from, text: m.text) + "\n"
        case .broadcast(_, let from, let text, _): return Texts.chatLine(from: from, text: text) + "\n"
        case .presence(let user, let isOnline): return (isOnline ? Texts.loggedIn(user) : Texts.loggedOut(user)) + "\n"
        case .timeout: return Texts.timedOut + "\n"
        case .roomMessage, .roomJoin, .roomLeave: return roomEventLine(event).map { $0 + "\n" }
        default: return nil
        }
    }

    private mutating func take(_ re: RequestID?) -> ClientRequest? {
        guard case .number(let id)? = re else { return nil }
        return pending.removeValue(forKey: id)
    }

    private mutating func renderLoginError(_ error: ChatError, user: String, isNew: Bool) -> Rendered {
        switch error.code {
        case .badPassword where error.attemptsLeft == 0:
            phase = .finished
            return Rendered(text: Texts.lockedNow + "\n", closes: true)
        case .badPassword:
            phase = .password(user: user)
            return Rendered(text: Texts.invalidPassword + "\n" + Texts.passwordPrompt)
        case .locked:
            phase = .finished
            return Rendered(text: Texts.lockedAlready + "\n", closes: true)
        case .alreadyOnline:
            phase = .username
            return Rendered(text: Texts.alreadyLoggedIn(user) + "\n" + Texts.usernamePrompt)
        case .invalidPassword:
            phase = .newPassword(user: user)
            return Rendered(text: "Error. \(error.message)\n" + Texts.newUserPrompt)
        case .busy, .rateLimited:
            phase = isNew ? .newPassword(user: user) : .password(user: user)
            return Rendered(text: "Error. \(error.message)\n" + (isNew ? Texts.newUserPrompt : Texts.passwordPrompt))
        default:
            phase = .username
            return Rendered(text: "Error. \(error.message)\n" + Texts.usernamePrompt)
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
