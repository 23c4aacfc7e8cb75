import ArgumentParser
import ChatCore
import Foundation
import Logging
import PostgresStore

/// `parley migrate --from DIR --postgres URL`: copies a single-node data folder (SQLite) into an empty
/// PostgreSQL database, keeping message ids, seqs, inbox heads, rooms and cursors, so a server started with
/// `--postgres URL` (or a cluster of them) goes on where the single node stopped.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a data folder (SQLite) into an empty PostgreSQL database.",
        discussion: "Stop the server that uses the folder first. The copy is one transaction: all or nothing."
    )

    /// Messages per page read from SQLite and sent to PostgreSQL: bounded memory whatever the log's size.
    static let pageSize = 10_000

    @Option(help: "The data folder of the single-node server (its parley.db).")
    var from: String

    @Option(help: "The target database, postgresql://user@host:port/db; it must hold no data.")
    var postgres: String

    func validate() throws {
        let file = URL(fileURLWithPath: from).appendingPathComponent(SQLiteStore.fileName).path
        guard FileManager.default.fileExists(atPath: file) else {
            throw ValidationError("no \(SQLiteStore.fileName) in \(from)")
        }
    }

    func run() throws {
        var logger = Logger(label: "parley.migrate")
        logger.logLevel = .warning
        do {
            let counts = try copy(logger: logger)
            for (kind, count) in counts.sorted(by: { $0.key < $1.key }) { print("\(kind): \(count)") }
            print("migrated \(from) into PostgreSQL")
        } catch {
            // A non-empty target, an unreachable server, a failed copy: nothing was written.
            FileHandle.standardError.write(Data("parley migrate: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func copy(logger: Logger) throws -> [String: Int] {
        let source = try SQLiteStore(path: from, logger: logger)
        defer { source.close() }
        let target = try PostgresImporter(url: postgres)
        let snapshot = try source.loadSnapshot()
        // In creation order, so the new account ids follow the old ones' order.
        try target.addAccounts(snapshot.accounts.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) })
        try target.addBlocks(snapshot.blocks)
        try target.addTokens(snapshot.tokens)
        var after: Int64 = 0
        while true {
            let page = try source.exportMessages(after: after, limit: Self.pageSize)
            guard let last = page.last else { break }
            try target.addMessages(page)
            after = last.id
        }
        try target.addInboxHeads(snapshot.inboxes)
        try target.addRooms(snapshot.rooms)
        for room in snapshot.rooms {
            var after: Int64 = 0
            while true {
                let page = try Self.roomMessages(source, room.name, after: after)
                guard let last = page.last else { break }
                try target.addRoomMessages(page)
                after = last.seq
            }
        }
        try target.addRoomCursors(snapshot.roomCursors)
        try target.addLastSeen(snapshot.lastSeen)
        try target.addMeta(try source.allMeta())
        try target.commit()
        return target.counts
    }

    /// One page of a room's messages after `after`, oldest first, read through the store's queue (the server
    /// is stopped, so nothing else is queued).
    private static func roomMessages(_ source: SQLiteStore, _ room: String, after: Int64) throws -> [RoomMessage] {
        let page = Handoff<[[RoomMessage]]>()
        source.roomLogs([RoomLogQuery(room: room, .after(after), limit: RoomLogQuery.maxLimit)]) { page.set($0) }
        return try page.wait().first ?? []
    }
}

/// One completion's result, handed from the store's thread to the thread waiting for it.
private final class Handoff<T: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    func set(_ result: Result<T, any Error>) {
        lock.withLock { self.result = result }
        ready.signal()
    }

    func wait() throws -> T {
        ready.wait()
        return try lock.withLock { result! }.get()
    }
}
