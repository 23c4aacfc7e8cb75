/// How a client can take part in direct (peer-to-peer) private chat, declared at login (docs/PROTOCOL.md §9.1).
public enum PeerCapability: Sendable, Equatable {
    /// Text mode and scripts: no direct connections at all.
    case none
    /// A terminal client listening on this TCP port.
    case tcp(port: Int)
    /// A browser using WebRTC data channels.
    case webRTC
}

/// What a `login` presents: a password, or a bearer token to resume after a reload or restart.
public enum LoginCredential: Sendable, Equatable {
    case password(String)
    case token(String)
}

/// One request of the protocol (docs/PROTOCOL.md §4.3), decoded and type-checked.
public enum ClientRequest: Sendable, Equatable {
    case lookup(user: String)
    /// `acks`: the client acknowledges what it received (`ack`), so its inbox is replayed from its acked cursor
    /// at every login; without it a message counts as received once handed to the connection.
    case login(user: String, credential: LoginCredential, peer: PeerCapability, acks: Bool = false)
    case register(user: String, password: String, peer: PeerCapability, acks: Bool = false)
    case message(to: String, text: String)
    case broadcast(text: String)
    case whoelse
    case whoelsesince(seconds: Int)
    case block(user: String)
    case unblock(user: String)
    case startprivate(user: String)
    case privatereply(user: String, accept: Bool)
    case activity
    case history(with: String?, before: Int64?, limit: Int)
    case signal(to: String, data: JSONValue)
    /// Everything in the caller's inbox up to and including `seq` has been received.
    case ack(seq: Int64)
    /// REST only (`GET /api/inbox`): the caller's inbox after `after` (nil: the acked cursor), at most `limit`,
    /// waiting up to `wait` seconds for something to arrive. The JSON decoder never produces it.
    case inbox(after: Int64?, limit: Int, wait: Int)
    case logout
    // Rooms (docs/PROTOCOL.md §12). Room names are bare (no `#`).
    case join(room: String)
    case leave(room: String)
    case say(room: String, text: String)
    case rooms
    case members(room: String)
    case kick(room: String, user: String)
    case ban(room: String, user: String)
    case unban(room: String, user: String)
    /// `ack` with a `room`: everything in that room up to and including `seq` has been received.
    case roomAck(room: String, seq: Int64)
    /// `history` with a `room`: the room's messages, newest first, `id < before`.
    case roomHistory(room: String, before: Int64?, limit: Int)
    /// REST only (`GET /api/rooms/{room}/messages`): the room after `after` (nil: the caller's cursor), oldest
    /// first, at most `limit`, waiting up to `wait` seconds for something to arrive.
    case roomRead(room: String, after: Int64?, limit: Int, wait: Int)

    /// Requests allowed before login (docs/PROTOCOL.md §4.2): everything else gets `not_logged_in`.
    public var isAllowedBeforeLogin: Bool {
        switch self {
        case .lookup, .login, .register: return true
        default: return false
        }
    }

    /// The room a room request names, nil for every other request.
    public var roomName: String? {
        switch self {
        case .join(let room), .leave(let room), .say(let room, _), .members(let room), .kick(let room, _),
             .ban(let room, _), .unban(let room, _), .roomAck(let room, _), .roomHistory(let room, _, _),
             .roomRead(let room, _, _, _):
            return room
        default:
            return nil
        }
    }

    /// The wire name, for logs and metrics.
    public var typeName: String {
        switch self {
        case .lookup: return "lookup"
        case .login: return "login"
        case .register: return "register"
        case .message: return "message"
        case .broadcast: return "broadcast"
        case .whoelse: return "whoelse"
        case .whoelsesince: return "whoelsesince"
        case .block: return "block"
        case .unblock: return "unblock"
        case .startprivate: return "startprivate"
        case .privatereply: return "privatereply"
        case .activity: return "activity"
        case .history: return "history"
        case .signal: return "signal"
        case .ack: return "ack"
        case .inbox: return "inbox"
        case .logout: return "logout"
        case .join: return "join"
        case .leave: return "leave"
        case .say: return "say"
        case .rooms: return "rooms"
        case .members: return "members"
        case .kick: return "kick"
        case .ban: return "ban"
        case .unban: return "unban"
        case .roomAck: return "ack"
        case .roomHistory: return "history"
        case .roomRead: return "room_read"
        }
    }
}

/// The `id` a request may carry; replies echo it as `re`.
public enum RequestID: Sendable, Equatable, Hashable {
    case string(String)
    case number(Int64)
}

/// A decoded request with its optional id.
public struct RequestEnvelope: Sendable, Equatable {
    public var id: RequestID?
    public var request: ClientRequest

    public init(id: RequestID?, request: ClientRequest) {
        self.id = id
        self.request = request
    }
}
