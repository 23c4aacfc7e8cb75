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

    /// Appends, a cursor flush and a read queued together: the appends still go as batches (one transaction
    /// per run of appends, not one statement each), everything completes in submission order, and the read
    /// sees what was queued before it.
    func testAppendsMixedWithOtherCallsStayBatched() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        try store.write(["ann", "bob"].map { .createAccount(StoreContract.account($0)) })
        let release = try StoreContract.holdWriter(store)
        let commitsBefore = store.commitCount
        let order = OrderLog()
        let appended = (0..<600).map { _ in Outcome<StoredMessage>() }
        let flushed = Outcome<Void>(), read = Outcome<[StoredMessage]>()
        for n in 0..<300 {
            store.append(StoreContract.message(Int64(n + 1), "ann", "bob", "m\(n)")) { order.add(n); appended[n].set($0) }
        }
        store.perform([.advanceCursor(user: "bob", to: 100)]) { order.add(1_000); flushed.set($0) }
        store.inbox(InboxQuery(user: "bob", after: 250, limit: 100)) { order.add(1_001); read.set($0) }
        for n in 300..<600 {
            store.append(StoreContract.message(Int64(n + 1), "ann", "bob", "m\(n)")) { order.add(n); appended[n].set($0) }
        }
        release()
        XCTAssertEqual(try appended.map { try $0.wait().get().seq }, Array(1...600))
        try flushed.wait().get()
        XCTAssertEqual(try read.wait().get().map(\.seq), Array(251...300), "the read sees the appends before it")
        XCTAssertEqual(order.values, Array(0..<300) + [1_000, 1_001] + Array(300..<600))
        // Three transactions: the first 300 appends, the flush with the read, the last 300 (the held call is
        // a read). One transaction would mean every append went the slow way with the flush.
        XCTAssertEqual(store.commitCount - commitsBefore, 3)
        XCTAssertEqual(try store.head("bob"), InboxHead(last: 600, acked: 100))
    }

    /// A cursor flush for many users is one statement: cursors move forward only; one move beyond an inbox
    /// or for an unknown user refuses the whole flush, and nothing of it moves.
    func testACursorFlushForManyUsers() throws {
        let database = try PostgresTestDatabase()
        let store = try database.open()
        defer { store.close() }
        let users = (0..<50).map { "u\($0)" }
        try store.write((users + ["ann"]).map { .createAccount(StoreContract.account($0)) })
        _ = try store.appendEach(users.enumerated().flatMap { index, user in
            (0..<5).map { StoreContract.message(Int64(index * 5 + $0 + 1), "ann", user, "hi") }
        })
        try store.write(users.map { .advanceCursor(user: $0, to: 3) })
        try store.write(users.map { .advanceCursor(user: $0, to: 2) } + [.advanceCursor(user: "ann", to: 0)])
        for user in users { XCTAssertEqual(try store.head(user), InboxHead(last: 5, acked: 3), user) }
        XCTAssertEqual(try store.loadSnapshot().inboxes["ann"], InboxHead(last: 0, acked: 0), "an empty head, as one move")

        for refused in [[StoreWrite.advanceCursor(user: "u7", to: 6)], [.advanceCursor(user: "nobody", to: 1)]] {
            XCTAssertThrowsError(try store.write(users.map { .advanceCursor(user: $0, to: 4) } + refused)) { error in
                guard case StoreError.constraint = error else { return XCTFail("\(error)") }
            }
            XCTAssertEqual(try store.head("u0"), InboxHead(last: 5, acked: 3), "nothing of a refused flush moved")
        }
        try store.write(users.map { .advanceCursor(user: $0, to: 5) })
        XCTAssertEqual(try store.head("u49"), InboxHead(last: 5, acked: 5))
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
