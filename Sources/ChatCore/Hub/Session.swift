/// One conversation with the hub, whichever door it came through. Confined to the hub's serialisation.
///
/// A socket session (JSON lines, WebSocket, text mode) lives from connect to disconnect. A REST request is a
/// short-lived session: created already past authentication (or anonymous, for login and registration), it gets
/// exactly one reply, handed to a completion, and it is never "online": no presence, no idle timer.
final class Session: @unchecked Sendable {
    enum State: Equatable {
        /// Connected, not logged in.
        case anonymous
        /// A password check or hash for `user` is running on the worker pool.
        case authenticating(user: String)
        /// Credentials accepted; waiting for the offline queue from the store before going online.
        case entering(user: String)
        case online(user: String)
        /// Logged out, timed out or disconnected; late completions for it are dropped.
        case closed
    }

    /// Where replies go.
    enum Door {
        /// JSON lines or WebSocket: each reply is one encoded object.
        case json
        /// The plain-text dialogue: replies are worded by `dialogue`.
        case text
        /// A REST request: its one reply goes to this completion, after the hub's lock is released.
        case rest(@Sendable (ServerEvent) -> Void)
    }

    let id: ClientID
    let door: Door
    /// The peer's address as seen by the server (the host handed to a P2P asker, the per-address limits' key);
    /// nil for a caller that is not a network peer.
    let peerHost: String?
    var state: State = .anonymous
    let connectedAt: Int64
    /// Last valid command (docs/PROTOCOL.md §7: only valid commands count as activity).
    var lastActivity: Int64
    var peer: PeerCapability = .none
    /// The client acknowledges what it receives (`ack`); without it, handing a message over counts as received.
    var acks = false
    /// Set when this login's replay could not be read: the inbox after this seq never reached the session, so
    /// nothing it is handed or acks moves the cursor past it, and those messages come at the next login.
    var cursorCeiling: Int64?
    /// The highest inbox seq handed to this session, live or replayed. A message can reach a session twice in a
    /// cluster: a replay reads the store and finds a message whose notice from the sending node is still on
    /// its way (the second look after a login, a link that came back); the notice then brings it again.
    var handedUpTo: Int64 = 0
    /// Room → the highest room seq handed to this session, live or replayed (a message is shown once).
    var roomHandedUpTo: [String: Int64] = [:]
    /// Set from `welcome` until the login's room replay is over: live room messages wait in it.
    var roomReplay: RoomReplay?
    /// The room replay could not be read: nothing this session receives moves its room cursors, so what it
    /// missed comes at the next login.
    var roomCursorsPinned = false
    /// Token handed out with `welcome`; revoked by `logout`.
    var tokenDigest: String?
    /// Requests that arrived behind a login still being checked; replayed once online, refused if it fails.
    var deferred: [(ClientRequest, RequestID?)] = []
    static let maxDeferred = 32
    /// The server-side terminal dialogue, for text sessions only; updated in place as lines and replies pass.
    var dialogue: TextDialogue?

    /// A socket session.
    init(id: ClientID, kind: ClientKind, peerHost: String, now: Int64) {
        self.id = id
        self.door = kind == .text ? .text : .json
        self.peerHost = peerHost
        self.connectedAt = now
        self.lastActivity = now
        if kind == .text { dialogue = TextDialogue() }
    }

    /// A REST request's session, for `user` (nil: anonymous, for login and registration).
    init(restUser user: String?, peerHost: String?, now: Int64, reply: @escaping @Sendable (ServerEvent) -> Void) {
        self.id = Self.restID
        self.door = .rest(reply)
        self.peerHost = peerHost
        self.connectedAt = now
        self.lastActivity = now
        if let user { state = .online(user: user) }
    }

    /// REST sessions are never in the session table, so they share one id that no connection uses.
    static let restID = ClientID(.max)

    var kind: ClientKind? {
        switch door {
        case .json: .json
        case .text: .text
        case .rest: nil
        }
    }

    var isREST: Bool {
        if case .rest = door { return true }
        return false
    }

    var onlineUser: String? {
        if case .online(let user) = state { return user }
        return nil
    }

    var isClosed: Bool { state == .closed }
}
