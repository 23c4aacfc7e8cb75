import ChatCore

/// The calls that come by the thousand under load, each as a few statements in one round trip instead of a
/// statement per item: a batch of appends (the messages), and a cursor flush (the hub's coalesced cursor moves,
/// every 250 ms, one per user who received or acknowledged something; the room cursors in a flush of their own).
extension PostgresStore {
    /// The hot path, a batch of appends only, in one round trip: BEGIN, one `PostgresAppendBatch` statement per
    /// `PostgresAppendBatch.maxMessages` messages and COMMIT, sent as one pipeline. The statement locks the head
    /// rows itself, in id order. An append that finds no account changes nothing and fails alone. Returns nil
    /// when a statement failed (a duplicate id): the transaction is rolled back and the caller runs the batch
    /// the slower way, which isolates the failing call.
    ///
    /// Other nodes append to the same database, and the batches of all nodes take turns
    /// (`PostgresSQL.appendTurn`, held until the COMMIT). So that a turn is short, the COMMIT does not wait for
    /// the disk and a second transaction in the same pipeline does (`PostgresSQL.durable`); nothing is
    /// acknowledged before that one returns. Another node may read a message of this batch before it is on
    /// disk; if PostgreSQL then crashed, the sender gets an error for a message the recipient saw (and nothing
    /// acknowledged is lost, as WAL is replayed in order).
    func pipelinedAppends(_ batch: [PostgresJob], _ connection: PGConnection) throws -> [() -> Void]? {
        var messages: [StoredMessage] = []
        var dones: [@Sendable (Result<StoredMessage, any Error>) -> Void] = []
        messages.reserveCapacity(batch.count)
        dones.reserveCapacity(batch.count)
        for job in batch {
            guard case .store(.append(let message, let done)) = job else { return nil }
            messages.append(message)
            dones.append(done)
        }
        let highest = messages.map(\.id).max() ?? 0
        var chunks: [ArraySlice<StoredMessage>] = []
        var calls: [(PGStatement, [PGValue?])] = [(PostgresSQL.begin, []), (PostgresSQL.commitWithoutWaiting, []),
                                                   (PostgresSQL.appendTurn, [])]
        let firstAppend = calls.count
        for start in stride(from: 0, to: messages.count, by: PostgresAppendBatch.maxMessages) {
            let chunk = messages[start..<min(start + PostgresAppendBatch.maxMessages, messages.count)]
            chunks.append(chunk)
            calls.append((PostgresAppendBatch.statement, PostgresAppendBatch.parameters(chunk)))
        }
        if highest > idFloor { calls.append((PostgresSQL.raiseMessageIDs, [.int(highest)])) }
        calls.append((PostgresSQL.commit, []))
        calls.append((PostgresSQL.durable, []))
        var stored: [StoredMessage?] = []
        stored.reserveCapacity(messages.count)
        do {
            let results = try connection.pipeline(calls)
            for (index, result) in results.enumerated() {
                guard case .failure(let error) = result else { continue }
                if index == results.count - 1 {
                    // Only the wait for the disk failed: the batch is committed, so it must not run again, not
                    // even when the error is one the writer retries (it has no SQLSTATE here).
                    throw PGError(sqlState: nil, message: "committed, but the wait for the disk failed: \(error.message)",
                                  connectionLost: error.connectionLost)
                }
                if error.connectionLost || error.isRetryable || !connection.isConnected { throw error }
                throw BareRunFailed()
            }
            // A COMMIT of a failed transaction answers ROLLBACK: only a real COMMIT acknowledges anything.
            guard (try? results[results.count - 2].get().commandTag) == "COMMIT" else { throw BareRunFailed() }
            for (index, chunk) in chunks.enumerated() {
                stored += PostgresAppendBatch.stored(chunk, try results[firstAppend + index].get())
            }
        } catch is BareRunFailed {
            if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
            return nil
        } catch {
            if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
        idFloor = max(idFloor, highest)
        return zip(zip(messages, stored), dones).map { entry, done in
            let (message, stored) = entry
            let outcome: Result<StoredMessage, any Error> =
                stored.map { .success($0) } ?? .failure(PostgresSQL.unknownAccount(message, connection))
            return { done(outcome) }
        }
    }

    /// A segment that is one cursor flush (a write of `advanceCursor`s only): its heads locked in id order and
    /// all the cursors moved by one statement, committed without waiting for the disk, since a cursor lost in
    /// a crash only means its messages come again. Nil for any other segment. All or nothing, like every
    /// call: an unknown user or a cursor beyond an inbox refuses the whole flush.
    func advanceCursors(_ batch: [PostgresJob], _ connection: PGConnection) throws -> [() -> Void]? {
        guard batch.count == 1, case .store(.write(let writes, let meta, let done)) = batch[0], meta.isEmpty,
              !writes.isEmpty else { return nil }
        var cursors: [String: Int64] = [:]
        for write in writes {
            guard case .advanceCursor(let user, let seq) = write else { return nil }
            cursors[user] = max(seq, cursors[user] ?? seq)
        }
        let users = cursors.keys.sorted()
        let results = try connection.pipeline([
            (PostgresSQL.begin, []), (PostgresSQL.commitWithoutWaiting, []),
            (PostgresSQL.lockHeads, [.string(PostgresAppendBatch.textArray(users))]),
            (PostgresCursorBatch.statement, PostgresCursorBatch.parameters(users.map { ($0, cursors[$0] ?? 0) })),
        ])
        try commitFlush(results, PostgresCursorBatch.refusal, connection)
        return [{ done(.success(())) }]
    }

    /// A segment that is one room cursor flush (a write of `advanceRoomCursor`s only, as the hub's sweep sends
    /// them): all the cursors moved by one statement, committed without waiting for the disk, as above. Nil for
    /// any other segment. All or nothing: an unknown user or room, or a cursor beyond a room, refuses the flush.
    func advanceRoomCursors(_ batch: [PostgresJob], _ connection: PGConnection) throws -> [() -> Void]? {
        guard batch.count == 1, case .store(.write(let writes, let meta, let done)) = batch[0], meta.isEmpty,
              !writes.isEmpty else { return nil }
        var cursors: [String: [String: Int64]] = [:]
        for write in writes {
            guard case .advanceRoomCursor(let user, let room, let seq) = write else { return nil }
            cursors[user, default: [:]][room] = max(seq, cursors[user]?[room] ?? seq)
        }
        let moves = cursors.sorted { $0.key < $1.key }.flatMap { user, rooms in
            rooms.sorted { $0.key < $1.key }.map { (user: user, room: $0.key, seq: $0.value) }
        }
        let results = try connection.pipeline([
            (PostgresSQL.begin, []), (PostgresSQL.commitWithoutWaiting, []),
            (PostgresRoomCursorBatch.statement, PostgresRoomCursorBatch.parameters(moves)),
        ])
        try commitFlush(results, PostgresRoomCursorBatch.refusal, connection)
        return [{ done(.success(())) }]
    }

    /// The end of a cursor flush sent as `results`, the moving statement last: the statement moved the cursors
    /// it could, so COMMIT only when no statement failed and `refusal` finds no refused move; else ROLLBACK.
    private func commitFlush(_ results: [Result<PGResult, PGError>], _ refusal: (PGResult) -> StoreError?,
                             _ connection: PGConnection) throws {
        do {
            for result in results { if case .failure(let error) = result { throw error } }
            if let refused = refusal(try results[results.count - 1].get()) { throw refused }
            // A COMMIT of a failed transaction answers ROLLBACK.
            let tag = try connection.execute(PostgresSQL.commit, []).commandTag
            guard tag == "COMMIT" else { throw PGError(sqlState: nil, message: "the cursor flush was rolled back (\(tag))") }
        } catch {
            if connection.isConnected { _ = try? connection.execute("ROLLBACK") }
            throw error
        }
    }
}
