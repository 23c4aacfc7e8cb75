import ChatCore
import Foundation

/// The `ChatStore` contract (StoreTypes.swift) as scenarios any durable store must pass: every write read back,
/// a snapshot after reopening, group commit with per-call all-or-nothing, gap-free seqs, inbox and history
/// pages, cursors, token expiry, bookkeeping. The SQLite and PostgreSQL test classes run the same scenarios.
///
/// A scenario throws `ContractFailure` at the first difference (this target is linked into a fuzzer too, so it
/// cannot use XCTest); the calling test fails with that error.
public enum StoreContract {
    /// Opens the store under test: a fresh, empty one at the first call, the same storage again at the next.
    public typealias Opener = () throws -> any ChatStore

    /// Every write, then what the store says afterwards.
    public static func everyWrite(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob"))])
        try store.write([.setPasswordHash(user: "ann", hash: "$new")])
        try expect(try store.loadSnapshot().accounts, [AccountRecord(name: "ann", passwordHash: "$new", createdAt: 1),
                                                       AccountRecord(name: "bob", passwordHash: "$bob", createdAt: 1)], "accounts")
        try expectFailure("password of an unknown account") { try store.write([.setPasswordHash(user: "nobody", hash: "x")]) }
        try expectConstraint("duplicate name") { try store.write([.createAccount(account("ann"))]) }

        let first = message(1, "ann", "bob", "one"), second = message(2, "ann", "bob", "two")
        let back = message(3, "bob", "ann", "back")
        try expect(try store.appendEach([first, second, back]).map(\.seq), [1, 2, 1], "seq per recipient")
        try expect(try store.inboxPage("bob"), [first.placed(seq: 1), second.placed(seq: 2)], "bob's inbox")
        try expect(try store.inboxPage("ann"), [back.placed(seq: 1)], "ann's inbox")
        try expectConstraint("duplicate id") { _ = try store.appendEach([first]) }
        try expectConstraint("unknown recipient") { _ = try store.appendEach([message(9, "ann", "ghost", "x")]) }
        try expectConstraint("unknown sender") { _ = try store.appendEach([message(9, "ghost", "ann", "x")]) }

        try store.write([.advanceCursor(user: "bob", to: 2)])
        try expect(try store.inboxPage("bob", after: 2), [], "nothing after the cursor")
        try expect(try store.head("bob"), InboxHead(last: 2, acked: 2), "bob's head")
        try expect(try store.head("nobody"), InboxHead(last: 0, acked: 0), "an unknown user's head")
        try expect(try store.historyPage(HistoryQuery(owner: "bob", limit: 10)).map(\.id), [3, 2, 1], "acknowledged stay in history")
        try expect(try store.loadSnapshot().inboxes, ["bob": InboxHead(last: 2, acked: 2), "ann": InboxHead(last: 1, acked: 0)], "heads")
        try expectFailure("cursor of an unknown user") { try store.write([.advanceCursor(user: "ghost", to: 0)]) }
        try store.write([.recordSeen(user: "ann", at: 50), .recordSeen(user: "ann", at: 70)])
        try store.write([.recordSeen(user: "bob", at: 90), .recordSeen(user: "bob", at: 80)])
        try expect(try store.loadSnapshot().lastSeen, ["ann": 70, "bob": 80], "only the latest recorded")
        try expectFailure("seen of an unknown user") { try store.write([.recordSeen(user: "ghost", at: 1)]) }

        try store.write([.setBlock(blocker: "ann", blocked: "bob", isBlocked: true),
                         .setBlock(blocker: "ann", blocked: "bob", isBlocked: true)])
        try expect(try store.loadSnapshot().blocks, ["ann": ["bob"]], "blocked once")
        try expectFailure("block of an unknown account") { try store.write([.setBlock(blocker: "ann", blocked: "ghost", isBlocked: true)]) }
        try store.write([.setBlock(blocker: "ann", blocked: "bob", isBlocked: false),
                         .setBlock(blocker: "bob", blocked: "ann", isBlocked: false)])
        try expect(try store.loadSnapshot().blocks, [:], "unblocked")

        let early = TokenRecord(digest: "aa", user: "ann", expiresAt: 100)
        let late = TokenRecord(digest: "bb", user: "bob", expiresAt: 200)
        let other = TokenRecord(digest: "cc", user: "bob", expiresAt: 300)
        try store.write([.insertToken(early), .insertToken(late), .insertToken(other)])
        try expectConstraint("duplicate digest") { try store.write([.insertToken(early)]) }
        try expectFailure("token of an unknown account") { try store.write([.insertToken(TokenRecord(digest: "x", user: "ghost", expiresAt: 1))]) }
        try store.write([.deleteToken(digest: "cc"), .deleteToken(digest: "zz")])
        try expect(try store.loadSnapshot().tokens, [early, late], "tokens after a delete")
        try store.write([.deleteExpiredTokens(now: 100)])
        try expect(try store.loadSnapshot().tokens, [late], "expiresAt <= now is expired")
        try expect(try store.loadSnapshot().lastMessageID, 3, "last message id")

        try expect(try store.metaValue("credentials.digest"), nil, "meta never set")
        try store.write([.createAccount(account("cy"))], meta: ["credentials.digest": "abc"])
        try store.write([], meta: ["credentials.digest": "def"])
        try expect(try store.metaValue("credentials.digest"), "def", "meta overwritten")
        try expectConstraint("meta rolls back with its call") {
            try store.write([.createAccount(account("cy"))], meta: ["credentials.digest": "ghi"])
        }
        try expect(try store.metaValue("credentials.digest"), "def", "meta of a failed call")
    }

