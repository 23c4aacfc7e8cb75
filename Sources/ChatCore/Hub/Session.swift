/// One connected client as the hub sees it. Confined to the hub's lock; never escapes it.
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

    let id: ClientID
    let kind: ClientKind
    /// The peer's address as seen by the server (the host handed to a P2P asker).
    let peerHost: String
    var state: State = .anonymous
    let connectedAt: Int64
    /// Last valid command (SPEC.md §3: only valid commands count as activity).
    var lastActivity: Int64
    var peer: PeerCapability = .none
    /// Token handed out with `welcome`; revoked by `logout`.
    var tokenDigest: String?
    /// Messages committed while this session was `.entering` that its offline fetch cannot contain.
    var lateMessages: [StoredMessage] = []
    /// Requests that arrived behind a login still being checked; replayed once online, refused if it fails.
    var deferred: [(ClientRequest, RequestID?)] = []
    static let maxDeferred = 32
    /// The server-side SPEC.md dialogue, for `.text` clients only.
    var dialogue: TextDialogue?

    init(id: ClientID, kind: ClientKind, peerHost: String, now: Int64) {
        self.id = id
        self.kind = kind
        self.peerHost = peerHost
        self.connectedAt = now
        self.lastActivity = now
        if kind == .text { dialogue = TextDialogue() }
    }

    var onlineUser: String? {
        if case .online(let user) = state { return user }
        return nil
    }

    var isClosed: Bool { state == .closed }
}
