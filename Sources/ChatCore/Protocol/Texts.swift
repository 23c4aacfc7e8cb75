/// The terminal texts (docs/PROTOCOL.md §8), in one place. The terminal client (`parley connect`) and the server's
/// text mode both print exactly these, so a script reading the screen sees the same words whichever it talks to.
public enum Texts {
    // Login, registration, lockout
    public static let usernamePrompt = "Username: "
    public static let passwordPrompt = "Password: "
    public static let newUserPrompt = "This is a new user. Enter a password: "
    public static let welcome = "Welcome to the greatest messaging application ever!"
    public static let invalidPassword = "Invalid Password. Please try again"
    public static let lockedNow = "Invalid Password. Your account has been blocked. Please try again later"
    public static let lockedAlready = "Your account is blocked due to multiple login failures. Please try again later"
    public static func alreadyLoggedIn(_ user: String) -> String { "\(user) is already logged in" }

    // Presence and timeout
    public static func loggedIn(_ user: String) -> String { "\(user) logged in" }
    public static func loggedOut(_ user: String) -> String { "\(user) logged out" }
    public static let timedOut = "You have been logged out due to inactivity"

    // Commands
    public static func chatLine(from: String, text: String) -> String { "\(from): \(text)" }
    public static let invalidCommand = "Error. Invalid command"
    public static let invalidUser = "Error. Invalid user"
    public static let cannotMessageSelf = "Error. Cannot message self"
    public static let recipientBlockedYou = "Your message could not be delivered as the recipient has blocked you"
    public static let someRecipientsMissed = "Your message could not be delivered to some recipients"
    public static func isBlocked(_ user: String) -> String { "\(user) is blocked" }
    public static func isUnblocked(_ user: String) -> String { "\(user) is unblocked" }
    public static let cannotBlockSelf = "Error. Cannot block self"
    public static let cannotUnblockSelf = "Error. Cannot unblock self"
    public static func alreadyBlocked(_ user: String) -> String { "Error. \(user) is already blocked" }
    public static func wasNotBlocked(_ user: String) -> String { "Error. \(user) was not blocked" }

    // Private messaging
    public static func startPrivate(_ user: String) -> String { "Start private messaging with \(user)" }
    public static func privateAsk(_ from: String) -> String { "\(from) would like to private message, enter y or n: " }
    public static func privateAccepts(_ user: String) -> String { "\(user) accepts private messaging" }
    public static func privateDeclines(_ user: String) -> String { "\(user) declines private messaging" }
    public static let cannotPrivateSelf = "Error. Cannot start private messaging with self"
    public static func userOffline(_ user: String) -> String { "Error. \(user) is offline" }
    public static func hasBlockedYou(_ user: String) -> String { "Error. \(user) has blocked you" }
    public static func privateImpossible(_ user: String) -> String {
        "Error. Private messaging with \(user) is not possible from this client"
    }
    public static func privateLine(from: String, text: String) -> String { "\(from)(private): \(text)" }
    public static func privateNotEnabled(_ user: String) -> String { "Error. Private messaging to \(user) not enabled" }
    public static func noLongerReachable(_ user: String) -> String { "Error. \(user) is no longer reachable" }
    public static func stoppedPrivate(_ user: String) -> String { "\(user) stopped private messaging" }
    public static func noPrivateSession(_ user: String) -> String { "Error. No private messaging session with \(user)" }
    public static func privateConcluding(_ user: String) -> String { "\(user) logged out, private chat concluding" }

