import ChatCore
import Foundation

/// An in-memory `ChatStore` for hub unit tests: the same rules as `SQLiteStore` (uniqueness, references to
/// existing accounts, per-call all-or-nothing, one "commit" per batch, completions in submission order), but the
/// test decides when a batch "commits".
///
/// By default calls only queue; `runPending()` runs everything queued, completions included, on the calling
/// thread. With `autoRun` each call runs at once, inline. `failNextBatch(with:)` simulates a failed commit.
/// Thread-safe: any thread may submit; one thread at a time drains.
public final class MemoryStore: ChatStore, @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var data = MemoryData()
    private var jobs: [StoreJob] = []
    private var isDraining = false
    private var isClosed = false
    private var commits = 0
    private var injectedFailure: (any Error)?
    private var runsInline = false

    /// An empty store, or one holding `snapshot` (accounts, blocks, tokens, login history; no messages, so no
    /// inboxes or cursors).
    public init(snapshot: StoreSnapshot? = nil) {
        if let snapshot {
            for account in snapshot.accounts { data.accounts[account.name] = account }
            data.blocks = snapshot.blocks
            for token in snapshot.tokens { data.tokens[token.digest] = token }
            data.lastSeen = snapshot.lastSeen
        }
    }

    /// When true, every call runs (and completes) inline on the caller's thread.
    public var autoRun: Bool {
        get { lock.withLock { runsInline } }
        set { lock.withLock { runsInline = newValue } }
    }

    /// Batches that held at least one `perform` and "committed".
    public var commitCount: Int { lock.withLock { commits } }

    /// Calls queued and not yet run.
    public var queuedCount: Int { lock.withLock { jobs.count } }

    /// The next batch fails as a whole with `error`, as if its commit had failed: none of its writes stay.
    public func failNextBatch(with error: any Error) {
        lock.withLock { injectedFailure = error }
    }

    /// Runs everything queued as one batch, then calls the completions in submission order, on this thread.
    /// Work queued by those completions runs too, as a following batch, until nothing is left. If another
    /// thread is already draining, returns at once (that thread picks the work up).
    public func runPending() {
        let claimed = lock.withLock {
            if isDraining { return false }
            isDraining = true
            return true
        }
        guard claimed else { return }
        while let completions = runOneBatch() {
            for complete in completions { complete() }
        }
    }

    // MARK: - ChatStore

    public func loadSnapshot() throws -> StoreSnapshot {
        try lock.withLock {
            guard !isClosed else { throw StoreError.closed }
            return data.snapshot()
        }
    }

    public func perform(_ writes: [StoreWrite], meta: [String: String],
                        done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        submit(.write(writes, meta: meta, done: done))
    }

    public func append(_ message: StoredMessage, done: @escaping @Sendable (Result<StoredMessage, any Error>) -> Void) {
        submit(.append(message, done: done))
    }

    public func inbox(_ query: InboxQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        submit(.inbox(query, done: done))
    }

    public func history(_ query: HistoryQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        submit(.history(query, done: done))
    }

    public func inboxHead(of user: String, done: @escaping @Sendable (Result<InboxHead, any Error>) -> Void) {
        submit(.inboxHead(user, done: done))
    }

    public func account(named name: String, done: @escaping @Sendable (Result<AccountRecord?, any Error>) -> Void) {
        submit(.account(name, done: done))
    }

    public func token(digest: String, done: @escaping @Sendable (Result<TokenRecord?, any Error>) -> Void) {
        submit(.token(digest, done: done))
    }

    public func appendRoom(_ message: RoomMessage, done: @escaping @Sendable (Result<RoomMessage, any Error>) -> Void) {
        submit(.appendRoom(message, done: done))
    }

    public func roomLogs(_ queries: [RoomLogQuery], done: @escaping @Sendable (Result<[[RoomMessage]], any Error>) -> Void) {
        submit(.roomLogs(queries, done: done))
    }

    public func room(named name: String, done: @escaping @Sendable (Result<RoomRecord?, any Error>) -> Void) {
        submit(.room(name, done: done))
    }

    public func roomCursors(of user: String, done: @escaping @Sendable (Result<[String: Int64], any Error>) -> Void) {
        submit(.roomCursors(user, done: done))
    }

    /// Runs what is queued, then refuses further calls.
    public func close() {
        runPending()
        lock.withLock { isClosed = true }
    }

    public func metaValue(_ key: String) throws -> String? {
        lock.withLock { data.meta[key] }
    }

    // MARK: - Batches

    private func submit(_ job: StoreJob) {
        let (accepted, inline) = lock.withLock {
            guard !isClosed else { return (false, false) }
            jobs.append(job)
            return (true, runsInline)
        }
        if !accepted { job.fail(StoreError.closed) } else if inline { runPending() }
    }

    /// Takes the queue, applies it, and returns its completions; nil (and stops draining) when the queue is empty.
    private func runOneBatch() -> [() -> Void]? {
        lock.withLock {
            guard !jobs.isEmpty else {
                isDraining = false
                return nil
            }
            let batch = jobs
            jobs.removeAll()
            let before = data
            var completions: [() -> Void] = []
            for job in batch {
                switch job {
                case .write(let writes, let meta, let done):
                    // A savepoint per call, as in SQLiteStore.
                    let savepoint = data
                    do {
                        for write in writes { try data.apply(write) }
                        for (key, value) in meta { data.meta[key] = value }
                        completions.append { done(.success(())) }
                    } catch {
                        data = savepoint
                        completions.append { done(.failure(error)) }
                    }
                case .append(let message, let done):
                    do {
                        let stored = try data.append(message)
                        completions.append { done(.success(stored)) }
                    } catch {
                        completions.append { done(.failure(error)) }
                    }
                case .inbox(let query, let done):
                    let messages = data.inbox(query)
                    completions.append { done(.success(messages)) }
                case .history(let query, let done):
                    let messages = data.history(query)
                    completions.append { done(.success(messages)) }
                case .inboxHead(let user, let done):
                    let head = data.inboxHead(of: user)
                    completions.append { done(.success(head)) }
                case .account(let name, let done):
                    let account = data.accounts[name]
                    completions.append { done(.success(account)) }
                case .token(let digest, let done):
                    let token = data.tokens[digest]
                    completions.append { done(.success(token)) }
                case .appendRoom(let message, let done):
                    do {
                        let stored = try data.appendRoom(message)
                        completions.append { done(.success(stored)) }
                    } catch {
                        completions.append { done(.failure(error)) }
                    }
                case .roomLogs(let queries, let done):
                    let pages = queries.map { data.roomLog($0) }
                    completions.append { done(.success(pages)) }
                case .room(let name, let done):
                    let room = data.rooms[name]
                    completions.append { done(.success(room)) }
                case .roomCursors(let user, let done):
                    let cursors = data.roomCursors[user] ?? [:]
                    completions.append { done(.success(cursors)) }
                }
            }
            if let failure = injectedFailure {
                injectedFailure = nil
                data = before
                return batch.map { job in { job.fail(failure) } }
            }
            if batch.contains(where: \.isWrite) { commits += 1 }
            return completions
        }
    }
}

