import XCTest
import ChatCore
import ChatCoreTestSupport
@testable import PostgresStore

/// The hot path: every append queued while the writer was busy goes to PostgreSQL as one statement per
/// `PostgresAppendBatch.maxMessages` messages (PostgresAppendBatch explains the statement).
final class PostgresAppendBatchTests: XCTestCase {
    /// Texts that an array literal must carry through unchanged.
    private static let awkwardTexts = ["plain", "", "quote \" inside", "back\\slash", "comma, {braces}", "NULL",
                                       "new\nline\ttab", "é ü 中文 🎉", " leading and trailing ", "\"", "\\"]

    /// More messages than two statements hold, to three recipients, with ids from the sequence, awkward texts
    /// and two that name no account: one commit; the good ones stored in submission order (ids rising, each
    /// recipient's seqs 1…n without a gap), texts intact; the two bad ones refused alone, naming the account.
    func testOneBatchAcrossStatements() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob", "cy"].map { .createAccount(StoreContract.account($0)) })
        let count = PostgresAppendBatch.maxMessages * 2 + 100
        let recipients = ["bob", "cy", "ann"]
        var sent: [StoredMessage] = []
        for n in 0..<count {
            let text = Self.awkwardTexts[n % Self.awkwardTexts.count] + " #\(n)"
            switch n {
            case 300: sent.append(StoredMessage(id: 0, from: "ann", to: "nobody", text: text, at: 1))
            case 700: sent.append(StoredMessage(id: 0, from: "ghost", to: "bob", text: text, at: 1))
            default: sent.append(StoredMessage(id: 0, from: "ann", to: recipients[n % 3], text: text, at: Int64(n)))
            }
        }
        let release = try StoreContract.holdWriter(store)
        let commitsBefore = store.commitCount
        let outcomes = sent.map { _ in Outcome<StoredMessage>() }
        for (message, outcome) in zip(sent, outcomes) { store.append(message) { outcome.set($0) } }
        release()
        let results = try outcomes.map { try $0.wait() }
        XCTAssertLessThanOrEqual(store.commitCount - commitsBefore, 2, "the held call's batch, then all in one")

        for (index, name) in [(300, "nobody"), (700, "ghost")] {
            guard case .failure(StoreError.constraint(let reason)) = results[index] else {
                return XCTFail("message \(index): \(results[index]), expected a constraint refusal")
            }
            XCTAssertTrue(reason.contains(name), reason)
        }
        var stored: [StoredMessage] = []
        for (index, result) in results.enumerated() where index != 300 && index != 700 {
            let message = try result.get()
            XCTAssertEqual(message.text, sent[index].text)
            stored.append(message)
        }
        XCTAssertEqual(stored.map(\.id), stored.map(\.id).sorted(), "ids rise in submission order")
        XCTAssertEqual(Set(stored.map(\.id)).count, stored.count)
        for name in recipients {
            let theirs = stored.filter { $0.to == name }
            XCTAssertEqual(theirs.map(\.seq), Array(1...Int64(theirs.count)), "\(name)'s seqs")
            let inbox = try store.inboxPage(name, after: 0, limit: count)
            XCTAssertEqual(inbox.map(\.text), theirs.map(\.text), "\(name)'s inbox as sent")
            XCTAssertEqual(inbox.map(\.id), theirs.map(\.id))
        }
        let snapshot = try store.loadSnapshot()
        XCTAssertEqual(snapshot.inboxes["bob"]?.last, Int64(stored.filter { $0.to == "bob" }.count))
        XCTAssertEqual(snapshot.lastMessageID, stored.last?.id)
    }

    /// A duplicate hub-chosen id fails the statement; the batch runs again the slow way and only that append
    /// is refused, the others stored once each with seqs that skip nothing.
    func testADuplicateIdIsRefusedAloneInABatch() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) })
        let release = try StoreContract.holdWriter(store)
        let sent = [StoreContract.message(10, "ann", "bob", "first"), StoreContract.message(11, "bob", "ann", "second"),
                    StoreContract.message(10, "ann", "bob", "same id"), StoreContract.message(12, "ann", "bob", "third")]
        let outcomes = sent.map { _ in Outcome<StoredMessage>() }
        for (message, outcome) in zip(sent, outcomes) { store.append(message) { outcome.set($0) } }
        release()
        let results = try outcomes.map { try $0.wait() }
        XCTAssertEqual(results.map { (try? $0.get()) != nil }, [true, true, false, true])
        XCTAssertEqual(try store.inboxPage("bob", after: 0, limit: 10).map(\.text), ["first", "third"])
        XCTAssertEqual(try store.inboxPage("bob", after: 0, limit: 10).map(\.seq), [1, 2])
    }

    func testArrayLiterals() {
        XCTAssertEqual(PostgresAppendBatch.integerArray([1, 0, -3]), "{1,0,-3}")
        XCTAssertEqual(PostgresAppendBatch.integerArray([]), "{}")
        XCTAssertEqual(PostgresAppendBatch.textArray(["a", "", "b\"c", "d\\e", "f,g"]), #"{"a","","b\"c","d\\e","f,g"}"#)
        XCTAssertEqual(PostgresAppendBatch.textArray([]), "{}")
    }

    /// What the statement receives for awkward texts is what PostgreSQL reads back out of the literal.
    func testTextArraysRoundTripThroughPostgreSQL() throws {
        let database = try PostgresTestDatabase()
        let connection = try database.connect()
        let result = try connection.execute("SELECT unnest($1::text[])",
                                            [.string(PostgresAppendBatch.textArray(Self.awkwardTexts))])
        XCTAssertEqual((0..<result.rowCount).map { result.string($0, 0) }, Self.awkwardTexts)
    }
}
