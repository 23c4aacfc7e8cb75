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

    /// Requests allowed before login (docs/PROTOCOL.md §4.2): everything else gets `not_logged_in`.
    public var isAllowedBeforeLogin: Bool {
        switch self {
        case .lookup, .login, .register: return true
        default: return false
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
