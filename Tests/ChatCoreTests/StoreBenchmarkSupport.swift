import Foundation
import GRDB
@testable import ChatCore

/// Builds large stores quickly and measures them, for `StoreBenchmarkTests`.
///
/// The generated traffic: `users` accounts; message i goes to user ((i − 1) mod users) + 1, so its seq is
/// (i − 1) / users + 1, from one of 20 partners of that recipient (a few conversations each, not a random pair
/// per message), with a text of 20–180 characters (100 on average).
enum StoreBench {
    static func setting(_ key: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[key].flatMap { Int($0) } ?? fallback
    }

    static func name(_ user: Int) -> String { "u" + String(user) }

    static func databasePath(_ dir: URL) -> String { dir.appendingPathComponent(SQLiteStore.fileName).path }

    /// The generator's sender for a recipient: one of its 20 partners (the generator picks
    /// (seq − 1) × 7 + recipient mod 20, so each of them in turn).
    static func partner(of recipient: Int, pick: Int, users: Int) -> Int {
        (recipient - 1 + 1 + (pick % 20) * 37) % users + 1
    }

    /// The generated messages 1…count as `SELECT id, sender, recipient, seq, sent_at, body` over integer ids.
    private static func generator(count: Int, users: Int) -> String {
        """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(count)),
        m AS (SELECT i, (i - 1) % \(users) + 1 AS r FROM n)
        SELECT i AS id, (r - 1 + 1 + ((((i - 1) / \(users)) * 7 + r) % 20) * 37) % \(users) + 1 AS s, r, (i - 1) / \(users) + 1 AS seq,
               1764660000000 + i AS at, substr(hex(randomblob(90)), 1, 20 + (i * 7) % 161) AS body
        FROM m
        """
    }

    /// A version 3 store: the accounts through the store, then the log in one generated statement and the
    /// indexes built by the same sorted batch the store runs.
    static func fillVersion3(_ dir: URL, users: Int, messages: Int) throws {
        let store = try SQLiteStore(directory: dir, logger: storeTestLogger)
        try store.performAndWait((1...users).map { .createAccount(AccountRecord(name: name($0), passwordHash: "$", createdAt: 1)) })
        store.close()
        try bulk(dir) { db in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM accounts ORDER BY id")
            precondition(ids == (1...Int64(users)).map { $0 }, "account ids 1…users")
            try db.execute(sql: """
                INSERT INTO log (id, stream, sender, recipient, seq, sent_at, body)
                SELECT id, (min(s, r) << 32) | max(s, r), s, r, seq, at, body FROM (\(generator(count: messages, users: users)))
                """)
            try StoreSQL.indexAll(after: 0, db)
        }
    }

    /// A version 2 store as the previous code wrote it: its migrations, its table, names as keys.
    static func fillVersion2(_ dir: URL, users: Int, messages: Int) throws {
        let queue = try DatabaseQueue(path: databasePath(dir))
        try StoreSchema.migrator.migrate(queue, upTo: "v2")
        try queue.close()
        try bulk(dir) { db in
            for user in 1...users {
                try db.execute(sql: "INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                               arguments: [name(user), "$", 1])
            }
            try db.execute(sql: """
                INSERT INTO messages (id, sender, recipient, body, sent_at, pending)
                SELECT id, 'u' || s, 'u' || r, body, at, 0 FROM (\(generator(count: messages, users: users)))
                """)
        }
    }

    /// Runs `fill` in one transaction without a journal or syncs (a benchmark's scratch data), then back to WAL.
    private static func bulk(_ dir: URL, _ fill: (Database) throws -> Void) throws {
        let queue = try DatabaseQueue(path: databasePath(dir))
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000")
            try db.inTransaction {
                try fill(db)
                return .commit
            }
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try queue.close()
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// CPU time of the calling thread, microseconds.
    static func threadCPUMicros() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
    }

    static func wallMicros() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) * 1e6 + Double(time.tv_nsec) / 1e3
    }

    /// The median wall time of `body(k)` for k in 0..<runs, microseconds.
    static func median(_ runs: Int = 100, _ body: (Int) throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for k in 0..<runs {
            let start = wallMicros()
            try body(k)
            times.append(wallMicros() - start)
        }
        return times.sorted()[runs / 2]
    }

    /// A text of 20–180 characters, like the generator's.
    static func text(_ n: Int) -> String { String(repeating: "x", count: 20 + (n * 7) % 161) }
}

/// A CPU timestamp taken on the writer thread (inside a completion) and read on the test thread.
final class WriterClock: @unchecked Sendable {
    private let lock = NSLock()
    private var stamps: [Double] = []
    func stamp() { lock.withLock { stamps.append(StoreBench.threadCPUMicros()) } }
    var elapsed: Double { lock.withLock { (stamps.last ?? 0) - (stamps.first ?? 0) } }
}
