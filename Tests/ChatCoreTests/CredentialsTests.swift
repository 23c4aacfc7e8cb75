import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// credentials.txt: parsing, appending, and the startup import that re-hashes only what changed.
final class CredentialsTests: XCTestCase {
    // MARK: - Parsing

    func testParsesTheBriefsFormat() {
        let (entries, problems) = CredentialsFile.parse("hans falcon*solo\nyoda wise@!man\r\n\nvader sithlord**\n")
        XCTAssertEqual(entries.map(\.user), ["hans", "yoda", "vader"])
        XCTAssertEqual(entries.map(\.password), ["falcon*solo", "wise@!man", "sithlord**"])
        XCTAssertEqual(problems, [])
    }

    func testEveryAllowedCharacterIsAccepted() {
        let punctuation = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"
        let (entries, problems) = CredentialsFile.parse("Aa0\(punctuation.prefix(29)) x\(punctuation)Zz9")
        XCTAssertEqual(problems, [])
        XCTAssertEqual(entries.first?.password, "x\(punctuation)Zz9")
        XCTAssertTrue(AccountRules.isValidUsername("Aa0" + punctuation.prefix(29)))
    }

    func testBadLinesAreReportedBySkippedNumberAndNeverEchoed() {
        let text = """
            \u{FEFF}ann pw1
            nospacehere
            bob  twospaces
            c\u{E9}line pw
            dan pass word
            \(String(repeating: "x", count: 33)) pw
            eve \(String(repeating: "p", count: 129))
            fay \tpw
            gus ok
            """
        let (entries, problems) = CredentialsFile.parse(text)
        XCTAssertEqual(entries.map(\.user), ["ann", "gus"], "BOM stripped from the first name")
        XCTAssertEqual(problems.count, 7)
        for (problem, line) in zip(problems, 2...8) {
            XCTAssertTrue(problem.hasPrefix("line \(line): "), problem)
        }
        for secret in ["nospacehere", "twospaces", "pass word", "ppppp"] {
            XCTAssertFalse(problems.joined().contains(secret), "a problem report must not echo what may be a password")
        }
    }

    func testLaterDuplicateWinsAndIsReported() {
        let (entries, problems) = CredentialsFile.parse("ann one\nbob two\nann three\n")
        XCTAssertEqual(entries.map(\.user), ["ann", "bob"])
        XCTAssertEqual(entries.map(\.password), ["three", "two"])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].hasPrefix("line 1: ann is listed again on line 3"), problems[0])
    }

    func testNamesAndPasswordsAreCaseSensitive() {
        let (entries, _) = CredentialsFile.parse("Ann pw\nann PW\n")
        XCTAssertEqual(entries.map(\.user), ["Ann", "ann"])
    }

    func testAccountRulesLengths() {
        XCTAssertFalse(AccountRules.isValidUsername(""))
        XCTAssertTrue(AccountRules.isValidUsername(String(repeating: "a", count: 32)))
        XCTAssertFalse(AccountRules.isValidUsername(String(repeating: "a", count: 33)))
        XCTAssertTrue(AccountRules.isValidPassword(String(repeating: "a", count: 128)))
        XCTAssertFalse(AccountRules.isValidPassword(String(repeating: "a", count: 129)))
        XCTAssertFalse(AccountRules.isValidPassword(""))
        for bad in ["a b", "a\tb", "a\nb", "é", "日本", "a\u{0}"] { XCTAssertFalse(AccountRules.isValidUsername(bad), bad) }
    }

    // MARK: - Appending

    func testAppendCreatesAddsMissingLineBreakAndRefusesBadEntries() throws {
        let dir = try TestDirectory()
        let path = dir.url.appendingPathComponent("credentials.txt").path
        try CredentialsFile.append(user: "ann", password: "pw1", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "ann pw1\n")
        try Data("bob pw2".utf8).write(to: URL(fileURLWithPath: path))  // hand-edited, no final newline
        XCTAssertThrowsError(try CredentialsFile.append(user: "cy", password: "p w", to: path))
        XCTAssertThrowsError(try CredentialsFile.append(user: "c y", password: "pw", to: path))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "bob pw2", "refused entries write nothing")
        try CredentialsFile.append(user: "cy", password: "pw3", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "bob pw2\ncy pw3\n")
        XCTAssertEqual(CredentialsFile.parse(try String(contentsOfFile: path, encoding: .utf8)).entries.map(\.user), ["bob", "cy"])
    }

    // MARK: - Import

    func testImportCreatesThenSkipsAnUnchangedFile() throws {
        let fixture = try ImportFixture()
        try fixture.write("ann pw1\nbob pw2\ncy pw3\n")
        var result = try fixture.run()
        XCTAssertEqual(result.created, 3)
        XCTAssertEqual(result.updated, 0)
        XCTAssertEqual(result.unchanged, 0)
        XCTAssertEqual(fixture.hasher.counts, HashCounts(hashes: 3, verifies: 0))
        XCTAssertTrue(try fixture.passwordMatches("bob", "pw2"))

        fixture.hasher.reset()
        result = try fixture.run()
        XCTAssertEqual([result.created, result.updated, result.unchanged], [0, 0, 3])
        XCTAssertEqual(fixture.hasher.counts, HashCounts(hashes: 0, verifies: 0), "an unchanged file costs no hashing at all")
    }

    func testChangedLineIsTheOnlyOneRehashed() throws {
        let fixture = try ImportFixture()
        try fixture.write("ann pw1\nbob pw2\ncy pw3\n")
        _ = try fixture.run()
        let annBefore = try fixture.hash(of: "ann")
        fixture.hasher.reset()
        try fixture.write("ann pw1\nbob NEW\ncy pw3\n")
        let result = try fixture.run()
        XCTAssertEqual([result.created, result.updated, result.unchanged], [0, 1, 2])
        XCTAssertEqual(fixture.hasher.counts, HashCounts(hashes: 1, verifies: 3))
        XCTAssertTrue(try fixture.passwordMatches("bob", "NEW"))
        XCTAssertFalse(try fixture.passwordMatches("bob", "pw2"))
        XCTAssertEqual(try fixture.hash(of: "ann"), annBefore, "unchanged users keep their hash (and salt)")
    }

    /// Appended lines (what --append-credentials and admins do) are the only ones looked at.
    func testAppendedLinesAreTheOnlyOnesChecked() throws {
        let fixture = try ImportFixture()
        try fixture.write("ann pw1\nbob pw2\n")
        _ = try fixture.run()
        fixture.hasher.reset()
        try CredentialsFile.append(user: "cy", password: "pw3", to: fixture.path)
        try CredentialsFile.append(user: "ann", password: "changed", to: fixture.path)
        let result = try fixture.run()
        XCTAssertEqual([result.created, result.updated, result.unchanged], [1, 1, 1])
        XCTAssertEqual(fixture.hasher.counts, HashCounts(hashes: 2, verifies: 1), "bob's line was not re-verified")
        XCTAssertTrue(try fixture.passwordMatches("ann", "changed"))
        XCTAssertTrue(try fixture.passwordMatches("cy", "pw3"))
    }

    func testAccountsCreatedSinceTheFileAreLeftAlone() throws {
        let fixture = try ImportFixture()
        try fixture.store.performAndWait([.createAccount(AccountRecord(name: "zed", passwordHash: "$x", createdAt: 1))])
        try fixture.write("ann pw1\n")
        let result = try fixture.run()
        XCTAssertEqual(result.created, 1)
        XCTAssertEqual(try fixture.store.loadSnapshot().accounts.map(\.name), ["ann", "zed"])
    }

    func testMissingFileImportsNothing() throws {
        let fixture = try ImportFixture()
        let result = try fixture.run()
        XCTAssertEqual([result.created, result.updated, result.unchanged], [0, 0, 0])
        XCTAssertEqual(try fixture.store.loadSnapshot().accounts, [])
    }

    /// The import needs nothing beyond the store protocol: an in-memory store works as SQLite does, digest and all.
    func testImportIntoAnyStore() throws {
        let store = MemoryStore()
        store.autoRun = true
        let dir = try TestDirectory()
        let path = dir.url.appendingPathComponent("credentials.txt").path
        try Data("ann pw1\nbad-line\n".utf8).write(to: URL(fileURLWithPath: path))
        let hasher = Argon2Hasher(memoryKiB: 64, iterations: 1)
        defer { hasher.shutdown() }
        let result = try CredentialsImport.run(path: path, store: store, hasher: hasher,
                                               snapshot: try store.loadSnapshot(), now: 5)
        XCTAssertEqual(result.created, 1)
        XCTAssertEqual(try store.loadSnapshot().accounts.first?.createdAt, 5)
        XCTAssertNotNil(try store.metaValue(CredentialsImport.digestKey))
        let again = try CredentialsImport.run(path: path, store: store, hasher: hasher,
                                              snapshot: try store.loadSnapshot(), now: 6)
        XCTAssertEqual([again.created, again.updated, again.unchanged], [0, 0, 1], "an unchanged file is skipped")
    }
}

