import ChatCore
import Dispatch
import Foundation
import Logging
import ParleySupport

/// The durable store on PostgreSQL, for a cluster of nodes sharing one database (and for a single node that
/// wants a database server instead of a file). Same contract as `SQLiteStore` (StoreTypes.swift):
///
/// Group commit: callers only enqueue. One writer thread (its own connection) sleeps until there is work (under
/// sustained load, until `minBatchInterval` after the last batch), takes everything queued and runs it as one
/// transaction per run of calls of one kind: appends, and a cursor flush (inbox or rooms), by the statements of
/// PostgresStore+HotPaths; the rest a statement per call. The completions then run in submission order, on the
/// writer thread, only after the COMMIT returned. Each call is all-or-nothing on its own: a transaction runs
/// bare first (a savepoint per call costs two more round trips per message), and if a call fails it is rolled
/// back and runs again with a SAVEPOINT per call, so the failing call is refused alone. Reads go through the
/// same queue and see every write queued before them.
///
/// Other nodes write to the same database at the same time: seqs come from each recipient's head row (locked
/// until the commit, PostgresSchema explains; the append batches of all nodes take turns under one advisory
/// lock) and a room's from the room's row in the same way, message ids (direct and room alike) from the hub or
/// from the `message_ids` sequence, and nothing is cached between batches. Room calls other than the cursor
/// flush are rare next to direct messages and run the ordinary way, a statement each.
///
/// A lost connection (PostgreSQL restarted, the network cut) fails the calls of the batch under way with
/// `StoreError.unavailable` — none of them was acknowledged — and the writer reconnects by itself, at once and
/// then with a backoff from 100 ms doubling to 2 s, in the background or when the next calls come (they wait
/// for the next attempt, at most 2 s, and fail with `.unavailable` if it fails too). Callers never block.
public final class PostgresStore: ChatStore, @unchecked Sendable {
    /// A batch takes at most this many queued calls, so one transaction stays short even after a stall.
    static let maxBatchJobs = 4096
    static let firstRetryDelay = 0.1
    /// Under sustained load (calls arrived while the last batch ran) a batch starts at most this long after the
    /// one before, unless `fillTarget` calls are already waiting. A transaction costs PostgreSQL about 250–400
    /// µs of CPU whatever it holds, a message about 55 µs more (measured with pgbench on this schema); at
    /// thousands of messages a second, batches one round trip apart spent most of PostgreSQL's CPU on
    /// transactions of a few messages each. A lone call, or calls that come one after the other's answer,
    /// never wait. Three nodes at 5k direct messages/s (`bench/run.sh direct-5k parley-cluster`): PostgreSQL
    /// spent 95 µs per message with 5 ms, 90 with 10 ms, and the p99 went from 83 to 69 ms.
    static let minBatchInterval = 0.010
    static let fillTarget = 256
    static let maxRetryDelay = 2.0

    private let url: String
    let logger: Logger
    /// Guards everything below it up to `writer`; the writer thread waits on it for work and for retry times.
    private let state = ConditionLock()
    private var jobs: [PostgresJob] = []
    private var isClosing = false
    private var isClosed = false
    /// The writer is letting a batch fill (`minBatchInterval`).
    private var isFilling = false
    private var commits = 0
    private var available = true
    /// Set once in `init`; the thread itself never reads it.
    private var writer: JoinableThread?

    // The writer thread's alone (read under `state` only by the writer itself).
    private var connection: PGConnection?
    private var retryDelay = PostgresStore.firstRetryDelay
    /// Monotonic seconds: when the writer next tries to reconnect.
    private var nextAttempt = 0.0
    /// The `message_ids` sequence is known to be at least here (hub-chosen ids raise it).
    var idFloor: Int64 = 0
    /// Hub-chosen ids above what the sequence gives out raise it, once per batch.
    var pendingIDFloor: Int64 = 0
    /// Monotonic seconds: when the writer took its last batch; and whether calls came while it ran.
    private var lastBatchStart = 0.0
    private var sustained = false

    /// Connects to `url`, creates or upgrades the schema (under an advisory lock: several nodes may start
    /// together), and starts the writer thread.
    /// - Throws: `StoreError.unavailable` when the server cannot be reached, `PGError` for a failed migration,
    ///   `PostgresStoreError.newerSchema`, or `ThreadStartError`.
    public init(url: String, logger: Logger) throws {
        self.url = url
        self.logger = logger
        let connection = try Self.connect(url)
        try PostgresSchema.migrate(connection)
        self.connection = connection
        writer = try JoinableThread(name: "parley-store") { [self] in runWriter() }
        logger.info("store opened", metadata: ["database": "postgresql"])
    }

    /// Committed transactions so far (batches that held at least one write).
    public var commitCount: Int { state.withLock { commits } }

    /// Calls waiting for the writer thread, for metrics.
    public var queueDepth: Int { state.withLock { jobs.count } }

    /// False while the writer has no connection (after a lost one, until it reconnects): for health checks.
    public var isAvailable: Bool { state.withLock { available && !isClosing } }

    // MARK: - ChatStore

