/// The hub's tunables. Times are in milliseconds, like every clock value in ChatCore.
public struct HubConfiguration: Sendable {
    /// docs/PROTOCOL.md §3: lockout length after three wrong passwords (the server's `block_duration` argument).
    public var blockDuration: Int64
    /// docs/PROTOCOL.md §7: idle time before automatic logout (the server's `timeout` argument).
    public var idleTimeout: Int64
    /// A connection that has not logged in by then is closed (bounded handshake time,
    /// docs/ARCHITECTURE.md §6 principle 4).
    public var loginTimeout: Int64 = 120_000
    /// docs/PROTOCOL.md §3: consecutive wrong passwords that lock an account.
    public var maxFailedAttempts = 3
    /// Password checks queued past this are refused with `busy` instead of queueing without bound: a login
    /// storm may slow logins, never the event loops (docs/ARCHITECTURE.md §6 principle 2).
    public var maxHashBacklog = 64
    /// Bearer tokens from `welcome` and `POST /api/login` expire after this.
    public var tokenLifetime: Int64 = 30 * 24 * 3600 * 1000
    /// docs/PROTOCOL.md §9.2: an unanswered private request is declined after this.
    public var privateRequestTimeout: Int64 = 60_000
    /// Abuse limits (docs/SECURITY.md): messages per user, password attempts and registrations per address.
    public var limits = AbuseLimits()
    /// Room limits (docs/SECURITY.md): joins past them are refused (`too_many_rooms`, `room_full`) and counted.
    public var rooms = RoomLimits()
    /// If set, new accounts are also appended in plaintext to this file (`--append-credentials`, the classic server's behaviour).
    public var appendCredentialsPath: String?

    public init(blockDuration: Int64, idleTimeout: Int64) {
        self.blockDuration = blockDuration
        self.idleTimeout = idleTimeout
    }
}

/// How far rooms may grow. Each bounds memory the hub keeps per room or per user, and the work of one `say`.
public struct RoomLimits: Sendable, Equatable {
    /// Rooms one user may be a member of at once.
    public var roomsPerUser = 500
    /// Members one room may hold; a `say` costs one delivery per online member.
    public var membersPerRoom = 5_000
    /// Rooms on the server, empty ones included (a room outlives its members).
    public var totalRooms = 100_000
    /// Missed messages replayed per room at login; older ones are left to history.
    public var replayPerRoom = 50

    public init() {}
}
