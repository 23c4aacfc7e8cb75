import GRDB

/// What the writer does with each queued call inside a batch's transaction (`SQLiteStore.runBatch`): the writes,
/// the appends and the reads, each handing back the completion to call after the commit.
extension SQLiteStore {
    /// Runs each job; returns the completions to call once the transaction is committed. Without
    /// `isolatingWrites`, the first failing write throws `BareWriteFailed` and the caller rolls everything back.
    func run(_ batch: [StoreJob], _ db: Database, isolatingWrites: Bool) throws -> [BatchCompletion] {
        var completions: [BatchCompletion] = []
        completions.reserveCapacity(batch.count)
        var logInsert: BoundInsert?
        for job in batch {
            switch job {
            case .write(let writes, let meta, let done) where !isolatingWrites:
                do {
                    try apply(writes, meta, db)
                } catch {
                    throw BareWriteFailed()
                }
                completions.append(.call { done(.success(())) })
            case .write(let writes, let meta, let done):
                let mark = ledger.mark
                do {
                    // A savepoint per call: one caller's bad write (say, a duplicate name) rolls back only that
                    // caller's writes instead of failing everybody's messages in the same batch.
                    try db.inSavepoint {
                        try apply(writes, meta, db)
                        return .commit
                    }
                    completions.append(.call { done(.success(())) })
                } catch {
                    ledger.rollBack(to: mark)
                    logger.error("store write failed", metadata: ["error": "\(error)"])
                    completions.append(.call { done(.failure(error)) })
                }
            case .append(let message, let done):
                do {
                    let insert = try logInsert ?? StoreSQL.logInsert(db)
                    logInsert = insert
                    let stored = try StoreSQL.append(message, ledger, insert, db)
                    completions.append(.appended(done, stored))
                } catch {
                    logger.error("message append failed", metadata: ["error": "\(error)"])
                    completions.append(.call { done(.failure(error)) })
                }
            case .inbox(let query, let done):
                let result = Result { try StoreSQL.inbox(query, ledger, db) }
                completions.append(.call { done(result) })
            case .history(let query, let done):
                let result = Result { try StoreSQL.history(query, ledger, db) }
                completions.append(.call { done(result) })
            case .inboxHead(let user, let done):
                let result = Result { try StoreSQL.inboxHead(of: user, ledger, db) }
                completions.append(.call { done(result) })
            case .account(let name, let done):
                let result = Result { try StoreSQL.account(named: name, db) }
                completions.append(.call { done(result) })
            case .token(let digest, let done):
                let result = Result { try StoreSQL.token(digest: digest, db) }
                completions.append(.call { done(result) })
            case .appendRoom(let message, let done):
                do {
                    let stored = try StoreSQL.appendRoom(message, ledger, db)
                    completions.append(.call { done(.success(stored)) })
                } catch let error as StoreSQL.RoomAppendIncomplete {
                    throw error  // the whole batch fails and rolls back (runBatch)
                } catch {
                    logger.error("room message append failed", metadata: ["error": "\(error)"])
                    completions.append(.call { done(.failure(error)) })
                }
            case .roomLogs(let queries, let done):
                let result = Result { try queries.map { try StoreSQL.roomLog($0, db) } }
                completions.append(.call { done(result) })
            case .room(let name, let done):
                let result = Result { try StoreSQL.room(named: name, db) }
                completions.append(.call { done(result) })
            case .roomCursors(let user, let done):
                let result = Result { try StoreSQL.roomCursors(of: user, db) }
                completions.append(.call { done(result) })
            }
        }
        return completions
    }

    /// One call's writes and metadata, in order: the same with or without a savepoint around them.
    private func apply(_ writes: [StoreWrite], _ meta: [String: String], _ db: Database) throws {
        var rest = writes[...]
        while let write = rest.first {
            // A run of room cursor moves (the sweep's flush) goes in one call that shares its lookups.
            let cursorMoves = rest.prefix { if case .advanceRoomCursor = $0 { true } else { false } }
            if cursorMoves.isEmpty {
                try StoreSQL.apply(write, ledger, db)
                rest = rest.dropFirst()
            } else {
                try StoreSQL.advanceRoomCursors(cursorMoves, ledger, db)
                rest = rest.dropFirst(cursorMoves.count)
            }
        }
        for (key, value) in meta { try StoreSQL.setMeta(key, value, db) }
    }
}

/// A write failed in a batch run without savepoints: roll back and run the batch again, isolating each call.
struct BareWriteFailed: Error {}

/// What the writer calls once a batch has committed. An append, one per message, keeps its message beside its
/// callback: a closure holding the two would be one more allocation per message.
enum BatchCompletion {
    case appended(@Sendable (Result<StoredMessage, any Error>) -> Void, StoredMessage)
    case call(() -> Void)

    func callAsFunction() {
        switch self {
        case .appended(let done, let message): done(.success(message))
        case .call(let body): body()
        }
    }
}
