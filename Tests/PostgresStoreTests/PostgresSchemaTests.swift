import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// Upgrades in place: a database written at an older schema version opens, is brought to the current one,
/// and keeps its data.
final class PostgresSchemaTests: XCTestCase {
    /// A version-1 database with messages in it (the log and the heads still with their foreign keys): the
    /// store opens it at the current version, the keys are gone, the messages and cursors are intact, seqs go on.
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
        XCTAssertEqual(try Self.foreignKeys(connection, of: Self.versionOneTables), 7, "v1 as shipped")

        let store = try database.open()
        defer { store.close() }
        let version = try connection.execute("SELECT value FROM meta WHERE key = 'schema.version'")
        XCTAssertEqual(version.string(0, 0), String(PostgresSchema.version))
        XCTAssertEqual(try Self.foreignKeys(connection, of: Self.versionOneTables), 4, "blocks (2), tokens and logins keep theirs")
        XCTAssertEqual(try store.inboxPage("bob").map(\.text), ["old 1", "old 2"])
        XCTAssertEqual(try store.loadSnapshot().inboxes["bob"], InboxHead(last: 2, acked: 1))
        let next = try store.appendEach([StoreContract.message(3, "ann", "bob", "new")])
        XCTAssertEqual(next.map(\.seq), [3])
    }

    /// A version-2 database with accounts, messages, cursors and a raised id sequence: the store opens it at
    /// version 3 with empty room tables, the old data intact; rooms then work, their ids come after the old
    /// messages' and the direct inboxes go on.
    func testAVersionTwoDatabaseIsUpgraded() throws {
        let database = try PostgresTestDatabase()
        let connection = try database.connect()
        try connection.execute("CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL)")
        try connection.execute(PostgresSchema.migrations[0])
        try connection.execute(PostgresSchema.migrations[1])
        try connection.execute("INSERT INTO meta (key, value) VALUES ('schema.version', '2'), ('credentials.digest', 'abc')")
        try connection.execute("""
            INSERT INTO accounts (name, password_hash, created_at) VALUES ('ann', '$ann', 1), ('bob', '$bob', 1);
            INSERT INTO inbox_heads (user_id, last, acked) SELECT id, 3, 2 FROM accounts WHERE name = 'bob';
            INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
            SELECT n * 10, (1::bigint << 32) | 2, 1, 2, n, 1000 + n, 'old ' || n FROM generate_series(1, 3) n;
            SELECT setval('message_ids', 30);
            """)

        let store = try database.open()
        defer { store.close() }
        let version = try connection.execute("SELECT value FROM meta WHERE key = 'schema.version'")
        XCTAssertEqual(version.string(0, 0), "3")
        XCTAssertEqual(try store.metaValue("credentials.digest"), "abc")
        let before = try store.loadSnapshot()
        XCTAssertEqual(before.rooms, [])
        XCTAssertEqual(before.roomCursors, [:])
        XCTAssertEqual(before.lastMessageID, 30)
        XCTAssertEqual(before.inboxes["bob"], InboxHead(last: 3, acked: 2))
        XCTAssertEqual(try store.inboxPage("bob").map(\.text), ["old 1", "old 2", "old 3"])

        try store.write([.createRoom(name: "lobby", at: 5), .setRoomMember(room: "lobby", user: "ann", isMember: true, at: 6),
                         .setRoomOwner(room: "lobby", owner: "ann")])
        let said = try store.appendRoomEach([RoomMessage(id: 0, room: "lobby", from: "ann", text: "first", at: 7)])[0]
        XCTAssertEqual(said.seq, 1)
        XCTAssertEqual(said.id, 31, "from the sequence the direct messages used")
        try store.write([.advanceRoomCursor(user: "ann", room: "lobby", to: 1)])
        XCTAssertEqual(try store.appendEach([StoredMessage(id: 0, from: "ann", to: "bob", text: "new", at: 8)]).map(\.seq), [4])
        let after = try store.loadSnapshot()
        XCTAssertEqual(after.rooms, [RoomRecord(name: "lobby", owner: "ann", createdAt: 5, lastSeq: 1,
                                                members: [RoomMember(user: "ann", joinedAt: 6)])])
        XCTAssertEqual(after.roomCursors, ["ann": ["lobby": 1]])
        XCTAssertEqual(after.lastMessageID, 32)
        XCTAssertEqual(try Self.foreignKeys(connection, of: ["room_log", "room_cursors", "log", "inbox_heads"]), 0,
                       "no foreign keys on the tables written per message")
    }

    private static let versionOneTables = ["accounts", "blocks", "tokens", "log", "inbox_heads", "logins"]

    private static func foreignKeys(_ connection: PGConnection, of tables: [String]) throws -> Int64 {
        try connection.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1::text[])",
                               [.string(PostgresAppendBatch.textArray(tables))]).int(0, 0)
    }
}
