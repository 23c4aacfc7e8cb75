import ChatCore

/// A batch's transaction, the ordinary way: the rows it changes locked in order, BEGIN and COMMIT, the id
/// sequence raised past hub-chosen ids, and each queued call as a statement or a few, with a savepoint around
/// each when the batch runs the careful way. (The appends and cursor flushes that come by the thousand have
/// their own statements, in PostgresStore+HotPaths.)
extension PostgresStore {
    /// Locks the existing head rows the batch will change, in id order, before changing any: two nodes whose
    /// batches touch the same inboxes then take turns instead of deadlocking. One row needs no ordering. The
    /// rows of the rooms it changes (appends, owners) come next, the same way (after the heads, on every node).
    func lockHeads(of batch: [PostgresJob], _ connection: PGConnection) throws {
        var users: Set<String> = []
        var rooms: Set<String> = []
        for job in batch {
            switch job {
            case .store(.append(let message, _)): users.insert(message.to)
            case .store(.appendRoom(let message, _)): rooms.insert(message.room)
            case .store(.write(let writes, _, _)):
                for write in writes {
                    switch write {
                    case .advanceCursor(let user, _): users.insert(user)
                    case .setRoomOwner(let room, _): rooms.insert(room)
                    default: break
                    }
                }
            default: break
            }
        }
        if users.count > 1 {
            try connection.execute(PostgresSQL.lockHeads, [.string(PostgresAppendBatch.textArray(users.sorted()))])
        }
        if rooms.count > 1 {
            try connection.execute(PostgresSQL.lockRooms, [.string(PostgresAppendBatch.textArray(rooms.sorted()))])
        }
    }

    /// BEGIN, `body`, COMMIT; ROLLBACK when anything fails (unless the connection is gone).
    func inTransaction<T>(_ connection: PGConnection, _ body: () throws -> T) throws -> T {
        try connection.execute("BEGIN")
        do {
            let value = try body()
            try raiseIDFloor(connection)
            // COMMIT of a transaction that failed answers ROLLBACK: only a real COMMIT acknowledges anything.
            let tag = try connection.execute("COMMIT").commandTag
            guard tag == "COMMIT" else { throw PGError(sqlState: nil, message: "the transaction was rolled back (\(tag))") }
            return value
        } catch {
            if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    private func raiseIDFloor(_ connection: PGConnection) throws {
        guard pendingIDFloor > idFloor else { return }
        try connection.execute(PostgresSQL.raiseMessageIDs, [.int(pendingIDFloor)])
        idFloor = pendingIDFloor
    }

    /// How a batch runs: in a transaction without savepoints (the first try), in one with a savepoint per call
    /// (after a call failed), or without a transaction (reads only).
    enum Mode { case bare, savepoints, autocommit }

    /// Runs each job; returns the completions to call once the transaction is committed.
    func run(_ batch: [PostgresJob], _ connection: PGConnection, mode: Mode) throws -> [() -> Void] {
        var completions: [() -> Void] = []
        completions.reserveCapacity(batch.count)
        pendingIDFloor = idFloor
        for job in batch {
            switch job {
            case .store(.write(let writes, let meta, let done)):
                let result = try step(connection, mode) {
                    for write in writes { try PostgresSQL.apply(write, connection) }
                    for (key, value) in meta { try PostgresSQL.setMeta(key, value, connection) }
                }
                completions.append { done(result) }
            case .store(.append(let message, let done)):
                let result = try step(connection, mode) { try PostgresSQL.append(message, connection) }
                if case .success = result, message.id > pendingIDFloor { pendingIDFloor = message.id }
                completions.append { done(result) }
            case .store(.inbox(let query, let done)):
                let result = try step(connection, mode) { try PostgresSQL.inbox(query, connection) }
                completions.append { done(result) }
            case .store(.history(let query, let done)):
                let result = try step(connection, mode) { try PostgresSQL.history(query, connection) }
                completions.append { done(result) }
            case .store(.inboxHead(let user, let done)):
                let result = try step(connection, mode) { try PostgresSQL.inboxHead(of: user, connection) }
                completions.append { done(result) }
            case .store(.account(let name, let done)):
                let result = try step(connection, mode) { try PostgresSQL.account(named: name, connection) }
                completions.append { done(result) }
            case .store(.token(let digest, let done)):
                let result = try step(connection, mode) { try PostgresSQL.token(digest: digest, connection) }
                completions.append { done(result) }
            case .store(.appendRoom(let message, let done)):
                let result = try step(connection, mode) { try PostgresSQL.appendRoom(message, connection) }
                if case .success = result, message.id > pendingIDFloor { pendingIDFloor = message.id }
                completions.append { done(result) }
            case .store(.roomLogs(let queries, let done)):
                let result = try step(connection, mode) { try queries.map { try PostgresSQL.roomLog($0, connection) } }
                completions.append { done(result) }
            case .store(.room(let name, let done)):
                let result = try step(connection, mode) { try PostgresSQL.room(named: name, connection) }
                completions.append { done(result) }
            case .store(.roomCursors(let user, let done)):
                let result = try step(connection, mode) { try PostgresSQL.roomCursors(of: user, connection) }
                completions.append { done(result) }
            case .reserveIDs(let count, let done):
                let result = try step(connection, mode) {
                    let rows = try connection.execute(PostgresSQL.reserveMessageIDs, [.int(Int64(count))])
                    return (0..<rows.rowCount).map { rows.int($0, 0) }
                }
                completions.append { done(result) }
            }
        }
        return completions
    }

    /// One call. A lost connection always throws (the whole batch fails). Otherwise: bare, the first failure
    /// throws `BareRunFailed` (the caller rolls back and runs the batch again with savepoints); with savepoints,
    /// a failure rolls back this call alone and becomes its result; without a transaction, it is its result.
    private func step<T>(_ connection: PGConnection, _ mode: Mode, _ body: () throws -> T) throws -> Result<T, any Error> {
        if mode == .savepoints { try connection.execute("SAVEPOINT call") }
        do {
            let value = try body()
            if mode == .savepoints { try connection.execute("RELEASE SAVEPOINT call") }
            return .success(value)
        } catch let error as PGError where error.connectionLost || error.isRetryable || !connection.isConnected {
            throw error
        } catch {
            switch mode {
            case .bare: throw BareRunFailed()
            case .savepoints: try connection.execute("ROLLBACK TO SAVEPOINT call; RELEASE SAVEPOINT call")
            case .autocommit: break
            }
            logger.error("store call failed", metadata: ["error": "\(error)"])
            return .failure(Self.storeError(error))
        }
    }
}