    public func loadSnapshot() throws -> StoreSnapshot {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try Self.mapped { try PostgresSQL.snapshot(try Self.connect(url)) }
    }

    public func perform(_ writes: [StoreWrite], meta: [String: String],
                        done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        enqueue(.store(.write(writes, meta: meta, done: done)))
    }

    public func append(_ message: StoredMessage, done: @escaping @Sendable (Result<StoredMessage, any Error>) -> Void) {
        enqueue(.store(.append(message, done: done)))
    }

    public func inbox(_ query: InboxQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        enqueue(.store(.inbox(query, done: done)))
    }

    public func history(_ query: HistoryQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        enqueue(.store(.history(query, done: done)))
    }

    public func account(named name: String, done: @escaping @Sendable (Result<AccountRecord?, any Error>) -> Void) {
        enqueue(.store(.account(name, done: done)))
    }

    public func token(digest: String, done: @escaping @Sendable (Result<TokenRecord?, any Error>) -> Void) {
        enqueue(.store(.token(digest, done: done)))
    }

    public func appendRoom(_ message: RoomMessage, done: @escaping @Sendable (Result<RoomMessage, any Error>) -> Void) {
        enqueue(.store(.appendRoom(message, done: done)))
    }

    public func roomLogs(_ queries: [RoomLogQuery], done: @escaping @Sendable (Result<[[RoomMessage]], any Error>) -> Void) {
        enqueue(.store(.roomLogs(queries, done: done)))
    }

    public func room(named name: String, done: @escaping @Sendable (Result<RoomRecord?, any Error>) -> Void) {
        enqueue(.store(.room(name, done: done)))
    }

    public func roomCursors(of user: String, done: @escaping @Sendable (Result<[String: Int64], any Error>) -> Void) {
        enqueue(.store(.roomCursors(user, done: done)))
    }

    public func inboxHead(of user: String, done: @escaping @Sendable (Result<InboxHead, any Error>) -> Void) {
        enqueue(.store(.inboxHead(user, done: done)))
    }

    /// `count` message ids from the same sequence the store draws from, unique across every node: for events
    /// that are not stored but need an id (broadcasts). Through the queue, like everything else.
    public func reserveMessageIDs(count: Int, done: @escaping @Sendable (Result<[Int64], any Error>) -> Void) {
        enqueue(.reserveIDs(max(0, count), done: done))
    }

    public func metaValue(_ key: String) throws -> String? {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try Self.mapped { try PostgresSQL.meta(key, try Self.connect(url)) }
    }

    /// Waits until everything queued has run and the connection is closed. Called on the writer thread (from a
    /// completion) it stops intake and the writer closes after the batch.
    public func close() {
        let onWriter = writer?.isCurrent ?? false
        let first = state.withLock {
            let first = !isClosing
            isClosing = true
            state.broadcast()
            if !onWriter {
                while !isClosed { state.wait() }
            }
            return first
        }
        if first && !onWriter { writer?.join() }
    }

    // MARK: - Queue

    private func enqueue(_ job: PostgresJob) {
        let accepted = state.withLock {
            guard !isClosing else { return false }
            jobs.append(job)
            // A writer letting a batch fill wants waking only when it is full.
            if !isFilling || jobs.count >= Self.fillTarget { state.signal() }
            return true
        }
        if !accepted {
            // Never call back on the caller's thread: the hub submits while holding its own lock.
            DispatchQueue.global().async { job.fail(StoreError.closed) }
        }
    }

    /// Sleep until there is work (or, without a connection, until the next reconnect attempt), run it as one
    /// batch, repeat; after `close()`, drain and close the connection.
    private func runWriter() {
        var batch: [PostgresJob] = []  // reused: taking a batch swaps buffers with the queue (`moveFront`)
        while true {
            batch.removeAll(keepingCapacity: true)
            let closing: Bool = state.withLock {
                while !isClosing {
                    if connection == nil {
                        let wait = nextAttempt - Self.now()
                        if wait <= 0 { break }
                        state.wait(seconds: wait)
                    } else if jobs.isEmpty {
                        state.wait()
                    } else {
                        break
                    }
                }
                if sustained && connection != nil {
                    isFilling = true
                    state.wait(until: UInt64((lastBatchStart + Self.minBatchInterval) * 1e9),
                               while: { !isClosing && jobs.count < Self.fillTarget })
                    isFilling = false
                }
                lastBatchStart = Self.now()
                jobs.moveFront(upTo: Self.maxBatchJobs, into: &batch)
                return isClosing
            }
            if connection == nil && !reconnect() {
                let error = StoreError.unavailable("cannot reach PostgreSQL; retrying in \(Int(retryDelay * 1000)) ms")
                for job in batch { job.fail(error) }
                if closing && state.withLock({ jobs.isEmpty }) { break }
                continue
            }
            if batch.isEmpty && closing { break }  // closing, and nothing left
            if !batch.isEmpty { runBatch(batch) }
            sustained = !batch.isEmpty && state.withLock { !jobs.isEmpty }
        }
        connection = nil
        state.withLock {
            isClosed = true
            state.broadcast()
        }
        logger.info("store closed")
    }

