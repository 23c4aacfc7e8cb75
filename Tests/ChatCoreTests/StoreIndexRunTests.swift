import Foundation
import XCTest
@testable import ChatCore

/// The writer's C-API inserts: index runs that fill several many-row statements and leave a remainder, and
/// texts bound straight from their UTF-8 bytes.
final class StoreIndexRunTests: XCTestCase {
    /// 200 messages among three users (some to oneself) give each index more rows than one many-row statement
    /// takes and a remainder: the pages read from the index after a run are the pages read from the tail before
    /// it, and again after a reopen.
    func testPagesAreTheSameBeforeAndAfterAnIndexRunOfManyRows() throws {
        let dir = try TestDirectory()
        let users = ["ann", "bob", "cy"]
        let messages = (1...200).map { n in
            sampleMessage(Int64(n), users[n % 3], users[(n / 3) % 3], "m\(n)")
        }
        let before: [[StoredMessage]]
        do {
            let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 1 << 30)
            defer { store.close() }
            try store.performAndWait(users.map { .createAccount(sampleAccount($0)) })
            _ = try store.appendAll(messages)
            before = try pages(store, users)
            XCTAssertEqual(store.unindexedCount, 200)
            try store.indexNow()
            XCTAssertEqual(store.unindexedCount, 0)
            XCTAssertEqual(try pages(store, users), before, "from the index after the run")
        }
        let reopened = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { reopened.close() }
        XCTAssertEqual(reopened.unindexedCount, 0)
        XCTAssertEqual(try pages(reopened, users), before, "after a reopen")
        let inboxes = stride(from: 0, to: before.count, by: 4 + users.count).map { before[$0].count }
        XCTAssertEqual(inboxes.reduce(0, +), 200, "every message in its recipient's inbox")
    }

    /// The store's own steps (a few users each) index the same entries as one run does.
    func testAStepwiseRunIndexesEveryEntry() throws {
        let dir = try TestDirectory()
        let users = (1...9).map { "u\($0)" }
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger, indexBatch: 150, indexStepRows: 2)
        defer { store.close() }
        try store.performAndWait(users.map { .createAccount(sampleAccount($0)) })
        let messages = (1...300).map { n in sampleMessage(Int64(n), users[(n * 7) % 9], users[n % 9], "t\(n)") }
        _ = try store.appendAll(messages)
        while store.unindexedCount >= 150 {}  // each call is a turn of the writer, each turn a step
        for user in users {
            let inbox = try store.inboxAndWait(user, limit: 100)
            XCTAssertEqual(inbox.map(\.id), messages.filter { $0.to == user }.map(\.id), user)
            XCTAssertEqual(inbox.map(\.seq), Array(1...Int64(inbox.count)), user)
            let history = try store.historyAndWait(HistoryQuery(owner: user, limit: 100))
            XCTAssertEqual(history.map(\.id), messages.filter { $0.to == user || $0.from == user }.map(\.id).reversed(), user)
        }
    }

    /// A step takes whole users until their index rows reach the budget (at least one user, even one with more
    /// rows than that); every user with entries up to the run's end is in exactly one step, and a user whose
    /// entries all came after it is in none.
    func testStepsTakeWholeUsersUpToTheirRowBudget() {
        // Users 1–4 and 9; 9 talks only after the run's end (id 10).
        let tail: [(id: Int64, sender: Int64, recipient: Int64, seq: Int64)] = [
            (1, 1, 2, 1), (2, 1, 2, 2), (3, 1, 2, 3), (4, 3, 4, 1), (5, 4, 3, 1), (6, 1, 3, 2), (7, 2, 2, 4),
            (11, 9, 9, 1),
        ]
        let ledger = LogLedger(accounts: [1, 2, 3, 4, 9].map { (id: $0, name: "u\($0)") }, lasts: [:],
                               indexedUpTo: 0, tail: tail)
        var run = IndexRun(upTo: 10, ledger)
        // Entries up to id 10, sent or received alike (id 7, user 2 to themselves, is one entry).
        XCTAssertEqual(run.users, [1, 2, 3, 4])
        var steps: [[Int64]] = []
        var counts: [Int64: Int] = [:]
        var last = false
        while !last {
            let step = run.nextStep(rowBudget: 6)
            steps.append(step.users.map(\.user))
            for (user, entries) in step.users { counts[user] = entries.count }
            last = step.last
        }
        XCTAssertEqual(steps, [[1, 2], [3, 4]])
        XCTAssertEqual(counts, [1: 4, 2: 4, 3: 3, 4: 2])
        var single = IndexRun(upTo: 10, ledger)
        XCTAssertEqual(single.nextStep(rowBudget: 1).users.map(\.user), [1], "one user even over the budget")
    }

    /// Texts go in as their bytes: empty, non-ASCII, long.
    func testTextsRoundTripThroughTheBoundInsert() throws {
        let dir = try TestDirectory()
        let store = try SQLiteStore(directory: dir.url, logger: storeTestLogger)
        defer { store.close() }
        try store.performAndWait(["ann", "bob"].map { .createAccount(sampleAccount($0)) })
        let texts = ["", "ä €𝄞 😀", String(repeating: "long ", count: 2_000), "a\"'\\;--"]
        let messages = texts.enumerated().map { sampleMessage(Int64($0.offset + 1), "ann", "bob", $0.element) }
        _ = try store.appendAll(messages)
        XCTAssertEqual(try store.inboxAndWait("bob").map(\.text), texts)
        XCTAssertEqual(try store.historyAndWait(HistoryQuery(owner: "ann", limit: 10)).map(\.text), texts.reversed())
    }

    private func pages(_ store: SQLiteStore, _ users: [String]) throws -> [[StoredMessage]] {
        var pages: [[StoredMessage]] = []
        for user in users {
            pages.append(try store.inboxAndWait(user, after: 0, limit: 100))
            pages.append(try store.inboxAndWait(user, after: 30, limit: 50))
            pages.append(try store.historyAndWait(HistoryQuery(owner: user, limit: 50)))
            pages.append(try store.historyAndWait(HistoryQuery(owner: user, before: 120, limit: 50)))
            for partner in users {
                pages.append(try store.historyAndWait(HistoryQuery(owner: user, with: partner, limit: 50)))
            }
        }
        return pages
    }
}
