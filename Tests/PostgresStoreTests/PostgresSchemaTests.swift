import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// Upgrades in place: a database written at an older schema version opens, is brought to the current one,
/// and keeps its data.
final class PostgresSchemaTests: XCTestCase {
    /// A version-1 database with messages in it (the log and the heads still with their foreign keys): the
    /// store opens it at version 2, the keys are gone, the messages and cursors are intact, seqs go on.
    func testAVersionOneDatabaseIsUpgraded() throws {
        let database = try PostgresTestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)")
        try connection.execute(PostgresSchema.migrations[0])
        try connection.execute("INSERT INTO meta (key, value) VALUES ('schema.version', '1')")
        try connection.execute("""
            INSERT INTO accounts (name, password_hash, created_at) VALUES ('ann', '$ann', 1), ('bob', '$bob', 1);
            INSERT INTO inbox_heads (user_id, last, acked) SELECT id, 2, 1 FROM accounts WHERE name = 'bob';
            INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
            SELECT n, (1::bigint << 32) | 2, 1, 2, n, 1000 + n, 'old ' || n FROM generate_series(1, 2) n;
            """)
        XCTAssertEqual(try Self.foreignKeys(connection), 7, "v1 as shipped")

        let store = try database.open()
        defer { store.close() }
        let version = try connection.execute("SELECT value FROM meta WHERE key = 'schema.version'")
        XCTAssertEqual(version.string(0, 0), String(PostgresSchema.version))
        XCTAssertEqual(try Self.foreignKeys(connection), 4, "blocks (2), tokens and logins keep theirs")
        XCTAssertEqual(try store.inboxPage("bob").map(\.text), ["old 1", "old 2"])
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 2, acked: 1))
        let next = try store.appendEach([StoreContract.message(3, "ann", "bob", "new")])
        XCTAssertEqual(next.map(\.seq), [3])
    }

    private static func foreignKeys(_ connection: PGConnection) throws -> Int64 {
        try connection.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'").int(0, 0)
    }
}
