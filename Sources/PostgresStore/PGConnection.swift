import CLibPQ
import Foundation

/// A small, synchronous wrapper over one libpq connection: connect, run SQL, run named prepared statements with
/// text parameters, read results, and turn failures into `PGError` with their SQLSTATE.
///
/// Not thread-safe: one connection belongs to one thread at a time (the store's writer, or a short-lived
/// reader). Prepared statements are prepared lazily on first use and remembered per connection, so a new
/// connection after a lost one prepares them again by itself.
final class PGConnection {
    private let handle: OpaquePointer
    private var prepared: Set<String> = []

    /// Connects (blocking) to `url` (`postgresql://user@host:port/db`, or any libpq connection string).
    /// - Throws: `PGError` with libpq's message when the server cannot be reached or refuses the login.
    init(url: String) throws {
        guard let connection = PQconnectdb(url) else { throw PGError(sqlState: nil, message: "libpq is out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            throw PGError(sqlState: nil, message: message, connectionLost: true)
        }
        handle = connection
        // Notices (e.g. "relation already exists, skipping") go nowhere instead of to stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// False once the server went away (restart, network cut): the connection is of no further use.
    var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Runs one or more statements without parameters (schema, BEGIN/COMMIT, savepoints); returns the last result.
    @discardableResult
    func execute(_ sql: String) throws -> PGResult {
        try check(PQexec(handle, sql), sql: sql)
    }

    /// Runs `sql` once with text parameters (nil is SQL NULL), without preparing it.
    @discardableResult
    func execute(_ sql: String, _ parameters: [PGValue?]) throws -> PGResult {
        try withParameters(parameters) { count, values in
            try check(PQexecParams(handle, sql, count, nil, values, nil, nil, 0), sql: sql)
        }
    }

    /// Runs a named prepared statement, preparing it on this connection the first time.
    @discardableResult
    func execute(_ statement: PGStatement, _ parameters: [PGValue?]) throws -> PGResult {
        if !prepared.contains(statement.name) {
            try check(PQprepare(handle, statement.name, statement.sql, 0, nil), sql: statement.sql)
            prepared.insert(statement.name)
        }
        return try withParameters(parameters) { count, values in
            try check(PQexecPrepared(handle, statement.name, count, values, nil, nil, 0), sql: statement.sql)
        }
    }

    // MARK: Pipeline

    /// Sends `calls` (prepared statements with parameters) without waiting for each answer, then one sync, and
    /// reads every answer: one round trip for all of them (libpq's pipeline mode, PostgreSQL 14+). After an
    /// error the server skips the rest up to the sync, and those answers are errors too. Keep `calls` to a few
    /// hundred: a blocking connection that sends much more than the socket buffers hold before reading can
    /// wait on a server that waits on it.
    /// - Throws: `PGError` when the connection fails (the per-call errors are in the returned results).
    func pipeline(_ calls: [(PGStatement, [PGValue?])]) throws -> [Result<PGResult, PGError>] {
        for (statement, _) in calls where !prepared.contains(statement.name) {
            try check(PQprepare(handle, statement.name, statement.sql, 0, nil), sql: statement.sql)
            prepared.insert(statement.name)
        }
        guard PQenterPipelineMode(handle) == 1 else { throw lastError(sql: "pipeline") }
        defer { _ = PQexitPipelineMode(handle) }
        for (statement, parameters) in calls {
            let sent = withParameters(parameters) { count, values in
                PQsendQueryPrepared(handle, statement.name, count, values, nil, nil, 0)
            }
            guard sent == 1 else { throw lastError(sql: statement.sql) }
        }
        guard PQpipelineSync(handle) == 1 else { throw lastError(sql: "pipeline sync") }
        var results: [Result<PGResult, PGError>] = []
        results.reserveCapacity(calls.count)
        for (statement, _) in calls {
            guard let result = PQgetResult(handle) else { throw lastError(sql: statement.sql) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
                results.append(.success(PGResult(result)))
            default:
                results.append(.failure(PGError(result, fallback: lastError(sql: statement.sql), connectionLost: !isConnected)))
                PQclear(result)
            }
            while let extra = PQgetResult(handle) { PQclear(extra) }  // the end of this call's answers
        }
        guard let sync = PQgetResult(handle) else { throw lastError(sql: "pipeline sync") }
        defer { PQclear(sync) }
        guard PQresultStatus(sync) == PGRES_PIPELINE_SYNC else { throw lastError(sql: "pipeline sync") }
        return results
    }

    // MARK: COPY

    /// Starts `COPY … FROM STDIN` (text format); rows then go through `copyRow`, and `endCopy` finishes.
    func beginCopy(_ sql: String) throws {
        guard let result = PQexec(handle, sql) else { throw lastError(sql: sql) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COPY_IN else { throw PGError(result, fallback: lastError(sql: sql)) }
    }

    /// One row of a text-format COPY: the fields escaped and joined by tabs (nil is `\N`).
    func copyRow(_ fields: [String?]) throws {
        var line = ""
        for (index, field) in fields.enumerated() {
            if index > 0 { line += "\t" }
            line += field.map(Self.copyEscaped) ?? "\\N"
        }
        line += "\n"
        let sent = line.withCString { PQputCopyData(handle, $0, Int32(strlen($0))) }
        guard sent == 1 else { throw lastError(sql: "COPY") }
    }

    /// Ends the COPY and returns how many rows it took.
    @discardableResult
    func endCopy() throws -> Int {
        guard PQputCopyEnd(handle, nil) == 1 else { throw lastError(sql: "COPY") }
        var rows = 0
        var failure: PGError?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                rows = Int(Self.text(PQcmdTuples(result))) ?? 0
            } else {
                failure = PGError(result, fallback: lastError(sql: "COPY"))
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return rows
    }

    /// Text-format COPY escapes: backslash, tab, newline and carriage return.
    private static func copyEscaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else { return value }
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\t": escaped += "\\t"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    // MARK: Plumbing

    /// Calls `body` with the parameters as C strings, alive for the call.
    private func withParameters<T>(_ parameters: [PGValue?],
                                   _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>) throws -> T) rethrows -> T {
        let strings: [UnsafeMutablePointer<CChar>?] = parameters.map { value in value.map { strdup($0.text) } }
        defer { for string in strings { free(string) } }
        let pointers = strings.map { $0.map { UnsafePointer($0) } }
        return try pointers.withUnsafeBufferPointer { buffer in
            try body(Int32(buffer.count), buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
        }
    }

    /// A result that carries rows or a completed command, or the error it holds.
    @discardableResult
    private func check(_ result: OpaquePointer?, sql: String) throws -> PGResult {
        guard let result else { throw lastError(sql: sql) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGResult(result)
        default:
            let error = PGError(result, fallback: lastError(sql: sql), connectionLost: !isConnected)
            PQclear(result)
            throw error
        }
    }

    private func lastError(sql: String) -> PGError {
        PGError(sqlState: nil, message: Self.text(PQerrorMessage(handle)), connectionLost: !isConnected)
    }

    static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) }?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

/// A statement prepared once per connection under `name`.
struct PGStatement: Sendable {
    let name: String
    let sql: String
}

/// A parameter in text format, as PostgreSQL parses it for the parameter's type.
enum PGValue {
    case int(Int64)
    case string(String)

    var text: String {
        switch self {
        case .int(let value): String(value)
        case .string(let value): value
        }
    }
}

extension PGValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    init(integerLiteral value: Int64) { self = .int(value) }
    init(stringLiteral value: String) { self = .string(value) }
}

/// The rows (or the command tag) of one statement; text format.
final class PGResult {
    private let handle: OpaquePointer