    /// Everything written is there after closing and opening again; seqs go on from the stored heads.
    public static func survivesReopen(_ open: Opener) throws {
        do {
            let store = try open()
            try store.write([.createAccount(account("ann")), .createAccount(account("bob")), .createAccount(account("cy")),
                             .setBlock(blocker: "bob", blocked: "cy", isBlocked: true),
                             .insertToken(TokenRecord(digest: "d1", user: "ann", expiresAt: 5_000))], meta: ["k": "v"])
            _ = try store.appendEach([message(7, "ann", "bob", "while you were out"), message(8, "cy", "ann", "seen"),
                                     message(9, "cy", "bob", "later")])
            try store.write([.advanceCursor(user: "ann", to: 1), .recordSeen(user: "cy", at: 4_000)])
            store.close()
        }
        let store = try open()
        defer { store.close() }
        let snapshot = try store.loadSnapshot()
        try expect(snapshot.accounts.map(\.name), ["ann", "bob", "cy"], "accounts")
        try expect(snapshot.blocks, ["bob": ["cy"]], "blocks")
        try expect(snapshot.tokens, [TokenRecord(digest: "d1", user: "ann", expiresAt: 5_000)], "tokens")
        try expect(snapshot.lastMessageID, 9, "last id")
        try expect(snapshot.inboxes, ["bob": InboxHead(last: 2, acked: 0), "ann": InboxHead(last: 1, acked: 1)], "heads")
        try expect(snapshot.lastSeen, ["cy": 4_000], "login history")
        try expect(try store.metaValue("k"), "v", "meta")
        try expect(try store.inboxPage("bob").map(\.text), ["while you were out", "later"], "bob's inbox")
        try expect(try store.historyPage(HistoryQuery(owner: "ann", limit: 10)).map(\.id), [8, 7], "ann's history")
        try expect(try store.appendEach([message(10, "ann", "bob", "more")]).map(\.seq), [3], "seqs go on")
        try expect(try store.head("bob"), InboxHead(last: 3, acked: 0), "head after reopen")
    }

