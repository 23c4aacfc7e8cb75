import ChatCoreTestSupport
import Foundation
import GRDB
import XCTest
@testable import ChatCore

/// What rooms cost on disk in SQLite: bytes per room message, per membership and per member's room cursor. Not a
/// timed test, skipped unless `PARLEY_STORE_BENCH=1`, like the store benchmark; run it on a release build:
///
///     PARLEY_STORE_BENCH=1 swift test -c release --disable-swift-testing --filter RoomStoreBenchmarkTests
///
/// Everything goes through the store's own writes: `PARLEY_ROOM_BENCH_MEMBERS` accounts (1000) each join every one
/// of `PARLEY_ROOM_BENCH_ROOMS` rooms (10: 10 000 memberships), then `PARLEY_ROOM_BENCH_MESSAGES` room messages
/// (100 000) of 64-byte texts are said round-robin over the rooms (so each room's range grows in the middle of the
/// table, as live rooms do), in group commits of 1000 appends, and last every member's cursor in every room moves.
/// After each step the WAL is checkpointed into the file (TRUNCATE), and the file's growth divided by the rows
/// written is printed; where SQLite has the dbstat table, so is each table's and index's share (pages, and the
/// bytes of rows in them).
final class RoomStoreBenchmarkTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["PARLEY_STORE_BENCH"] == "1",
                          "the room store benchmark runs with PARLEY_STORE_BENCH=1")
    }

    func testRoomStorage() throws {
        let members = StoreBench.setting("PARLEY_ROOM_BENCH_MEMBERS", 1_000)
        let roomCount = StoreBench.setting("PARLEY_ROOM_BENCH_ROOMS", 10)
        let messages = StoreBench.setting("PARLEY_ROOM_BENCH_MESSAGES", 100_000)
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        let path = StoreBench.databasePath(dir.url)
        let users = (1...members).map(StoreBench.name)
        let rooms = (0..<roomCount).map { "room\($0)" }

        try store.write(users.map { .createAccount(AccountRecord(name: $0, passwordHash: "$", createdAt: 1)) })
        try store.write(rooms.map { .createRoom(name: $0, at: 1) })
        var before = try checkpointedSize(store, path)
        var tables = try dbstat(store)

        let memberships = users.flatMap { user in rooms.map { (user, $0) } }
        for chunk in memberships.chunked(1_000) {
            try store.write(chunk.map { .setRoomMember(room: $0.1, user: $0.0, isMember: true, at: 2) })
        }
        before = try report("membership", count: memberships.count, store, path, before: before, tables: &tables)

        let text = String(repeating: "m", count: 64)
        var id: Int64 = 0
        for chunk in (0..<messages).chunked(1_000) {
            let said = try store.appendRoomEach(chunk.map { n in
                id += 1
                return RoomMessage(id: id, room: rooms[n % roomCount], from: users[(n / roomCount) % members], text: text,
                                   at: 1_764_660_000_000 + id)
            })
            XCTAssertEqual(said.count, chunk.count)
        }
        before = try report("room message (64-byte text)", count: messages, store, path, before: before, tables: &tables)

        let last = Int64(messages / roomCount)
        for chunk in memberships.chunked(1_000) {
            try store.write(chunk.map { .advanceRoomCursor(user: $0.0, room: $0.1, to: last) })
        }
        _ = try report("member's room cursor", count: memberships.count, store, path, before: before, tables: &tables)

        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.rooms.map(\.members.count), Array(repeating: members, count: roomCount))
        XCTAssertEqual(snapshot.rooms.map(\.lastSeq).reduce(0, +), Int64(messages))
    }

    // MARK: - Measuring

    /// Prints the file's growth since `before` per row, and each table's and index's growth from dbstat; returns
    /// the new size.
    private func report(_ what: String, count: Int, _ store: SQLiteStore, _ path: String, before: Int,
                        tables: inout [String: (pages: Int, payload: Int)]) throws -> Int {
        let size = try checkpointedSize(store, path)
        print(String(format: "BENCH room store: %d × %@: file +%d bytes, %.1f bytes each", count, what, size - before,
                     Double(size - before) / Double(count)))
        let now = try dbstat(store)
        for (name, usage) in now.sorted(by: { $0.key < $1.key }) {
            let was = tables[name] ?? (0, 0)
            guard usage.pages != was.pages || usage.payload != was.payload else { continue }
            print(String(format: "BENCH room store:   %@: pages +%d bytes (%.1f each), rows' payload +%d bytes (%.1f each)",
                         name, usage.pages - was.pages, Double(usage.pages - was.pages) / Double(count),
                         usage.payload - was.payload, Double(usage.payload - was.payload) / Double(count)))
        }
        tables = now
        return size
    }

    /// The database file's size once the WAL is copied into it and emptied.
    private func checkpointedSize(_ store: SQLiteStore, _ path: String) throws -> Int {
        try store.onWriter { db, _ in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return StoreBench.fileSize(path)
    }

    /// Bytes of pages and of row payload per table and index, or nothing when SQLite was built without dbstat.
    private func dbstat(_ store: SQLiteStore) throws -> [String: (pages: Int, payload: Int)] {
        try store.onWriter { db, _ in
            guard let rows = try? Row.fetchAll(db, sql: "SELECT name, SUM(pgsize) AS pages, SUM(payload) AS payload FROM dbstat GROUP BY name")
            else { return [:] }
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as String, (pages: $0["pages"] as Int, payload: $0["payload"] as Int)) })
        }
    }
}

private extension Collection {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [SubSequence] {
        stride(from: 0, to: count, by: size).map { offset in
            let start = index(startIndex, offsetBy: offset)
            return self[start..<(index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex)]
        }
    }
}
