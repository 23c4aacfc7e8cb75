/// The records the hub keeps in memory and the store keeps on disk, the writes the hub submits, and the
/// `ChatStore` contract both stores (SQLite and in-memory) implement.
///
/// The hub is the source of truth while the server runs: it decides, updates its memory, and hands the store
/// a list of writes. The store's job is to make them durable in order and to say when they are, so the hub can
/// acknowledge only what is on disk (docs/ARCHITECTURE.md §6 principle 3).

/// One direct message, as stored for history and for the recipient's inbox.
public struct StoredMessage: Sendable, Equatable, Codable {
    /// Chosen by the hub (`StoreSnapshot.lastMessageID` + 1, + 2, …), unique, increasing in send order.
    public var id: Int64
    /// The message's place in the recipient's inbox (1, 2, 3, … per recipient, gap-free). 0 in a message handed
    /// to `append` (the store assigns it), above 0 in everything a store returns.
    public var seq: Int64
    public var from: String
    public var to: String
    public var text: String
    /// Milliseconds since the Unix epoch.
    public var at: Int64

    public init(id: Int64, seq: Int64 = 0, from: String, to: String, text: String, at: Int64) {
        self.id = id
        self.seq = seq
        self.from = from
        self.to = to
        self.text = text
        self.at = at
    }
}

/// Where one user's inbox stands: the last seq given out and the highest seq the user acknowledged. The
/// messages with `acked < seq <= last` are the ones still to be delivered (the offline queue).
public struct InboxHead: Sendable, Equatable {
    public var last: Int64
    public var acked: Int64

    public init(last: Int64, acked: Int64) {
        self.last = last
        self.acked = acked
    }
}

/// One account: the name (case-sensitive) and its encoded argon2id hash (salt and parameters inside).
public struct AccountRecord: Sendable, Equatable {
    public var name: String
    public var passwordHash: String
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64

