import Dispatch
import GRDB
import ParleySupport

/// Looks into the store from outside the queue, for tests and the store benchmark: the writer's durability
/// setting, the unindexed tail, the writer connection itself, and indexing on demand.
extension SQLiteStore {
    /// The writer connection's `PRAGMA synchronous` (2 = FULL), read through the same queue GRDB writes on.
    func writerSynchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction(StoreSchema.synchronousLevel)
    }

    /// Messages in the log not yet in the index tables, read on the writer thread after everything queued so
    /// far (an indexing run may still be under way). For tests.
    var unindexedCount: Int {
        let counted = DispatchSemaphore(value: 0)
        let count = PThreadMutex(0)
        perform([]) { [self] _ in
            count.withLock { $0 = ledger.tailCount }
            counted.signal()
        }
        counted.wait()
        return count.withLock { $0 }
    }

    /// Runs `body` on the writer connection with the writer's memory, outside the queue: for tests and the
    /// store benchmark, while the store is idle.
    func onWriter<T>(_ body: (Database, LogLedger) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in try body(db, ledger) }
    }

    /// Indexes the whole unindexed tail in one go, on the writer thread after everything queued so far. For
    /// tests and the benchmark.
    func indexNow() throws {
        let finished = DispatchSemaphore(value: 0)
        let outcome = PThreadMutex<Result<Void, any Error>>(.success(()))
        perform([]) { [self] _ in
            let result = Result {
                let upTo = try pool.write { db in try StoreSQL.indexAll(after: ledger.indexedUpTo, db) }
                ledger.indexed(upTo: upTo)
            }
            outcome.withLock { $0 = result }
            finished.signal()
        }
        finished.wait()
        try outcome.withLock { $0 }.get()
    }

    /// The database's journal mode ("wal").
    func journalMode() throws -> String {
        try pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }
}
