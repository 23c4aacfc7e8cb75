import COpenSSL
import Foundation
import Logging
import ParleySupport

/// Startup import: every listed user exists with that password. Only lines whose password changed are re-hashed:
/// keep the file's SHA-256 in a `meta` table and skip everything when unchanged; otherwise verify each entry against its stored hash (on the pool, in parallel) and re-hash only mismatches and new users.
///
/// One refinement: the store also keeps the imported file's length. When the old file is an unchanged prefix of
/// the new one — the usual case, since `--append-credentials` and admins both add lines at the end — only the
/// lines after that prefix are checked, so a server with many accounts does not spend ~34 ms per account at
/// every start after each registration.
public struct CredentialsImport {
    /// Meta keys: the SHA-256 (hex) and the byte length of the file as last imported.
    static let digestKey = "credentials.sha256"
    static let lengthKey = "credentials.length"
    /// Hash jobs in flight at once: enough to keep every worker busy, far below the pool's capacity.
    static let maxInFlight = 32

    /// Imports the file at `path` into `store`. A missing file is fine (nothing to do). Call at startup, before
    /// the hub takes traffic, from a thread that is neither a worker nor the store's writer: it blocks until the
    /// import is committed. Reload the snapshot afterwards if anything was created or updated.
    /// - Returns: accounts created, passwords updated, and listed users left as they were.
    /// - Throws: on an unreadable file, a refused hash, or a failed commit (nothing is half-imported then).
    public static func run(path: String, store: any ChatStore, hasher: any PasswordHasher, snapshot: StoreSnapshot,
                           now: Int64, logger: Logger = Logger(label: "parley.credentials"))
        throws -> (created: Int, updated: Int, unchanged: Int)
    {
        guard FileManager.default.fileExists(atPath: path) else {
            logger.info("no credentials file; nothing to import")
            return (0, 0, 0)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CredentialsFileError.io("read", errno) }
        let bytes = [UInt8](data)
        let (entries, problems) = CredentialsFile.parseLines(String(decoding: bytes, as: UTF8.self))
        for problem in problems { logger.warning("credentials file: \(problem)") }

        let (firstLine, isSameFile) = try firstChangedLine(bytes, store)
        var hashes: [String: String] = [:]
        for account in snapshot.accounts { hashes[account.name] = account.passwordHash }
        // Lines before `firstLine` were imported already; a missing account still gets created whatever the file says.
        let toCheck = entries.filter { $0.line >= firstLine || hashes[$0.user] == nil }
        var unchanged = entries.count - toCheck.count

        let existing = toCheck.filter { hashes[$0.user] != nil }
        let matches = inParallel(existing.count) { index, done in
            hasher.verify(existing[index].password, encoded: hashes[existing[index].user]!, done: done)
        }
        unchanged += matches.filter { $0 }.count
        let changed = zip(existing, matches).filter { !$0.1 }.map(\.0)
        let created = toCheck.filter { hashes[$0.user] == nil }
        let rehash = changed + created
        let encoded = inParallel(rehash.count) { index, done in hasher.hash(rehash[index].password, done: done) }
        // An empty hash means the hasher refused (pool full or stopped); storing it would lock the user out.
        guard !encoded.contains("") else { throw CredentialsImportError.hashingRefused }

        var writes: [StoreWrite] = []
        for (entry, hash) in zip(rehash, encoded) {
            if hashes[entry.user] == nil {
                writes.append(.createAccount(AccountRecord(name: entry.user, passwordHash: hash, createdAt: now)))
            } else {
                writes.append(.setPasswordHash(user: entry.user, hash: hash))
            }
        }
        let meta = [digestKey: sha256Hex(bytes[...]), lengthKey: String(bytes.count)]
        if !writes.isEmpty || !isSameFile {
            try commit(writes, meta: meta, store: store)
        }
        let result = (created: created.count, updated: changed.count, unchanged: unchanged)
        logger.info("credentials imported", metadata: [
            "created": "\(result.created)", "updated": "\(result.updated)", "unchanged": "\(result.unchanged)",
            "checked": "\(toCheck.count)", "problems": "\(problems.count)",
        ])
        return result
    }

    /// The first line that may differ from the last import: 1 (everything) unless the stored digest matches a
    /// prefix of `bytes`; and whether the whole file is the one imported last. A prefix cut inside a line makes
    /// that line count as changed (it may have grown).
    private static func firstChangedLine(_ bytes: [UInt8], _ store: any ChatStore) throws -> (Int, Bool) {
        guard let digest = try store.metaValue(digestKey),
              let length = try store.metaValue(lengthKey).flatMap({ Int($0) }),
              length <= bytes.count,
              sha256Hex(bytes[..<length]) == digest
        else { return (1, false) }
        if length == bytes.count { return (Int.max, true) }
        let lineBreaks = bytes[..<length].reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        return (lineBreaks + 1, false)
    }

    /// Submits `count` jobs with at most `maxInFlight` outstanding and waits for all; results in job order.
    private static func inParallel<T: Sendable>(_ count: Int,
                                                _ start: (Int, @escaping @Sendable (T) -> Void) -> Void) -> [T] {
        let gate = ResultGate<T>(count: count)
        for index in 0..<count {
            gate.waitForSlot(limit: maxInFlight)
            start(index) { gate.finish(index, $0) }
        }
        return gate.waitForAll()
    }

    /// One perform, the new digest with it, waited for.
    private static func commit(_ writes: [StoreWrite], meta: [String: String], store: any ChatStore) throws {
        let gate = ResultGate<Result<Void, any Error>>(count: 1)
        store.perform(writes, meta: meta) { gate.finish(0, $0) }
        try gate.waitForAll()[0].get()
    }

    /// Lower-case hex SHA-256.
    static func sha256Hex(_ bytes: ArraySlice<UInt8>) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { buffer in
            _ = SHA256(buffer.baseAddress, buffer.count, &digest)
        }
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why an import stopped without committing anything.
public enum CredentialsImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The hasher's pool refused work (full or shut down).
    case hashingRefused

    public var description: String { "the password hasher refused work; the credentials file was not imported" }
}

/// Collects results that arrive on other threads; the importing thread sleeps until there is room or all are in.
private final class ResultGate<T: Sendable>: @unchecked Sendable {
    private let state = ConditionLock()
    // Guarded by `state`.
    private var results: [T?]
    private var started = 0
    private var finished = 0

    init(count: Int) {
        results = Array(repeating: nil, count: count)
    }

    /// Blocks while `limit` jobs are outstanding, then counts one more as started.
    func waitForSlot(limit: Int) {
        state.withLock {
            while started - finished >= limit { state.wait() }
            started += 1
        }
    }

    func finish(_ index: Int, _ value: T) {
        state.withLock {
            results[index] = value
            finished += 1
            state.broadcast()
        }
    }

    func waitForAll() -> [T] {
        state.withLock {
            while finished < results.count { state.wait() }
            return results.map { $0! }
        }
    }
}