// MARK: - Fixture

struct HashCounts: Equatable {
    var hashes: Int
    var verifies: Int
}

/// A real (tiny-parameter) argon2id hasher on a pool, counting what it is asked to do.
final class CountingHasher: PasswordHasher, @unchecked Sendable {
    let inner: Argon2Hasher
    private let lock = NSLock()
    private var current = HashCounts(hashes: 0, verifies: 0)

    init(pool: WorkerPool) {
        inner = Argon2Hasher(memoryKiB: 64, iterations: 1, pool: pool)
    }

    var counts: HashCounts { lock.withLock { current } }
    func reset() { lock.withLock { current = HashCounts(hashes: 0, verifies: 0) } }
    var backlog: Int { inner.backlog }

    func hash(_ password: String, done: @escaping @Sendable (String) -> Void) {
        lock.withLock { current.hashes += 1 }
        inner.hash(password, done: done)
    }

    func verify(_ password: String, encoded: String, done: @escaping @Sendable (Bool) -> Void) {
        lock.withLock { current.verifies += 1 }
        inner.verify(password, encoded: encoded, done: done)
    }
}

/// A SQLite store, a credentials file path and a counting hasher; `run()` imports with a fresh snapshot.
final class ImportFixture {
    let dir: TestDirectory
    let store: SQLiteStore
    let pool = WorkerPool(threads: 2)
    let hasher: CountingHasher
    var path: String { dir.url.appendingPathComponent("credentials.txt").path }

    init() throws {
        dir = try TestDirectory()
        store = try SQLiteStore(directory: dir.url.appendingPathComponent("data"), logger: storeTestLogger)
        hasher = CountingHasher(pool: pool)
    }

    deinit {
        store.close()
        pool.shutdown()
    }

    func write(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func run() throws -> (created: Int, updated: Int, unchanged: Int) {
        try CredentialsImport.run(path: path, store: store, hasher: hasher, snapshot: try store.loadSnapshot(), now: 42)
    }

    func hash(of user: String) throws -> String? {
        try store.loadSnapshot().accounts.first { $0.name == user }?.passwordHash
    }

    func passwordMatches(_ user: String, _ password: String) throws -> Bool {
        guard let encoded = try hash(of: user) else { return false }
        return Argon2Hasher.matches(password, encoded: encoded)
    }
}