    /// In one batch (the writer held by a completion until all are queued): good, a duplicate id, a call whose
    /// last write breaks a rule (its account and cursor must roll back too), good, good. Only the bad ones fail,
    /// in submission order, and the failed append took no seq.
    public static func badCallFailsAlone(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob"))])
        let order = OrderLog()
        let release = try holdWriter(store)
        let appends = (0..<4).map { _ in Outcome<StoredMessage>() }
        let bad = Outcome<Void>()
        store.append(message(1, "ann", "bob", "good 1")) { order.add(1); appends[0].set($0) }
        store.append(message(1, "ann", "bob", "same id")) { order.add(2); appends[1].set($0) }
        store.perform([.createAccount(account("cy")), .advanceCursor(user: "bob", to: 1), .createAccount(account("ann"))]) {
            order.add(3); bad.set($0)
        }
        store.append(message(3, "bob", "ann", "good 2")) { order.add(4); appends[2].set($0) }
        store.append(message(4, "ann", "bob", "good 3")) { order.add(5); appends[3].set($0) }
        release()
        try expect(try appends.map { (try $0.wait()).isSuccess } + [(try bad.wait()).isSuccess],
                   [true, false, true, true, false], "outcomes")
        try expect(order.values, [1, 2, 3, 4, 5], "completions in submission order")
        try expect(try store.inboxPage("bob").map(\.id), [1, 4], "bob's inbox")
        try expect(try store.inboxPage("bob").map(\.seq), [1, 2], "the failed append took no seq")
        let snapshot = try store.loadSnapshot()
        try expect(snapshot.accounts.map(\.name), ["ann", "bob"], "cy rolled back with its call")
        try expect(snapshot.inboxes["bob"], InboxHead(last: 2, acked: 0), "the cursor rolled back too")
        try store.write([.createAccount(account("cy"))])
        try expect(try store.appendEach([message(2, "ann", "cy", "retry"), message(5, "cy", "bob", "hi")]).map(\.seq), [1, 3],
                   "the store goes on")
    }

    /// Many calls from several threads: all complete; per recipient the seqs are 1…n with no gap or repeat.
    public static func concurrentAppendsAreGapFree(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write(["ann", "bob", "cy"].map { .createAccount(account($0)) })
        let outcomes = (0..<600).map { _ in Outcome<StoredMessage>() }
        DispatchQueue.concurrentPerform(iterations: 6) { thread in
            for i in 0..<100 {
                let n = thread * 100 + i
                let to = ["bob", "cy"][n % 2]
                store.append(message(Int64(n + 1), "ann", to, "t\(thread)")) { outcomes[n].set($0) }
            }
        }
        let stored = try outcomes.map { try $0.wait().get() }
        for user in ["bob", "cy"] {
            try expect(stored.filter { $0.to == user }.map(\.seq).sorted(), Array(1...300), "\(user)'s seqs")
            let inbox = try store.inboxPage(user, limit: 1_000)
            try expect(inbox.map(\.seq), Array(1...300), "\(user)'s inbox in seq order")
        }
    }

    /// Inbox pages after a cursor, and the reads' edges.
    public static func inboxPages(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob"))])
        // Odd ids to bob, even ids to ann: bob's seq n is id 2n − 1.
        _ = try store.appendEach((Int64(1)...30).map { id in
            id % 2 == 1 ? message(id, "ann", "bob", "m\(id)") : message(id, "bob", "ann", "m\(id)")
        })
        try expect(try store.inboxPage("bob", after: 0, limit: 3).map(\.id), [1, 3, 5], "first page")
        try expect(try store.inboxPage("bob", after: 3, limit: 3).map(\.seq), [4, 5, 6], "after a cursor")
        try expect(try store.inboxPage("bob", after: 13, limit: 50).map(\.id), [27, 29], "the end")
        try expect(try store.inboxPage("bob", after: 15, limit: 50), [], "past the end")
        try expect(try store.inboxPage("bob", after: 0, limit: 0), [], "limit 0")
        try expect(try store.inboxPage("bob", after: 0, limit: -1), [], "negative limit")
        try expect(try store.inboxPage("bob", after: -5, limit: 2).map(\.seq), [1, 2], "negative cursor")
        try expect(try store.inboxPage("nobody"), [], "unknown user")
        try expect(try store.inboxPage("ann", after: 14, limit: 10), [message(30, "bob", "ann", "m30").placed(seq: 15)], "ann's last")
    }

