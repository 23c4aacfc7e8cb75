import Foundation
import GRDB
import XCTest
@testable import ChatCore

/// A data folder written by the version 2 store opens with today's store and is upgraded in place: accounts,
/// blocks, tokens and bookkeeping read back, every message gets its seq per recipient in id order, and each
/// cursor leaves exactly the v2 offline queue (pending = 1) to be delivered.
final class StoreMigrationTests: XCTestCase {
    func testVersion2FolderUpgradesInPlace() throws {
        let dir = try TestDirectory()
        try writeVersion2Folder(dir.url)

        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.accounts, [AccountRecord(name: "ann", passwordHash: "$ann", createdAt: 10),
                                           AccountRecord(name: "bob", passwordHash: "$bob2", createdAt: 20),
                                           AccountRecord(name: "cy", passwordHash: "$cy", createdAt: 30),
                                           AccountRecord(name: "dee", passwordHash: "$dee", createdAt: 40)])
        XCTAssertEqual(snapshot.blocks, ["bob": ["cy"]])
        XCTAssertEqual(snapshot.tokens, [TokenRecord(digest: "t-ann", user: "ann", expiresAt: 9_000)])
        XCTAssertEqual(snapshot.lastMessageID, 7)
        XCTAssertEqual(snapshot.inboxes, ["bob": InboxHead(last: 4, acked: 2), "ann": InboxHead(last: 2, acked: 2),
                                          "cy": InboxHead(last: 1, acked: 0)], "cursors just before the first pending")
        XCTAssertEqual(snapshot.lastSeen, [:], "login history starts empty")
        XCTAssertEqual(try store.metaValue("credentials.digest"), "abc")

        XCTAssertEqual(try store.inboxAndWait("bob").map(\.id), [1, 3, 4, 5], "seq per recipient in id order")
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.seq), [1, 2, 3, 4])
        XCTAssertEqual(try store.inboxAndWait("bob", after: 2).map(\.text), ["cy: while you were out", "ann: and this"],
                       "exactly the pending messages are after the cursor")
        XCTAssertEqual(try store.inboxAndWait("ann", after: 2), [])
        XCTAssertEqual(try store.inboxAndWait("cy"), [StoredMessage(id: 6, seq: 1, from: "bob", to: "cy", text: "bob: pending", at: 106)])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", with: "bob", limit: 10)).map(\.id), [5, 3, 2, 1])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", limit: 10)).map(\.id), [7, 5, 3, 2, 1])
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "dee", limit: 10)), [])

        // The upgraded store goes on: new seqs follow the migrated ones, new accounts get fresh ids, the
        // blocks' foreign keys point at the rebuilt accounts table.
        XCTAssertEqual(try store.appendAll([sampleMessage(8, "dee", "bob", "new")]).map(\.seq), [5])
        try store.performAndWait([.createAccount(sampleAccount("eve")), .advanceCursor(user: "bob", to: 5)])
        XCTAssertEqual(try store.appendAll([sampleMessage(9, "eve", "dee", "hi")]).map(\.seq), [1])
        XCTAssertThrowsError(try store.performAndWait([.setBlock(blocker: "ann", blocked: "ghost", isBlocked: true)]))
        XCTAssertThrowsError(try store.performAndWait([.insertToken(TokenRecord(digest: "x", user: "ghost", expiresAt: 1))]))
        store.close()

        let reopened = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { reopened.close() }
        let again = try reopened.loadSnapshot()
        XCTAssertEqual(again.inboxes["bob"], InboxHead(last: 5, acked: 5))
        XCTAssertEqual(again.inboxes["dee"], InboxHead(last: 1, acked: 0))
        XCTAssertEqual(again.accounts.map(\.name), ["ann", "bob", "cy", "dee", "eve"])
        let problems = try DatabaseQueue(path: dir.url.appendingPathComponent(SQLiteStore.fileName).path)
            .read { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }
        XCTAssertEqual(problems, [])
    }

    /// An empty v2 folder (no messages, no accounts) upgrades too.
    func testEmptyVersion2FolderUpgrades() throws {
        let dir = try TestDirectory()
        let queue = try DatabaseQueue(path: dir.url.appendingPathComponent(SQLiteStore.fileName).path)
        try StoreSchema.migrator.migrate(queue, upTo: "v2")
        try queue.close()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        XCTAssertEqual(try store.loadSnapshot().lastMessageID, 0)
        try store.performAndWait([.createAccount(sampleAccount("ann"))])
        XCTAssertEqual(try store.appendAll([sampleMessage(1, "ann", "ann", "note")]).map(\.seq), [1])
    }

    /// The folder as the version 2 store left it: its migrations, then rows written with its own statements
    /// (messages stored pending or delivered, later marked delivered or pending again as the hub did).
    private func writeVersion2Folder(_ url: URL) throws {
        let queue = try DatabaseQueue(path: url.appendingPathComponent(SQLiteStore.fileName).path)
        try StoreSchema.migrator.migrate(queue, upTo: "v2")
        try queue.write { db in
            for (name, created) in [("ann", 10), ("bob", 20), ("cy", 30), ("dee", 40)] {
                try db.execute(sql: "INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                               arguments: [name, "$" + name, created])
            }
            try db.execute(sql: "UPDATE accounts SET password_hash = ? WHERE name = ?", arguments: ["$bob2", "bob"])
            try db.execute(sql: "INSERT OR IGNORE INTO blocks (blocker, blocked) VALUES (?, ?)", arguments: ["bob", "cy"])
            try db.execute(sql: "INSERT INTO tokens (digest, user, expires_at) VALUES (?, ?, ?)", arguments: ["t-ann", "ann", 9_000])
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           arguments: ["credentials.digest", "abc"])
            let messages: [(Int64, String, String, String, Bool)] = [
                (1, "ann", "bob", "ann: hello", false),
                (2, "bob", "ann", "bob: hi", true),  // stored pending, delivered at ann's next login
                (3, "ann", "bob", "ann: still there?", false),
                (4, "cy", "bob", "cy: while you were out", true),
                (5, "ann", "bob", "ann: and this", false),  // stored live, the delivery failed: pending again
                (6, "bob", "cy", "bob: pending", true),
                (7, "cy", "ann", "cy: seen", false),
            ]
            for (id, from, to, text, pending) in messages {
                try db.execute(sql: "INSERT INTO messages (id, sender, recipient, body, sent_at, pending) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [id, from, to, text, 100 + id, pending ? 1 : 0])
            }
            try db.execute(sql: "UPDATE messages SET pending = 0 WHERE id = ? AND pending = 1", arguments: [2])
            try db.execute(sql: "UPDATE messages SET pending = 1 WHERE id = ?", arguments: [5])
        }
        try queue.close()
    }
}