    // Rooms (docs/PROTOCOL.md §12); names are written with a leading `#`
    public static func youJoined(_ room: String) -> String { "You joined #\(room)" }
    public static func youCreated(_ room: String) -> String { "You created #\(room)" }
    public static func memberJoined(_ user: String, _ room: String) -> String { "\(user) joined #\(room)" }
    public static func youLeft(_ room: String) -> String { "You left #\(room)" }
    public static func memberLeft(_ user: String, _ room: String) -> String { "\(user) left #\(room)" }
    public static func roomLine(room: String, from: String, text: String) -> String { "#\(room) \(from): \(text)" }
    public static func roomCount(_ room: String, members: Int) -> String { "#\(room) (\(members) members)" }
    public static let inNoRooms = "You are in no rooms"
    public static func wasRemoved(_ user: String, _ room: String) -> String { "\(user) was removed from #\(room)" }
    public static func youWereRemoved(_ room: String, by owner: String) -> String { "You were removed from #\(room) by \(owner)" }
    public static func isBanned(_ user: String, _ room: String) -> String { "\(user) is banned from #\(room)" }
    public static func youWereBanned(_ room: String, by owner: String) -> String { "You were banned from #\(room) by \(owner)" }
    public static func isUnbanned(_ user: String, _ room: String) -> String { "\(user) is unbanned from #\(room)" }
    public static let invalidRoom = "Error. Invalid room"
    public static func bannedFrom(_ room: String) -> String { "Error. You are banned from #\(room)" }
    public static func alreadyIn(_ room: String) -> String { "Error. You are already in #\(room)" }
    public static func notIn(_ room: String) -> String { "Error. You are not in #\(room)" }
    public static func onlyOwner(_ room: String) -> String { "Error. Only the owner of #\(room) can do that" }
    public static func userNotIn(_ user: String, _ room: String) -> String { "Error. \(user) is not in #\(room)" }
    public static let cannotBanSelf = "Error. Cannot ban self"
    public static let cannotKickSelf = "Error. Cannot remove self"
    public static let cannotUnbanSelf = "Error. Cannot unban self"
    public static func roomIsFull(_ room: String) -> String { "Error. #\(room) is full" }
    public static let tooManyRooms = "Error. You are in too many rooms"
    public static let noMoreRooms = "Error. No more rooms can be created on this server"

    /// The terminal wording of an error reply, for the request that caused it. JSON clients get `code` and
    /// `message`; the terminal client and text mode map the code back to its exact terminal line with this.
    public static func line(for error: ChatError, request: ClientRequest) -> String {
        switch (error.code, request) {
        case (.invalidUser, _), (.noSuchUser, _): return invalidUser
        case (.self, .message): return cannotMessageSelf
        case (.self, .block): return cannotBlockSelf
        case (.self, .unblock): return cannotUnblockSelf
        case (.self, .startprivate): return cannotPrivateSelf
        case (.blocked, .message): return recipientBlockedYou
        case (.blocked, .startprivate(let user)): return hasBlockedYou(user)
        case (.alreadyBlocked, .block(let user)): return alreadyBlocked(user)
        case (.notBlocked, .unblock(let user)): return wasNotBlocked(user)
        case (.offline, .startprivate(let user)): return userOffline(user)
        case (.noP2P, .startprivate(let user)): return privateImpossible(user)
        case (.self, .ban): return cannotBanSelf
        case (.self, .kick): return cannotKickSelf
        case (.self, .unban): return cannotUnbanSelf
        case (.blocked, .say): return someRecipientsMissed
        case (.invalidRoom, _): return invalidRoom
        case (.banned, .join(let room)): return bannedFrom(room)
        case (.alreadyMember, .join(let room)): return alreadyIn(room)
        case (.notMember, .kick(let room, let user)): return userNotIn(user, room)
        case (.notMember, let request): return request.roomName.map(notIn) ?? "Error. \(error.message)"
        case (.notOwner, let request): return request.roomName.map(onlyOwner) ?? "Error. \(error.message)"
        case (.roomFull, .join(let room)): return roomIsFull(room)
        case (.tooManyRooms, _): return error.message == noMoreRooms ? noMoreRooms : tooManyRooms
        case (.badRequest, _): return invalidCommand
        default: return "Error. \(error.message)"
        }
    }
}