    /// History pages both directions, with a partner and with anyone, paging by id.
    public static func historyPages(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write(["ann", "bob", "cy"].map { .createAccount(account($0)) })
        // ids 1…30: ann↔bob alternate; every third is between bob and cy instead; 31 is cy to themselves.
        _ = try store.appendEach((Int64(1)...30).map { id in
            let (from, to) = id % 3 == 0 ? ("bob", "cy") : (id % 2 == 0 ? ("ann", "bob") : ("bob", "ann"))
            return message(id, from, to, "m\(id)")
        } + [message(31, "cy", "cy", "note")])
        let annAndBob = (1...30).filter { $0 % 3 != 0 }.reversed().map(Int64.init)
        let first = try store.historyPage(HistoryQuery(owner: "ann", with: "bob", limit: 5))
        try expect(first.map(\.id), Array(annAndBob.prefix(5)), "newest first")
        let second = try store.historyPage(HistoryQuery(owner: "bob", with: "ann", before: first.last?.id, limit: 5))
        try expect(second.map(\.id), Array(annAndBob.dropFirst(5).prefix(5)), "next page, seen from the other side")
        try expect(try store.historyPage(HistoryQuery(owner: "ann", with: "bob", before: second.last?.id, limit: 100)).map(\.id),
                   Array(annAndBob.dropFirst(10)), "the rest")
        try expect(try store.historyPage(HistoryQuery(owner: "ann", with: "bob", before: 1, limit: 5)), [], "before the first")
        try expect(try store.historyPage(HistoryQuery(owner: "ann", limit: 100)).map(\.id), annAndBob, "ann with anyone")
        try expect(try store.historyPage(HistoryQuery(owner: "cy", with: "ann", limit: 100)), [], "never spoke")
        try expect(try store.historyPage(HistoryQuery(owner: "bob", limit: 4)).map(\.id), [30, 29, 28, 27], "both directions")
        try expect(try store.historyPage(HistoryQuery(owner: "cy", limit: 3)).map(\.id), [31, 30, 27], "a note to oneself once")
        try expect(try store.historyPage(HistoryQuery(owner: "cy", with: "cy", limit: 3)).map(\.id), [31], "with oneself")
        try expect(try store.historyPage(HistoryQuery(owner: "bob", limit: 0)), [], "limit 0")
        try expect(try store.historyPage(HistoryQuery(owner: "nobody", limit: 10)), [], "unknown owner")
        try expect(first.first, StoredMessage(id: 29, seq: 10, from: "bob", to: "ann", text: "m29", at: 1_029), "a whole message")
    }

    /// Cursors only move forward, never past the inbox; an ack may ride in the batch of its append.
    public static func cursors(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob"))])
        _ = try store.appendEach((1...5).map { message(Int64($0), "ann", "bob", "m\($0)") })
        try store.write([.advanceCursor(user: "bob", to: 3)])
        try expect(try store.head("bob"), InboxHead(last: 5, acked: 3), "moved")
        try store.write([.advanceCursor(user: "bob", to: 1), .advanceCursor(user: "bob", to: 0)])
        try expect(try store.head("bob"), InboxHead(last: 5, acked: 3), "never backwards")
        try expectConstraint("beyond the inbox") { try store.write([.advanceCursor(user: "bob", to: 6)]) }
        try store.write([.advanceCursor(user: "ann", to: 0)])
        try expect(try store.loadSnapshot().inboxes["ann"], InboxHead(last: 0, acked: 0), "a cursor without messages")
        let acked = Outcome<Void>()
        store.append(message(6, "ann", "bob", "m6")) { _ in }
        store.perform([.advanceCursor(user: "bob", to: 6)]) { acked.set($0) }
        (store as? MemoryStore)?.runPending()
        try acked.wait().get()
        try expect(try store.head("bob"), InboxHead(last: 6, acked: 6), "acked in the append's batch")
    }

    /// Reads see the writes queued before them and complete after them, in submission order.
    public static func readsFollowWrites(_ open: Opener) throws {
        let store = try open()
        defer { store.close() }
        try store.write([.createAccount(account("ann")), .createAccount(account("bob"))])
        let order = OrderLog()
        let release = try holdWriter(store)
        let inbox = Outcome<[StoredMessage]>(), head = Outcome<InboxHead>(), history = Outcome<[StoredMessage]>()
        store.append(message(1, "ann", "bob", "a")) { _ in order.add(1) }
        store.inbox(InboxQuery(user: "bob", after: 0, limit: 10)) { order.add(2); inbox.set($0) }
        store.append(message(2, "bob", "ann", "b")) { _ in order.add(3) }
        store.perform([.advanceCursor(user: "bob", to: 1)]) { _ in order.add(4) }
        store.inboxHead(of: "bob") { order.add(5); head.set($0) }
        store.history(HistoryQuery(owner: "ann", with: "bob", limit: 10)) { order.add(6); history.set($0) }
        release()
        try expect(try inbox.wait().get().map(\.id), [1], "inbox sees the append before it")
        try expect(try head.wait().get(), InboxHead(last: 1, acked: 1), "head sees the cursor before it")
        try expect(try history.wait().get().map(\.id), [2, 1], "history sees both")
        try expect(order.values, [1, 2, 3, 4, 5, 6], "completions in submission order")
    }