    public init(name: String, passwordHash: String, createdAt: Int64) {
        self.name = name
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A login token. Only its digest is stored, so a copy of the database does not let anyone log in.
public struct TokenRecord: Sendable, Equatable {
    /// Lower-case hex SHA-256 of the token.
    public var digest: String
    public var user: String
    /// Milliseconds since the Unix epoch.
    public var expiresAt: Int64

    public init(digest: String, user: String, expiresAt: Int64) {
        self.digest = digest
        self.user = user
        self.expiresAt = expiresAt
    }
}

/// Everything the hub keeps in memory, read once at start.
public struct StoreSnapshot: Sendable {
    public var accounts: [AccountRecord]
    /// Blocker → the names they block.
    public var blocks: [String: Set<String>]
    /// Every stored token, expired ones included (the hub filters by time; `deleteExpiredTokens` prunes).
    public var tokens: [TokenRecord]
    /// The highest stored message id, 0 for an empty store.
    public var lastMessageID: Int64
    /// Every user with a non-empty inbox or a cursor; everyone else stands at 0/0.
    public var inboxes: [String: InboxHead]
    /// Login history: user → when they were last online (their last logout), milliseconds.
    public var lastSeen: [String: Int64]
    /// Every room, empty ones included.
    public var rooms: [RoomRecord]
    /// User → room → the highest room seq the user acknowledged; a member without a cursor stands at 0.
    public var roomCursors: [String: [String: Int64]]

    public init(accounts: [AccountRecord], blocks: [String: Set<String>], tokens: [TokenRecord], lastMessageID: Int64,
                inboxes: [String: InboxHead] = [:], lastSeen: [String: Int64] = [:], rooms: [RoomRecord] = [],
                roomCursors: [String: [String: Int64]] = [:]) {
        self.accounts = accounts
        self.blocks = blocks
        self.tokens = tokens
        self.lastMessageID = lastMessageID
        self.inboxes = inboxes
        self.lastSeen = lastSeen
        self.rooms = rooms
        self.roomCursors = roomCursors
    }
}

/// One change to the store. A `perform` call applies its list of writes all or nothing.
public enum StoreWrite: Sendable, Equatable {
    /// Fails if the name exists.
    case createAccount(AccountRecord)
    /// Fails if there is no such account.
    case setPasswordHash(user: String, hash: String)
    /// The user's acknowledged cursor becomes max(current, seq). Fails if there is no such account or `seq` is
    /// beyond the last seq of the user's inbox (the hub checks first).
    case advanceCursor(user: String, to: Int64)
    /// Login history for whoelsesince: the time the user was last online. Only the latest per user is kept.
    /// Fails if there is no such account.
    case recordSeen(user: String, at: Int64)
    /// Idempotent: blocking twice or unblocking someone not blocked is not an error here.
    case setBlock(blocker: String, blocked: String, isBlocked: Bool)
    /// Fails if the digest exists.
    case insertToken(TokenRecord)
    /// Unknown digests are ignored.
    case deleteToken(digest: String)
    /// Deletes tokens with `expiresAt <= now`.
    case deleteExpiredTokens(now: Int64)
    /// A new, empty, ownerless room. Fails if the name exists.
    case createRoom(name: String, at: Int64)
    /// Adds (with its join time) or removes a member; idempotent. Removing the owner leaves the owner as it is:
    /// the hub names the successor with `setRoomOwner`. Fails if there is no such room or account.
    case setRoomMember(room: String, user: String, isMember: Bool, at: Int64)
    /// Nil leaves the room ownerless. Fails if there is no such room or account.
    case setRoomOwner(room: String, owner: String?)
    /// Idempotent. Fails if there is no such room or account.
    case setRoomBan(room: String, user: String, isBanned: Bool)
    /// The user's cursor in the room becomes max(current, seq). Fails if there is no such room or account, or
    /// `seq` is beyond the room's last seq.
    case advanceRoomCursor(user: String, room: String, to: Int64)
}

/// Direct messages between `owner` and `with` (or between `owner` and anyone), newest first.
public struct HistoryQuery: Sendable, Equatable {
    /// The largest page a store returns, whatever `limit` asks for (bounded everything, docs/ARCHITECTURE.md §6 principle 4).
    public static let maxLimit = 1000

    public var owner: String
    public var with: String?
    /// Only messages with `id < before`; nil for the newest.
    public var before: Int64?
    /// At most this many (clamped to `maxLimit`; 0 or less gives an empty page).
    public var limit: Int

    public init(owner: String, with: String? = nil, before: Int64? = nil, limit: Int) {
        self.owner = owner
        self.with = with
        self.before = before
        self.limit = limit
    }

    /// `limit` within 0…maxLimit.
    public var effectiveLimit: Int { max(0, min(limit, Self.maxLimit)) }
}

/// One user's inbox after a seq, oldest first: the messages with `seq > after`, at most `limit`.
public struct InboxQuery: Sendable, Equatable {
    /// The largest page a store returns, whatever `limit` asks for.
    public static let maxLimit = 10_000

    public var user: String
    public var after: Int64
    /// At most this many (clamped to `maxLimit`; 0 or less gives an empty page).
    public var limit: Int

    public init(user: String, after: Int64, limit: Int) {
        self.user = user
        self.after = after
        self.limit = limit
    }

    /// `limit` within 0…maxLimit.
    public var effectiveLimit: Int { max(0, min(limit, Self.maxLimit)) }
}

/// Persistence as the hub sees it, plus a small key/value table for bookkeeping (the credentials import keeps
/// the digest of the file it last imported there, so any store can serve it).
///
/// Ordering contract: `perform`, `append`, `inbox`, `history` and `inboxHead` go through one serial queue. Each sees every
/// write submitted before it, and completions run in submission order. Completions are never called on the
/// caller's thread (a test double may choose to, when its test asks), so a caller may hold its own lock while
/// submitting.
public protocol ChatStore: AnyObject, Sendable {
    /// Everything the hub keeps in memory, read once at start.
    func loadSnapshot() throws -> StoreSnapshot
    /// Applies `writes` in order and sets the `meta` keys, all in one all-or-nothing unit. Calls from many
    /// threads are group-committed: one serial writer thread drains everything queued, runs it in ONE
    /// transaction, commits (synchronous=FULL: fsync of the WAL), then calls each `done` in submission order on
    /// the writer thread. `done` is called only after the commit is durable.
    /// One call's writes are all-or-nothing: if one fails, that call's `done` gets the error and the other calls
    /// in the batch still commit; if the commit itself fails, every call in the batch gets the error.
    func perform(_ writes: [StoreWrite], meta: [String: String], done: @escaping @Sendable (Result<Void, any Error>) -> Void)
    /// Appends a direct message to the log and to the recipient's inbox with seq = the recipient's last seq + 1,
    /// in the same group commit as everything else queued; `done` (once the commit is durable) gets the message
    /// with its seq. Fails (constraint) if the id exists or the sender or recipient is unknown. Per recipient,
    /// seqs are gap-free: a failed append consumes no seq.
    func append(_ message: StoredMessage, done: @escaping @Sendable (Result<StoredMessage, any Error>) -> Void)
    /// The user's inbox after `query.after`, oldest first. Same ordering rule: it sees every write submitted
    /// before it, and its `done` runs after the `done`s of those writes.
    func inbox(_ query: InboxQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void)
    /// Direct messages between owner and `with` (or owner and anyone), newest first, id < before, at most limit. Same ordering rule.
    func history(_ query: HistoryQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void)
    /// The user's inbox head as stored: last seq and acknowledged cursor, 0/0 for a user without either (or an
    /// unknown user). Same ordering rule. In a cluster another node may have appended to the inbox or moved the
    /// cursor since the snapshot, so a node reads the head again at login.
    func inboxHead(of user: String, done: @escaping @Sendable (Result<InboxHead, any Error>) -> Void)
    /// One account as stored, nil if there is none. Same ordering rule. (A cluster node asks when a login names
    /// an account another node created a moment ago, before that node's notice arrived.)
    func account(named name: String, done: @escaping @Sendable (Result<AccountRecord?, any Error>) -> Void)
    /// One token as stored, nil if there is none (expired ones included). Same ordering rule. (A cluster node asks
    /// when a client presents a token another node handed out a moment ago.)
    func token(digest: String, done: @escaping @Sendable (Result<TokenRecord?, any Error>) -> Void)
    /// Appends a room message with seq = the room's last seq + 1, in the same group commit as everything else
    /// queued; `done` (once durable) gets it with its seq (and its id, when it asked the store for one). Fails
    /// (constraint) if the room or the sender is unknown or the id exists; a failed append consumes no seq.
    func appendRoom(_ message: RoomMessage, done: @escaping @Sendable (Result<RoomMessage, any Error>) -> Void)
    /// Several reads of room logs in one go (a login's missed messages in every room it follows), answered in
    /// the order asked; an unknown room reads as empty. Same ordering rule.
    func roomLogs(_ queries: [RoomLogQuery], done: @escaping @Sendable (Result<[[RoomMessage]], any Error>) -> Void)
    /// The user's cursor in every room they have one in (room → acknowledged seq). Same ordering rule. (A
    /// cluster node reads them at login: the user's last session may have been on another node.)
    func roomCursors(of user: String, done: @escaping @Sendable (Result<[String: Int64], any Error>) -> Void)
    /// One room as stored (members, bans, owner, last seq), nil if there is none. Same ordering rule. (A cluster
    /// node reads it again where its replica may lag the store.)
    func room(named name: String, done: @escaping @Sendable (Result<RoomRecord?, any Error>) -> Void)
    /// A bookkeeping value set by `perform(_:meta:done:)`, nil if never set. Reads committed data.
    func metaValue(_ key: String) throws -> String?
    /// Drains queued work, then closes the database. Further calls fail with an error.
    func close()
}

extension ChatStore {
    /// `perform(_:meta:done:)` without bookkeeping: what the hub uses for every chat write.
    public func perform(_ writes: [StoreWrite], done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        perform(writes, meta: [:], done: done)
    }
}

/// Failures that come from the store itself rather than from its database library.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `close()` was called; nothing more is accepted.
    case closed
    /// A write broke a rule: duplicate account, message id or token, a missing account, or a cursor beyond the
    /// inbox.
    case constraint(String)
    /// After migrating, the writer's `PRAGMA synchronous` did not read back FULL (2).
    case notDurable(synchronous: Int)
    /// The database server cannot be reached (a PostgreSQL restart, a network cut): the calls of the batch under
    /// way fail with this, nothing of them is acknowledged, and the store reconnects by itself for later calls.
    case unavailable(String)
    /// Stored data does not read as what wrote it (a damaged index row): the read fails whole, nothing is guessed.
    case damaged(String)

    public var description: String {
        switch self {
        case .closed: "the store is closed"
        case .constraint(let what): "store constraint failed: \(what)"
        case .notDurable(let level): "PRAGMA synchronous is \(level) on the writer, expected 2 (FULL)"
        case .unavailable(let why): "the database is unavailable: \(why)"
        case .damaged(let what): "stored data is damaged: \(what)"
        }
    }
}

/// Work waiting for a store's serial queue, in submission order: what a `ChatStore` implementation queues.
public enum StoreJob: Sendable {
    /// `meta` rides in the same savepoint as `writes` (credentials import: accounts and file digest together).
    case write([StoreWrite], meta: [String: String], done: @Sendable (Result<Void, any Error>) -> Void)
    case append(StoredMessage, done: @Sendable (Result<StoredMessage, any Error>) -> Void)
    case inbox(InboxQuery, done: @Sendable (Result<[StoredMessage], any Error>) -> Void)
    case history(HistoryQuery, done: @Sendable (Result<[StoredMessage], any Error>) -> Void)
    case inboxHead(String, done: @Sendable (Result<InboxHead, any Error>) -> Void)
    case account(String, done: @Sendable (Result<AccountRecord?, any Error>) -> Void)
    case token(String, done: @Sendable (Result<TokenRecord?, any Error>) -> Void)
    case appendRoom(RoomMessage, done: @Sendable (Result<RoomMessage, any Error>) -> Void)
    case roomLogs([RoomLogQuery], done: @Sendable (Result<[[RoomMessage]], any Error>) -> Void)
    case room(String, done: @Sendable (Result<RoomRecord?, any Error>) -> Void)
    case roomCursors(String, done: @Sendable (Result<[String: Int64], any Error>) -> Void)

    /// Whether the job changes the store (and so needs a commit).
    public var isWrite: Bool {
        switch self {
        case .write, .append, .appendRoom: true
        case .inbox, .history, .inboxHead, .account, .token, .roomLogs, .room, .roomCursors: false
        }
    }

    /// Reports `error` to the job's completion.
    public func fail(_ error: any Error) {
        switch self {
        case .write(_, _, let done): done(.failure(error))
        case .append(_, let done): done(.failure(error))
        case .inbox(_, let done): done(.failure(error))
        case .history(_, let done): done(.failure(error))
        case .inboxHead(_, let done): done(.failure(error))
        case .account(_, let done): done(.failure(error))
        case .token(_, let done): done(.failure(error))
        case .appendRoom(_, let done): done(.failure(error))
        case .roomLogs(_, let done): done(.failure(error))
        case .room(_, let done): done(.failure(error))
        case .roomCursors(_, let done): done(.failure(error))
        }
    }
}