    fileprivate init(_ handle: OpaquePointer) { self.handle = handle }

    deinit { PQclear(handle) }

    var rowCount: Int { Int(PQntuples(handle)) }

    /// Rows an INSERT, UPDATE or DELETE touched.
    var affectedRows: Int { Int(PGConnection.text(PQcmdTuples(handle))) ?? 0 }

    /// The command tag: "COMMIT", "INSERT 0 1", … ("ROLLBACK" for a COMMIT of a failed transaction).
    var commandTag: String { PGConnection.text(PQcmdStatus(handle)) }

    func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    func string(_ row: Int, _ column: Int) -> String {
        String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    /// An integer column; 0 for NULL.
    func int(_ row: Int, _ column: Int) -> Int64 {
        guard let value = PQgetvalue(handle, Int32(row), Int32(column)) else { return 0 }
        return strtoll(value, nil, 10)
    }
}

/// A failed libpq call: the server's message, its SQLSTATE when it sent one, and whether the connection is gone.
struct PGError: Error, CustomStringConvertible {
    let sqlState: String?
    let message: String
    var connectionLost = false

    init(sqlState: String?, message: String, connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.connectionLost = connectionLost
    }

    /// The error a result holds; `fallback` when the result says nothing.
    fileprivate init(_ result: OpaquePointer, fallback: PGError, connectionLost: Bool = false) {
        let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message = PGConnection.text(PQresultErrorMessage(result))
        self.init(sqlState: state ?? fallback.sqlState, message: message.isEmpty ? fallback.message : message,
                  connectionLost: connectionLost || fallback.connectionLost || Self.meansLostConnection(state))
    }

    /// Class 08 (connection exception) and 57P01–57P03 (the server shutting down or not yet accepting).
    private static func meansLostConnection(_ state: String?) -> Bool {
        guard let state else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }

    /// 40P01 (deadlock detected) and 40001 (serialization failure): the transaction may simply run again.
    var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// Class 23: a unique, foreign-key, not-null or check constraint refused the write.
    var isConstraintViolation: Bool { sqlState?.hasPrefix("23") ?? false }

    var description: String { sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message }
}
