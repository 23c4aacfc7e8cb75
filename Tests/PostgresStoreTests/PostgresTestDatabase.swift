import Foundation
import Logging
import XCTest
@testable import PostgresStore

let postgresTestLogger = Logger(label: "parley.tests.postgres")

/// A fresh database on the test server (PARLEY_TEST_POSTGRES, which scripts/test starts), dropped when released.
/// Skips the test when no server is given.
final class PostgresTestDatabase: Sendable {
    let url: String
    private let serverURL: String
    private let name: String

    init() throws {
        guard let server = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES"], !server.isEmpty else {
            throw XCTSkip("PARLEY_TEST_POSTGRES is not set (scripts/test starts a throwaway PostgreSQL)")
        }
        serverURL = server
        name = "parley_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try PGConnection(url: server).execute("CREATE DATABASE \(name)")
        url = Self.replacingDatabase(in: server, with: name)
    }

    deinit {
        _ = try? PGConnection(url: serverURL).execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Opens a store on this database.
    func open() throws -> PostgresStore { try PostgresStore(url: url, logger: postgresTestLogger) }

    /// A direct connection, to look at rows.
    func connect() throws -> PGConnection { try PGConnection(url: url) }

    /// `postgresql://user@host:port/db?…` with another database name.
    static func replacingDatabase(in url: String, with database: String) -> String {
        guard var parts = URLComponents(string: url) else { return url }
        parts.path = "/" + database
        return parts.string ?? url
    }

    /// Restarts the test server (PARLEY_TEST_POSTGRES_DIR, through scripts/throwaway-postgres); skips without it.
    /// `crashing` stops it as a crash would (no checkpoint; the WAL is replayed at the start).
    static func restartServer(crashing: Bool = false) throws {
        guard let dir = ProcessInfo.processInfo.environment["PARLEY_TEST_POSTGRES_DIR"], !dir.isEmpty else {
            throw XCTSkip("PARLEY_TEST_POSTGRES_DIR is not set: no server to restart")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/throwaway-postgres").path
        // posix_spawn and waitpid rather than Foundation's Process, whose waitUntilExit can miss the child's exit.
        var pid = pid_t()
        let arguments = [script, crashing ? "crash" : "restart", dir]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, script, nil, nil, argv, environ) == 0 else { throw XCTSkip("cannot run \(script)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else { throw XCTSkip("restarting the test server failed (status \(status))") }
    }
}
