import ChatCore

/// How a session ended, and the exit status it gives the process.
enum SessionEnd: Int32, Equatable {
    /// `logout`, ^D, ^C, SIGTERM: a clean logout.
    case loggedOut = 0
    /// Three bad passwords, or a login to an account that is still locked.
    case lockedOut = 1
    /// The server logged the user out for inactivity.
    case timedOut = 2
    /// The server went away (or could not be reached at all).
    case connectionLost = 3
    /// The input ended, or ^C, before anyone logged in.
    case quitBeforeLogin = 4
}

/// Turns what the server sends after login into the terminal lines the user sees (docs/PROTOCOL.md §8).
/// Pure apart from remembering which messages it has shown (`ShownMessages`), so a message delivered twice
/// (offline delivery racing a live one, or one sent again because it was never acknowledged) is printed once.
struct ReplyPrinter {
    struct Output: Equatable {
        var lines: [String] = []
        var end: SessionEnd?
    }

    private(set) var shown = ShownMessages()

    /// `request`: the request this frame answers, when it is a reply the session was waiting for.
    mutating func output(for frame: ServerFrame, answering request: ClientRequest?) -> Output {
        switch frame.type {
        case "message":
            guard shown.firstShowing(seq: frame["seq"]?.integerValue, id: frame["id"]?.integerValue) else {
                return Output()
            }
            return chatLine(frame)
        case "broadcast":
            return chatLine(frame)
        case "presence":
            guard let user = frame.string("user") else { return Output() }
            let name = LineRenderer.printable(user)
            return Output(lines: [frame.string("state") == "out" ? Texts.loggedOut(name) : Texts.loggedIn(name)])
        case "timeout":
            return Output(lines: [Texts.timedOut], end: .timedOut)
        case "bye":
            return Output(end: .loggedOut)
        case "users":
            let users = frame["users"].flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap(\.stringValue)
            } ?? []
            return Output(lines: users.map(LineRenderer.printable))
        case "ok":
            return Output(lines: okLines(frame, request: request))
        case "error":
            return Output(lines: [Self.errorLine(frame.chatError, request: request)])
        case "private_declined":
            guard let user = frame.string("user") else { return Output() }
            return Output(lines: [Texts.privateDeclines(LineRenderer.printable(user))])
        default:
            // welcome and history, which this client does not ask for, and the other P2P events, which the
            // command loop acts on (their lines depend on what happens to the direct connection).
            return Output()
        }
    }

    /// The terminal line of an error reply.
    static func errorLine(_ error: ChatError, request: ClientRequest?) -> String {
        guard let request else { return generic(error) }
        // The request expired (60 s) or its sender logged out before the answer came.
        if case .privatereply(let asker, _) = request, error.code == .noRequest {
            return ClientTexts.privateRequestGone(asker)
        }
        let line = Texts.line(for: error, request: request)
        // Codes without a terminal line of their own come back as "Error. <server text>"; don't say "Error." twice.
        let doubled = "Error. Error."
        return line.hasPrefix(doubled) ? String(line.dropFirst("Error. ".count)) : line
    }

    static func generic(_ error: ChatError) -> String {
        error.message.hasPrefix("Error") ? error.message : "Error. \(error.message)"
    }

    private func okLines(_ frame: ServerFrame, request: ClientRequest?) -> [String] {
        switch request {
        case .block(let user)?: return [Texts.isBlocked(user)]
        case .unblock(let user)?: return [Texts.isUnblocked(user)]
        case .startprivate(let user)?: return [Texts.startPrivate(user)]
        case .broadcast?: return frame.bool("partial") ? [Texts.someRecipientsMissed] : []
        default: return []
        }
    }

    private func chatLine(_ frame: ServerFrame) -> Output {
        guard let from = frame.string("from"), let text = frame.string("text") else { return Output() }
        return Output(lines: [Texts.chatLine(from: LineRenderer.printable(from), text: LineRenderer.printable(text))])
    }
}