/// The tables of `StoreSchema`, as values. Mirrors its constraints so hub tests meet the same failures.
struct MemoryData {
    var accounts: [String: AccountRecord] = [:]
    var blocks: [String: Set<String>] = [:]
    /// By id.
    var messages: [Int64: StoredMessage] = [:]
    /// Recipient → the ids of their inbox in seq order: seq n is `inboxes[user][n - 1]`.
    var inboxes: [String: [Int64]] = [:]
    /// Recipient → the highest acknowledged seq.
    var cursors: [String: Int64] = [:]
    var lastSeen: [String: Int64] = [:]
    var tokens: [String: TokenRecord] = [:]
    var meta: [String: String] = [:]
    var lastID: Int64 = 0
    /// Rooms by name (members, bans, owner, last seq), each room's messages in seq order, and user → room → cursor.
    var rooms: [String: RoomRecord] = [:]
    var roomLog: [String: [RoomMessage]] = [:]
    var roomCursors: [String: [String: Int64]] = [:]
    /// The ids room messages took (direct and room messages share one id sequence).
    var roomIDs: Set<Int64> = []

    /// Checks everything before changing anything, so a failed append consumes no seq. An id of 0 asks the store
    /// to number the message (as a cluster's shared store does).
    mutating func append(_ message: StoredMessage) throws -> StoredMessage {
        guard messages[message.id] == nil, !roomIDs.contains(message.id) else { throw StoreError.constraint("message \(message.id) exists") }
        try requireAccounts(message.from, message.to)
        var stored = message
        if stored.id == 0 { stored.id = lastID + 1 }
        lastID = max(lastID, stored.id)
        stored.seq = Int64(inboxes[message.to, default: []].count + 1)
        messages[stored.id] = stored
        inboxes[message.to, default: []].append(stored.id)
        return stored
    }

