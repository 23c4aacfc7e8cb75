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
/// Pure apart from remembering which messages it has shown (`ShownMessages`, and `ShownRoomMessages` room by
/// room), so a message delivered twice (offline delivery racing a live one, or one sent again because it was never
/// acknowledged) is printed once.
struct ReplyPrinter {
    struct Output: Equatable {
        var lines: [String] = []
        var end: SessionEnd?
    }

    private(set) var shown = ShownMessages()
    private(set) var shownRooms = ShownRoomMessages()

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
        case "room_message":
            guard let room = frame.string("room"), shownRooms.firstShowing(room: room, seq: frame["seq"]?.integerValue)
            else { return Output() }
            return roomLine(frame, room: room)
        case "room_join", "room_leave":
            return Output(lines: roomChangeLine(frame).map { [$0] } ?? [])
        case "rooms":
            return Output(lines: roomListLines(frame))
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
            // Only acks go without an id; a room ack that crossed the user's removal is refused, and that is no news.
            if frame.re == nil, frame.chatError.code == .notMember { return Output() }
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

    private mutating func okLines(_ frame: ServerFrame, request: ClientRequest?) -> [String] {
        switch request {
        case .join(let room)?:
            let name = LineRenderer.printable(frame.string("room") ?? room)
            return [frame.bool("created") ? Texts.youCreated(name) : Texts.youJoined(name)]
        case .leave(let room)?:
            shownRooms.forget(room)
            return [Texts.youLeft(LineRenderer.printable(room))]
        case .say?: return frame.bool("partial") ? [Texts.someRecipientsMissed] : []
        case .kick(let room, let user)?:
            return [Texts.wasRemoved(LineRenderer.printable(user), LineRenderer.printable(room))]
        case .ban(let room, let user)?:
            return [Texts.isBanned(LineRenderer.printable(user), LineRenderer.printable(room))]
        case .unban(let room, let user)?:
            return [Texts.isUnbanned(LineRenderer.printable(user), LineRenderer.printable(room))]
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

    // MARK: Rooms (docs/PROTOCOL.md §12)

    private func roomLine(_ frame: ServerFrame, room: String) -> Output {
        guard let from = frame.string("from"), let text = frame.string("text") else { return Output() }
        return Output(lines: [Texts.roomLine(room: LineRenderer.printable(room), from: LineRenderer.printable(from),
                                             text: LineRenderer.printable(text))])
    }

    /// `room_join`, and `room_leave`: about another member, or (with `by`) about this user, who is out of the room.
    private mutating func roomChangeLine(_ frame: ServerFrame) -> String? {
        guard let room = frame.string("room"), let user = frame.string("user") else { return nil }
        let (roomName, userName) = (LineRenderer.printable(room), LineRenderer.printable(user))
        if frame.type == "room_join" { return Texts.memberJoined(userName, roomName) }
        guard let by = frame.string("by") else { return Texts.memberLeft(userName, roomName) }
        shownRooms.forget(room)
        let owner = LineRenderer.printable(by)
        return frame.string("reason") == "banned" ? Texts.youWereBanned(roomName, by: owner)
            : Texts.youWereRemoved(roomName, by: owner)
    }

    /// The `rooms` reply: `#room (n members)` per room, or the line saying there are none.
    private func roomListLines(_ frame: ServerFrame) -> [String] {
        guard case .array(let items)? = frame["rooms"] else { return [] }
        let lines = items.compactMap { item -> String? in
            guard let room = item["room"]?.stringValue, let members = item["members"]?.integerValue else { return nil }
            return Texts.roomCount(LineRenderer.printable(room), members: Int(clamping: members))
        }
        return lines.isEmpty ? [Texts.inNoRooms] : lines
    }
}
