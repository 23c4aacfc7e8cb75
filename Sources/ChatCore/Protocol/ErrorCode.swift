/// Stable, machine-readable error codes (docs/PROTOCOL.md §6). Their raw values are the wire strings.
public enum ErrorCode: String, Sendable, Equatable, CaseIterable {
    case badRequest = "bad_request"
    case tooLarge = "too_large"
    case notLoggedIn = "not_logged_in"
    case alreadyLoggedIn = "already_logged_in"
    case badToken = "bad_token"
    case noSuchUser = "no_such_user"
    case badPassword = "bad_password"
    case locked
    case alreadyOnline = "already_online"
    case userExists = "user_exists"
    case invalidUsername = "invalid_username"
    case invalidPassword = "invalid_password"
    case invalidUser = "invalid_user"
    case `self` = "self"
    case blocked
    case alreadyBlocked = "already_blocked"
    case notBlocked = "not_blocked"
    case offline
    case noP2P = "no_p2p"
    case noRequest = "no_request"
    case noSession = "no_session"
    case rateLimited = "rate_limited"
    case busy
    case invalidRoom = "invalid_room"
    case banned
    case alreadyMember = "already_member"
    case notMember = "not_member"
    case notOwner = "not_owner"
    /// A room at its member limit, or a user (or the server) at its room limit.
    case roomFull = "room_full"
    case tooManyRooms = "too_many_rooms"
    case internalError = "internal"
}

/// A failed request: the code plus the human text (the terminal wording where there is one).
public struct ChatError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    /// `bad_password`: failures left before the lockout (0: this failure locked the account).
    public var attemptsLeft: Int?
    /// `locked` and `rate_limited`: whole seconds until a retry can succeed.
    public var retryAfter: Int?

    public init(_ code: ErrorCode, _ message: String, attemptsLeft: Int? = nil, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.attemptsLeft = attemptsLeft
        self.retryAfter = retryAfter
    }
}