    mutating func apply(_ write: StoreWrite) throws {
        switch write {
        case .createAccount(let account):
            guard accounts[account.name] == nil else { throw StoreError.constraint("account \(account.name) exists") }
            accounts[account.name] = account
        case .setPasswordHash(let user, let hash):
            guard accounts[user] != nil else { throw StoreError.constraint("no account named \(user)") }
            accounts[user]?.passwordHash = hash
        case .advanceCursor(let user, let seq):
            try requireAccounts(user)
            let last = Int64(inboxes[user]?.count ?? 0)
            guard seq <= last else { throw StoreError.constraint("cursor \(seq) beyond the inbox of \(user) (last \(last))") }
            cursors[user] = max(cursors[user] ?? 0, seq)
        case .recordSeen(let user, let at):
            try requireAccounts(user)
            lastSeen[user] = at
        case .setBlock(let blocker, let blocked, let isBlocked):
            if isBlocked {
                try requireAccounts(blocker, blocked)
                blocks[blocker, default: []].insert(blocked)
            } else {
                blocks[blocker]?.remove(blocked)
                if blocks[blocker]?.isEmpty == true { blocks[blocker] = nil }
            }
        case .insertToken(let token):
            guard tokens[token.digest] == nil else { throw StoreError.constraint("token exists") }
            try requireAccounts(token.user)
            tokens[token.digest] = token
        case .deleteToken(let digest):
            tokens[digest] = nil
        case .deleteExpiredTokens(let now):
            tokens = tokens.filter { $0.value.expiresAt > now }
        case .createRoom, .setRoomMember, .setRoomOwner, .setRoomBan, .advanceRoomCursor:
            try applyRoom(write)
        }
    }

    /// The FOREIGN KEY checks of the SQL schema.
    func requireAccounts(_ names: String...) throws {
        for name in names where accounts[name] == nil {
            throw StoreError.constraint("no account named \(name)")
        }
    }

    func snapshot() -> StoreSnapshot {
        var heads: [String: InboxHead] = [:]
        for user in Set(inboxes.keys).union(cursors.keys) {
            heads[user] = InboxHead(last: Int64(inboxes[user]?.count ?? 0), acked: cursors[user] ?? 0)
        }
        return StoreSnapshot(accounts: accounts.values.sorted { $0.name < $1.name },
                             blocks: blocks,
                             tokens: tokens.values.sorted { $0.expiresAt < $1.expiresAt },
                             lastMessageID: lastID,
                             inboxes: heads,
                             lastSeen: lastSeen,
                             rooms: rooms.values.sorted { $0.name < $1.name },
                             roomCursors: roomCursors)
    }

    func inboxHead(of user: String) -> InboxHead {
        InboxHead(last: Int64(inboxes[user]?.count ?? 0), acked: cursors[user] ?? 0)
    }

    func inbox(_ query: InboxQuery) -> [StoredMessage] {
        let ids = inboxes[query.user] ?? []
        let start = Int(max(0, min(query.after, Int64(ids.count))))
        return ids[start...].prefix(query.effectiveLimit).compactMap { messages[$0] }
    }

    /// A linear scan: fine for test data sizes.
    func history(_ query: HistoryQuery) -> [StoredMessage] {
        let before = query.before ?? Int64.max
        let page = messages.values.filter { message in
            guard message.id < before else { return false }
            if let other = query.with {
                return (message.from == query.owner && message.to == other)
                    || (message.from == other && message.to == query.owner)
            }
            return message.from == query.owner || message.to == query.owner
        }
        return Array(page.sorted { $0.id > $1.id }.prefix(query.effectiveLimit))
    }
}

extension MemoryStore {
    /// Creates these accounts (passwords encoded the way `QueuedHasher` checks them) and returns the snapshot a
    /// hub starts from, as the hub and REST harnesses both need.
    public func seed(accounts: [(String, String)]) -> StoreSnapshot {
        var snapshot = StoreSnapshot(accounts: [], blocks: [:], tokens: [], lastMessageID: 0)
        for (name, password) in accounts {
            let record = AccountRecord(name: name, passwordHash: QueuedHasher.encode(password), createdAt: 0)
            snapshot.accounts.append(record)
            perform([.createAccount(record)]) { _ in }
        }
        runPending()
        return snapshot
    }
}
