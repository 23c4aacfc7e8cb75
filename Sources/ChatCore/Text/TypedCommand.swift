/// A command line as a person types it at the prompt (docs/PROTOCOL.md §8.2), parsed once for both the terminal client
/// and the server's text mode. `private` and `stopprivate` never reach the server: they travel peer to peer.
public enum TypedCommand: Sendable, Equatable {
    case server(ClientRequest)
    case privateMessage(user: String, text: String)
    case stopPrivate(user: String)

    /// Parses one typed line; nil means `Error. Invalid command` (unknown word, missing or extra arguments).
    public static func parse(_ line: String) -> TypedCommand? {
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        guard !trimmed.isEmpty else { return nil }
        let (word, rest) = splitWord(trimmed)
        switch word {
        case "message":
            guard let (user, text) = userAndText(rest) else { return nil }
            return .server(.message(to: user, text: text))
        case "broadcast":
            guard let text = textArgument(rest) else { return nil }
            return .server(.broadcast(text: text))
        case "whoelse":
            guard isBlank(rest) else { return nil }
            return .server(.whoelse)
        case "whoelsesince":
            guard let arg = singleWord(rest), arg.allSatisfy(\.isASCIIDigit), let seconds = Int(arg),
                  seconds <= Int(Int32.max) else { return nil }
            return .server(.whoelsesince(seconds: seconds))
        case "block":
            guard let user = singleWord(rest) else { return nil }
            return .server(.block(user: user))
        case "unblock":
            guard let user = singleWord(rest) else { return nil }
            return .server(.unblock(user: user))
        case "logout":
            guard isBlank(rest) else { return nil }
            return .server(.logout)
        case "startprivate":
            guard let user = singleWord(rest) else { return nil }
            return .server(.startprivate(user: user))
        case "private":
            guard let (user, text) = userAndText(rest) else { return nil }
            return .privateMessage(user: user, text: text)
        case "stopprivate":
            guard let user = singleWord(rest) else { return nil }
            return .stopPrivate(user: user)
        default:
            return parseRoomCommand(word, rest).map(TypedCommand.server)
        }
    }

    /// The room commands (docs/PROTOCOL.md §12). A room is typed with or without its leading `#`; the name
    /// itself is left to the server to judge, so a bad one gets `Error. Invalid room`, not `Invalid command`.
    private static func parseRoomCommand(_ word: Substring, _ rest: Substring) -> ClientRequest? {
        switch word {
        case "join":
            return singleWord(rest).map { .join(room: RoomRules.typedName($0[...])) }
        case "leave":
            return singleWord(rest).map { .leave(room: RoomRules.typedName($0[...])) }
        case "members":
            return singleWord(rest).map { .members(room: RoomRules.typedName($0[...])) }
        case "rooms":
            return isBlank(rest) ? .rooms : nil
        case "say":
            guard let (room, text) = userAndText(rest) else { return nil }
            return .say(room: RoomRules.typedName(room[...]), text: text)
        case "kick", "ban", "unban":
            let words = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2 else { return nil }
            let room = RoomRules.typedName(words[0])
            let user = String(words[1])
            switch word {
            case "kick": return .kick(room: room, user: user)
            case "ban": return .ban(room: room, user: user)
            default: return .unban(room: room, user: user)
            }
        default:
            return nil
        }
    }

    private static func splitWord(_ s: Substring) -> (Substring, Substring) {
        guard let space = s.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (s, "") }
        return (s[..<space], s[s.index(after: space)...])
    }

    private static func isBlank(_ s: Substring) -> Bool { s.allSatisfy { $0 == " " || $0 == "\t" } }

    /// Exactly one word, surrounding blanks allowed.
    private static func singleWord(_ s: Substring) -> String? {
        let words = s.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return words.count == 1 ? String(words[0]) : nil
    }

    /// The message text: everything after the separating space, kept verbatim; it must not be blank.
    private static func textArgument(_ s: Substring) -> String? {
        isBlank(s) ? nil : String(s)
    }

    /// A first word (a user, or a room) and the text after it.
    private static func userAndText(_ s: Substring) -> (String, String)? {
        let start = s.drop(while: { $0 == " " || $0 == "\t" })
        let (user, rest) = splitWord(start)
        guard !user.isEmpty, let text = textArgument(rest) else { return nil }
        return (String(user), text)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
