import Dispatch
import Foundation
import GRDB
import Logging
import ParleySupport

/// The durable store: one SQLite file (`parley.db`) in the data directory, WAL mode, `synchronous = FULL`.
///
/// Group commit: callers only enqueue. One writer thread sleeps on a condition variable, takes everything
/// queued, runs it in one transaction (each `perform` call in its own savepoint), commits — with FULL that
/// is one fsync of the WAL for the whole batch — and then calls the completions in submission order. Under
/// load, many messages share one fsync; when idle, a lone message is committed at once.
///
/// Threading: `perform`/`append`/`inbox`/`history`/`close` may be called from any thread and never block on
/// disk. Completions run on the writer thread, so they must not block for long (they delay every later commit).
/// The writer thread keeps the store alive until `close()`, which the owner calls at shutdown.
public final class SQLiteStore: ChatStore, @unchecked Sendable {
    /// The database file's name inside the data directory.
    public static let fileName = "parley.db"
    /// A batch takes at most this many queued calls, so one transaction (and the wait for its fsync) stays short
    /// even after a stall; the rest goes into the next batch right away.
    static let maxBatchJobs = 4096
    /// The least time between the starts of two commits by default (`gatherUntilCommitIsDue`). A commit costs
    /// about 0.2 ms of CPU whatever it holds (its fsync, the WAL pages it rewrites, BEGIN and COMMIT); at 4 ms a
    /// busy server spends a tenth less CPU per message than at 2 ms, and a message waits about 1.4 ms more
    /// (docs/PERFORMANCE.md, "The commit window").
    public static let defaultCommitSpacing: Duration = .milliseconds(4)
    /// The writer connection's page cache, KiB.
    static let writerCacheKiB = 32_768
    /// An indexing run starts once the unindexed tail holds this many messages (StoreSchema explains why):
    /// large enough that each user's entries of a run share a page, small enough that the tail held in memory
    /// stays small.
    public static let defaultIndexBatch = 65_536
    /// Index entries per step of an indexing run (IndexRun): this bounds how long a step holds the writer, and so
    /// how long a message can wait behind one. Packed (IndexChunks), an entry costs about 0.2 µs, so a step is
    /// about a millisecond and a run of 64k messages (128k entries) takes some thirty steps.
    public static let defaultIndexStepRows = 4096

    let pool: DatabasePool
    let logger: Logger
    /// Account ids, inbox heads and the unindexed tail: the writer thread's alone.
    let ledger: LogLedger
    private let indexBatch: Int
    private let indexStepRows: Int
    /// The indexing run under way, if any: the writer thread's alone.
    private var indexRun: IndexRun?
    /// The least time between the starts of two commits, ns (0: commit as soon as the last one returned).
    private let commitSpacing: UInt64
    /// When the last commit started (monotonic ns): the writer thread's alone.
    private var lastCommitStart: UInt64 = 0
    /// Guards everything below; the writer thread waits on it for work.
    private let state = ConditionLock()
    private var jobs: [StoreJob] = []
    private var isClosing = false
    private var isClosed = false
    private var commits = 0
    /// Set once in `init`; the thread itself never reads it.
    private var writer: JoinableThread?

