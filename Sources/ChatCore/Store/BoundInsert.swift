import GRDB
import GRDBSQLite

/// A statement the writer runs once per message, index entry, cursor update or group commit (an insert, an
/// upsert, BEGIN or COMMIT, or the one-row lookup beside them), bound and stepped through SQLite's C API.
///
/// GRDB's `execute(arguments:)` builds a `StatementArguments` array per row, checks it, converts each value and
/// copies each string; on the hot path that costs more than SQLite's insert itself. Here the statement is
/// prepared (and cached by GRDB) once per batch, integers are bound as they are and text straight from the
/// string's UTF-8 bytes, without a copy. It only runs on the writer connection, which has no transaction observers,
/// so GRDB's bookkeeping around a statement (observers, read-only checks) has nothing to do.
struct BoundInsert {
    private let statement: Statement
    private var handle: OpaquePointer { statement.sqliteStatement }

    init(_ sql: String, _ db: Database) throws {
        statement = try db.cachedStatement(sql: sql)
    }

    func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(handle, index, value)
    }

    /// Binds `text` at `index` and runs the insert while its bytes are borrowed. The whole string is stored
    /// (SQLite is given the byte count).
    func run(binding text: String, at index: Int32, _ db: Database) throws {
        try withBound(text, at: index) { try run(db) }
    }

    /// Runs `body` with `text` bound at `index` straight from its UTF-8 bytes, and unbinds it after: never
    /// leave a pointer to the borrowed bytes bound.
    private func withBound<T>(_ text: String, at index: Int32, _ body: () throws -> T) throws -> T {
        var text = text
        return try text.withUTF8 { bytes in
            if let base = bytes.baseAddress {
                sqlite3_bind_text(handle, index, base, Int32(bytes.count), boundInsertStatic)
            } else {
                sqlite3_bind_text(handle, index, "", 0, boundInsertTransient)
            }
            defer { sqlite3_bind_null(handle, index) }
            return try body()
        }
    }

    /// Steps once and resets. A failure throws GRDB's `DatabaseError`, as GRDB's own `execute` would (a
    /// duplicate message id: a constraint error that undid only this statement).
    func run(_ db: Database) throws {
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            let message = db.lastErrorMessage
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
        sqlite3_reset(handle)
    }

    /// Runs a query for one row of two integers with `text` bound at `index` (a room's id and last seq by its
    /// name); nil when there is no row.
    func twoIntegers(binding text: String, at index: Int32, _ db: Database) throws -> (Int64, Int64)? {
        try withBound(text, at: index) {
            defer { sqlite3_reset(handle) }
            switch sqlite3_step(handle) {
            case SQLITE_ROW: return (sqlite3_column_int64(handle, 0), sqlite3_column_int64(handle, 1))
            case SQLITE_DONE: return nil
            case let code:
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
            }
        }
    }
}

extension BoundInsert {
    /// A log row as `SELECT id, seq, sender, recipient, body, sent_at … WHERE id = ?` returns it, looked up by
    /// `id`; nil when there is none. Pages of history and the inbox read their rows one rowid seek each, and
    /// GRDB's row decoding cost more than the seek.
    func logRow(_ id: Int64, _ db: Database) throws -> (id: Int64, seq: Int64, sender: Int64, recipient: Int64,
                                                       body: String, at: Int64)? {
        sqlite3_bind_int64(handle, 1, id)
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW:
            let count = Int(sqlite3_column_bytes(handle, 4))
            let body = sqlite3_column_text(handle, 4).map {
                String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
            } ?? ""
            return (sqlite3_column_int64(handle, 0), sqlite3_column_int64(handle, 1), sqlite3_column_int64(handle, 2),
                    sqlite3_column_int64(handle, 3), body, sqlite3_column_int64(handle, 5))
        case SQLITE_DONE:
            return nil
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
        }
    }
}

/// SQLite's destructor markers: the bytes outlive the statement's use of them (static), or SQLite copies them.
private let boundInsertStatic = unsafeBitCast(OpaquePointer(bitPattern: 0), to: sqlite3_destructor_type.self)
private let boundInsertTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