    // MARK: - Helpers

    /// Holds the writer with a completion that waits; returns the release. A `MemoryStore` is run by the release.
    public static func holdWriter(_ store: any ChatStore) throws -> () -> Void {
        if let memory = store as? MemoryStore { return { memory.runPending() } }
        let gate = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        store.perform([]) { _ in held.signal(); gate.wait() }
        guard held.wait(timeout: .now() + 20) == .success else { throw ContractFailure("the writer never ran") }
        return { gate.signal() }
    }

    public static func account(_ name: String) -> AccountRecord { AccountRecord(name: name, passwordHash: "$" + name, createdAt: 1) }

    public static func message(_ id: Int64, _ from: String, _ to: String, _ text: String) -> StoredMessage {
        StoredMessage(id: id, from: from, to: to, text: text, at: 1_000 + id)
    }

    public static func expect<T: Equatable>(_ actual: T, _ expected: T, _ what: String,
                                            file: StaticString = #filePath, line: UInt = #line) throws {
        guard actual == expected else { throw ContractFailure("\(what): got \(actual), expected \(expected) (\(file):\(line))") }
    }

    static func expectFailure(_ what: String, _ body: () throws -> Void) throws {
        do { try body() } catch { return }
        throw ContractFailure("\(what): succeeded, expected a failure")
    }

    static func expectConstraint(_ what: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as StoreError {
            if case .constraint = error { return }
            throw ContractFailure("\(what): failed with \(error), expected a constraint failure")
        } catch {
            // SQLite reports its own constraint errors as they come; the other stores use StoreError.constraint.
            if String(describing: error).localizedCaseInsensitiveContains("constraint") { return }
            throw ContractFailure("\(what): failed with \(error), expected a constraint failure")
        }
        throw ContractFailure("\(what): succeeded, expected a constraint failure")
    }
}

/// A scenario found the store breaking the contract.
public struct ContractFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One asynchronous result, waited for with a deadline (never a sleep).
public final class Outcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private let ready = DispatchSemaphore(value: 0)
    private var value: Result<T, any Error>?

    public init() {}

    public func set(_ value: Result<T, any Error>) {
        lock.withLock { self.value = value }
        ready.signal()
    }

    public func wait(seconds: Double = 30) throws -> Result<T, any Error> {
        guard ready.wait(timeout: .now() + seconds) == .success else { throw ContractFailure("no completion within \(seconds) s") }
        ready.signal()  // a second wait returns the same value
        return lock.withLock { value! }
    }
}

/// Integers appended by completions on other threads, in the order they ran.
public final class OrderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int] = []
    public init() {}
    public func add(_ value: Int) { lock.withLock { items.append(value) } }
    public var values: [Int] { lock.withLock { items } }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

extension StoredMessage {
    func placed(seq: Int64) -> StoredMessage {
        var copy = self
        copy.seq = seq
        return copy
    }
}

extension ChatStore {
    /// `perform`, waited for; runs a `MemoryStore`'s queue when it does not run by itself.
    public func write(_ writes: [StoreWrite], meta: [String: String] = [:]) throws {
        let outcome = Outcome<Void>()
        perform(writes, meta: meta) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        try outcome.wait().get()
    }

    /// One `append` per message, submitted back to back, waited for; throws the first failure.
    public func appendEach(_ messages: [StoredMessage]) throws -> [StoredMessage] {
        let outcomes = messages.map { _ in Outcome<StoredMessage>() }
        for (message, outcome) in zip(messages, outcomes) { append(message) { outcome.set($0) } }
        (self as? MemoryStore)?.runPending()
        return try outcomes.map { try $0.wait().get() }
    }

    public func inboxPage(_ user: String, after: Int64 = 0, limit: Int = 1_000) throws -> [StoredMessage] {
        let outcome = Outcome<[StoredMessage]>()
        inbox(InboxQuery(user: user, after: after, limit: limit)) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }

    public func historyPage(_ query: HistoryQuery) throws -> [StoredMessage] {
        let outcome = Outcome<[StoredMessage]>()
        history(query) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }

    public func head(_ user: String) throws -> InboxHead {
        let outcome = Outcome<InboxHead>()
        inboxHead(of: user) { outcome.set($0) }
        (self as? MemoryStore)?.runPending()
        return try outcome.wait().get()
    }
}