    /// One attempt; on failure the next one is scheduled with the doubled delay.
    private func reconnect() -> Bool {
        do {
            connection = try Self.connect(url)
            retryDelay = Self.firstRetryDelay
            state.withLock { available = true }
            logger.notice("store reconnected to PostgreSQL")
            return true
        } catch {
            nextAttempt = Self.now() + retryDelay
            logger.warning("store cannot reach PostgreSQL", metadata: ["error": "\(error)", "retry_ms": "\(Int(retryDelay * 1000))"])
            retryDelay = min(retryDelay * 2, Self.maxRetryDelay)
            state.withLock { available = false }
            return false
        }
    }

    /// The connection is gone: every call of this batch fails, the writer reconnects (at once, then backing off).
    private func connectionLost(_ error: PGError) -> StoreError {
        connection = nil
        nextAttempt = Self.now()
        retryDelay = Self.firstRetryDelay
        state.withLock { available = false }
        logger.error("store lost its connection to PostgreSQL", metadata: ["error": "\(error)"])
        return .unavailable("lost the connection to PostgreSQL: \(error.message)")
    }

    /// Transactions of other nodes that lock the same inbox heads in another order can still deadlock (a
    /// head row created meanwhile); PostgreSQL then aborts one of them, and its batch runs again this often.
    static let maxDeadlockRetries = 3

    /// Runs a batch as segments of consecutive calls of one kind, in submission order, each in its own
    /// transaction: appends through the hot path, the rest as they come. In one transaction, a cursor flush or
    /// a read among the appends sent every append of the batch down the slow path (a statement each, every
    /// head locked first), and with three nodes those batches held most inbox heads of the cluster.
    private func runBatch(_ batch: [PostgresJob]) {
        var start = 0
        while start < batch.count {
            let appends = batch[start].isAppend
            var end = start + 1
            while end < batch.count && batch[end].isAppend == appends { end += 1 }
            if let lost = runSegment(Array(batch[start..<end])) {
                for job in batch[end...] { job.fail(lost) }
                return
            }
            start = end
        }
    }

    /// One segment; returns the error that the calls after it must fail with when the connection is gone.
    private func runSegment(_ batch: [PostgresJob]) -> StoreError? {
        guard let connection else { return .unavailable("lost the connection to PostgreSQL") }
        var completions: [() -> Void] = []
        var retries = 0
        do {
            while true {
                do {
                    completions = try runOnce(batch, connection)
                    break
                } catch let error as PGError where error.isRetryable && retries < Self.maxDeadlockRetries {
                    retries += 1
                    logger.warning("store batch retried", metadata: ["error": "\(error)", "calls": "\(batch.count)"])
                }
            }
        } catch {
            if let error = error as? PGError, error.connectionLost || !connection.isConnected {
                let failure = connectionLost(error)
                for job in batch { job.fail(failure) }
                return failure
            }
            let failure = Self.storeError(error)
            logger.error("store batch failed", metadata: ["error": "\(error)", "calls": "\(batch.count)"])
            for job in batch { job.fail(failure) }
            return nil
        }
        for complete in completions { complete() }
        return nil
    }

    private func runOnce(_ batch: [PostgresJob], _ connection: PGConnection) throws -> [() -> Void] {
        guard batch.contains(where: \.isWrite) else { return try run(batch, connection, mode: .autocommit) }
        if let completions = try pipelinedAppends(batch, connection) ?? advanceCursors(batch, connection)
            ?? advanceRoomCursors(batch, connection) {
            state.withLock { commits += 1 }
            return completions
        }
        let completions: [() -> Void]
        do {
            completions = try inTransaction(connection) {
                try lockHeads(of: batch, connection)
                return try run(batch, connection, mode: .bare)
            }
        } catch is BareRunFailed {
            completions = try inTransaction(connection) {
                try lockHeads(of: batch, connection)
                return try run(batch, connection, mode: .savepoints)
            }
        }
        state.withLock { commits += 1 }
        return completions
    }

    // MARK: - Helpers

    private static func connect(_ url: String) throws -> PGConnection {
        do {
            let connection = try PGConnection(url: url)
            // Every statement here is prepared once and run many times; a custom plan per run would plan the
            // append batch (a five-part statement) again for every batch.
            try connection.execute("SET plan_cache_mode = force_generic_plan")
            return connection
        } catch let error as PGError {
            throw StoreError.unavailable("cannot connect to PostgreSQL: \(error.message)")
        }
    }

    /// Runs `body`, turning libpq errors into the store's own.
    private static func mapped<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw storeError(error)
        }
    }

    /// Constraint violations become `StoreError.constraint`, a lost connection `.unavailable`; the rest stays.
    static func storeError(_ error: any Error) -> any Error {
        guard let error = error as? PGError else { return error }
        if error.isConstraintViolation { return StoreError.constraint(error.message) }
        if error.connectionLost { return StoreError.unavailable(error.message) }
        return error
    }

    private static func now() -> Double {
        Double(MonotonicClock.now()) / 1e9
    }
}