    /// Opens (creating if missing) `parley.db` in `directory`, migrates it, and makes commits durable.
    /// - Throws: GRDB errors, `StoreError.notDurable` when `synchronous` cannot be set to FULL, or
    ///   `ThreadStartError` when the writer thread cannot start.
    /// `indexBatch`: how many messages the unindexed tail holds before it is indexed; `indexStepRows`: index
    /// entries per step of an indexing run (tests make both small).
    public init(directory: URL, logger: Logger, indexBatch: Int = SQLiteStore.defaultIndexBatch,
                indexStepRows: Int = SQLiteStore.defaultIndexStepRows,
                commitSpacing: Duration = SQLiteStore.defaultCommitSpacing) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent(Self.fileName).path
        var configuration = Configuration()
        configuration.label = "parley.store"
        // The hub reads once at start (snapshot); everything else runs on the writer connection.
        configuration.maximumReaderCount = 2
        // Another process (an operator's sqlite3 shell, a backup) may hold a lock for a moment; wait a little
        // rather than failing a whole batch at once.
        configuration.busyMode = .timeout(2)
        pool = try DatabasePool(path: path, configuration: configuration)
        self.logger = logger
        self.indexBatch = max(1, indexBatch)
        self.indexStepRows = max(1, indexStepRows)
        self.commitSpacing = commitSpacing.nanoseconds
        try StoreSchema.migrator.migrate(pool)
        // docs/ARCHITECTURE.md §5: DatabasePool sets synchronous = NORMAL on its writer after `prepareDatabase`
        // runs, so FULL must be set here, after opening, and checked. With NORMAL an acknowledged message can
        // vanish on power loss; with FULL every commit waits for the WAL's fsync.
        let level = try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The writer's page cache (SQLite's default is 2 MiB): a batch of indexing touches the newest page of
            // each user's and conversation's index ranges, a few thousand pages with a few thousand active users;
            // when they do not fit, every entry re-reads evicted pages from the file. Filled only as pages are used.
            try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)")
            return try StoreSchema.synchronousLevel(db)
        }
        guard level == 2 else {
            try? pool.close()
            throw StoreError.notDurable(synchronous: level)
        }
        ledger = try pool.read(StoreSQL.loadLedger)
        writer = try JoinableThread(name: "parley-store") { [self] in runWriter() }
        logger.info("store opened", metadata: ["file": "\(path)"])
    }

    /// Opens the store in the data directory at `path`.
    public convenience init(path: String, logger: Logger) throws {
        try self.init(directory: URL(fileURLWithPath: path, isDirectory: true), logger: logger)
    }

    /// Committed transactions so far (batches that held at least one `perform`). Tests and metrics compare it
    /// with the number of calls to see group commit at work.
    public var commitCount: Int { state.withLock { commits } }

    /// Calls waiting for the writer thread, for metrics.
    public var queueDepth: Int { state.withLock { jobs.count } }

    // MARK: - ChatStore

    public func loadSnapshot() throws -> StoreSnapshot {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try pool.read(StoreSQL.snapshot)
    }

    public func perform(_ writes: [StoreWrite], meta: [String: String],
                        done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        enqueue(.write(writes, meta: meta, done: done))
    }

    public func append(_ message: StoredMessage, done: @escaping @Sendable (Result<StoredMessage, any Error>) -> Void) {
        enqueue(.append(message, done: done))
    }

    public func inbox(_ query: InboxQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        enqueue(.inbox(query, done: done))
    }

    public func history(_ query: HistoryQuery, done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        enqueue(.history(query, done: done))
    }

    public func inboxHead(of user: String, done: @escaping @Sendable (Result<InboxHead, any Error>) -> Void) {
        enqueue(.inboxHead(user, done: done))
    }

    public func account(named name: String, done: @escaping @Sendable (Result<AccountRecord?, any Error>) -> Void) {
        enqueue(.account(name, done: done))
    }

    public func token(digest: String, done: @escaping @Sendable (Result<TokenRecord?, any Error>) -> Void) {
        enqueue(.token(digest, done: done))
    }

    public func appendRoom(_ message: RoomMessage, done: @escaping @Sendable (Result<RoomMessage, any Error>) -> Void) {
        enqueue(.appendRoom(message, done: done))
    }

    public func roomLogs(_ queries: [RoomLogQuery], done: @escaping @Sendable (Result<[[RoomMessage]], any Error>) -> Void) {
        enqueue(.roomLogs(queries, done: done))
    }

    public func room(named name: String, done: @escaping @Sendable (Result<RoomRecord?, any Error>) -> Void) {
        enqueue(.room(name, done: done))
    }

    public func roomCursors(of user: String, done: @escaping @Sendable (Result<[String: Int64], any Error>) -> Void) {
        enqueue(.roomCursors(user, done: done))
    }

    /// Waits until everything queued has run and the database is closed. Called from a completion (that is,
    /// on the writer thread) it cannot wait for itself: it stops intake and the writer closes after the batch.
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

    public func metaValue(_ key: String) throws -> String? {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try pool.read { try StoreSQL.meta(key, $0) }
    }

    // MARK: - Export (`parley migrate`)

    /// The log's messages with `id > after`, in id order, at most `limit`, with their seqs: one page of an export
    /// that walks the whole log without holding it in memory. Reads committed data; run it on a store nobody
    /// else writes to, or accept that the export is as of each page.
    public func exportMessages(after: Int64, limit: Int) throws -> [StoredMessage] {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try pool.read { try StoreSQL.exportMessages(after: after, limit: limit, $0) }
    }

    /// Every bookkeeping key and value.
    public func allMeta() throws -> [String: String] {
        guard !state.withLock({ isClosing }) else { throw StoreError.closed }
        return try pool.read(StoreSQL.allMeta)
    }

    // MARK: - Writer thread

    private func enqueue(_ job: StoreJob) {
        let accepted = state.withLock {
            guard !isClosing else { return false }
            jobs.append(job)
            // The writer waits only for an empty queue, so only the first job needs to wake it: the others
            // find it awake (or about to take them), and a signal per job would cost each one a futex call.
            if jobs.count == 1 { state.signal() }
            return true
        }
        if !accepted {
            // Never call back on the caller's thread: the hub submits while holding its own lock.
            DispatchQueue.global().async { job.fail(StoreError.closed) }
        }
    }

    /// Sleep until there is work, run it as one batch, repeat; after `close()`, drain and close the database.
    /// Between two batches, one step of an indexing run (if one is under way or due): queued work never waits
    /// for more than one step. An unfinished run at close starts again at the next open.
    private func runWriter() {
        var batch: [StoreJob] = []  // reused: taking a batch swaps buffers with the queue (`moveFront`)
        while true {
            let closing: Bool = state.withLock {
                while jobs.isEmpty && !isClosing && indexRun == nil { state.wait() }
                gatherUntilCommitIsDue()
                jobs.moveFront(upTo: Self.maxBatchJobs, into: &batch)
                return isClosing
            }
            if batch.isEmpty && closing { break }  // closing, and nothing left
            if !batch.isEmpty { runBatch(batch) }
            batch.removeAll(keepingCapacity: true)
            indexStep()
        }
        do {
            try pool.close()
        } catch {
            logger.error("closing the store failed", metadata: ["error": "\(error)"])
        }
        state.withLock {
            isClosed = true
            state.broadcast()
        }
        logger.info("store closed")
    }

    /// Called with work queued and the lock held: if the last commit started less than `commitSpacing` ago,
    /// sleeps out the rest of that time so that what arrives meanwhile shares the next commit (and its fsync).
    /// Under load this sets the pace of commits (at most one per spacing) instead of the disk's flush time,
    /// which on a fast disk allowed a commit per handful of messages: each with its fsync, its WAL pages
    /// rewritten and two thread hand-offs. When idle, the last commit is long past and a message waits for
    /// nothing. Enqueueing signals only an empty queue, so the jobs arriving during this sleep wake nobody.
    private func gatherUntilCommitIsDue() {
        guard commitSpacing > 0, !jobs.isEmpty, !isClosing else { return }
        state.wait(until: lastCommitStart + commitSpacing, while: { jobs.count < Self.maxBatchJobs })
    }

    /// One transaction for the whole batch. Reads run inside it, after the writes queued before them, so they
    /// see those writes; their completions, like all others, wait until the commit has returned.
    ///
    /// Writes run bare first: a savepoint per call costs two more statements per message, which is most of a
    /// message's insert. Writes do not fail in normal operation (the hub checks first), so when one does, the
    /// whole transaction is rolled back and the batch runs again with a savepoint per call, where the failing
    /// call is refused alone and everybody else's writes still commit. An append needs neither: it is checked
    /// before its one statement, and a failing statement undoes only itself.
    ///
    /// The ledger's changes are taken back with the transaction, so memory never runs ahead of the database.
    private func runBatch(_ batch: [StoreJob]) {
        let completions: [BatchCompletion]
        do {
            if batch.contains(where: \.isWrite) {
                lastCommitStart = MonotonicClock.now()
                do {
                    completions = try pool.writeWithoutTransaction { db in
                        try StoreSQL.inGroupCommit(db) { try run(batch, db, isolatingWrites: false) }
                    }
                } catch is BareWriteFailed {
                    ledger.rollBack(to: 0)
                    completions = try pool.writeWithoutTransaction { db in
                        try StoreSQL.inGroupCommit(db) { try run(batch, db, isolatingWrites: true) }
                    }
                }
                state.withLock { commits += 1 }
            } else {
                completions = try pool.writeWithoutTransaction { db in try run(batch, db, isolatingWrites: true) }
            }
            ledger.commit()
        } catch {
            // The commit (or the transaction around it) failed: nothing in the batch is durable, so nothing in
            // it may be acknowledged. The store stays usable for the next batch.
            ledger.rollBack(to: 0)
            logger.error("store batch failed", metadata: ["error": "\(error)", "calls": "\(batch.count)"])
            for job in batch { job.fail(error) }
            return
        }
        for complete in completions { complete() }
    }

    /// Starts an indexing run once the tail is long enough, and runs its next step, each in its own
    /// transaction. If a step fails, the run is dropped and starts again after the next batch (its finished
    /// steps are written again, ignored as duplicates); nothing is lost, reads still see the tail.
    private func indexStep() {
        do {
            if indexRun == nil {
                guard ledger.tailCount >= indexBatch else { return }
                let upTo = try pool.writeWithoutTransaction(StoreSQL.lastLogID)
                ledger.seal(upTo: upTo)
                indexRun = IndexRun(upTo: upTo, ledger)
            }
            guard var run = indexRun else { return }
            let step = run.nextStep(rowBudget: indexStepRows)
            try pool.writeWithoutTransaction { db in
                try StoreSQL.commitIndexStep(step.users, of: run, finishing: step.last, ledger, db)
            }
            if step.last {
                ledger.indexed(upTo: run.upTo)
                indexRun = nil
            } else {
                indexRun = run
            }
        } catch {
            indexRun = nil
            logger.error("indexing the log failed", metadata: ["error": "\(error)"])
        }
    }
}
