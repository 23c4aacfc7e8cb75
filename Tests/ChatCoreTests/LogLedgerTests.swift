import XCTest
@testable import ChatCore

/// The writer's ledger against a plain model of it (a list of entries per user, in append order): random
/// appends (messages to oneself and ids out of order among them), batches that commit or roll back, and
/// indexing runs, with every read compared after each step.
final class LogLedgerTests: XCTestCase {
    /// What the ledger must answer, kept the simplest way.
    private struct Model {
        var entries: [Int64: [LogLedger.Entry]] = [:]
        var lasts: [Int64: Int64] = [:]
        var count = 0

        mutating func append(id: Int64, sender: Int64, recipient: Int64) -> Int64 {
            let seq = (lasts[recipient] ?? 0) + 1
            lasts[recipient] = seq
            entries[recipient, default: []].append(.init(id: id, seq: seq, partner: sender))
            if sender != recipient { entries[sender, default: []].append(.init(id: id, seq: 0, partner: recipient)) }
            count += 1
            return seq
        }

        mutating func indexed(upTo: Int64) {
            for (user, list) in entries {
                count -= list.filter { $0.id <= upTo && $0.seq > 0 }.count
                entries[user] = list.filter { $0.id > upTo }
            }
        }
    }

    func testReadsMatchAModelThroughAppendsRollbacksAndIndexing() throws {
        var random = SystemRandomNumberGenerator()
        for round in 0..<20 {
            // Each user's inbox read page by page as a replay does, one page per step whatever happens between.
            var replays: [Int64: (after: Int64, limit: Int)] = [:]
            let userIDs: [Int64] = Array(1...6)
            let ledger = LogLedger(accounts: userIDs.map { (id: $0, name: "u\($0)") }, lasts: [3: 7], indexedUpTo: 0, tail: [])
            var model = Model()
            model.lasts[3] = 7
            var lastID: Int64 = 0
            var used = Set<Int64>()
            var run: Int64?
            for _ in 0..<40 {
                // A batch of appends; every fourth one rolls back.
                let mark = ledger.mark
                let saved = (model, lastID, used)
                for _ in 0..<Int.random(in: 1...12, using: &random) {
                    let sender = userIDs.randomElement(using: &random)!
                    let recipient = Int.random(in: 0..<5, using: &random) == 0 ? sender : userIDs.randomElement(using: &random)!
                    // Ids go up in steps of two; now and then one comes below the last (a caller may append out
                    // of id order), never at or below what an indexing run covers.
                    var id = lastID + 2
                    if Int.random(in: 0..<8, using: &random) == 0, lastID - 1 > ledger.sealedUpTo, !used.contains(lastID - 1) {
                        id = lastID - 1
                    }
                    used.insert(id)
                    lastID = max(lastID, id)
                    let from = try ledger.requireSlot(of: "u\(sender)"), to = try ledger.requireSlot(of: "u\(recipient)")
                    XCTAssertEqual(ledger.id(of: from), sender)
                    let seq = ledger.last(of: to) + 1
                    XCTAssertEqual(seq, model.append(id: id, sender: sender, recipient: recipient))
                    ledger.appended(id: id, sender: from, recipient: to, seq: seq)
                }
                if Int.random(in: 0..<4, using: &random) == 0 {
                    ledger.rollBack(to: mark)
                    (model, lastID, used) = saved
                } else {
                    ledger.commit()
                }
                // An indexing run seals what is there, and finishes a few batches later (rows appended
                // meanwhile stay in the tail, which is rebuilt around them).
                if let upTo = run, Int.random(in: 0..<3, using: &random) == 0 {
                    try compareRun(ledger.gather(upTo: upTo), model, upTo: upTo, "round \(round)")
                    ledger.indexed(upTo: upTo)
                    model.indexed(upTo: upTo)
                    run = nil
                } else if run == nil, Int.random(in: 0..<5, using: &random) == 0 {
                    ledger.seal(upTo: ledger.lastID)
                    run = ledger.lastID
                }
                try compare(ledger, model, userIDs, "round \(round)")
                for user in userIDs {
                    var replay = replays[user] ?? (0, [1, 2, 3][Int(user) % 3])
                    let expected = (model.entries[user] ?? []).filter { $0.seq > replay.after }.prefix(replay.limit)
                    let page = ledger.tailInbox(of: user, after: replay.after, limit: replay.limit)
                    XCTAssertEqual(page, expected.map(\.id), "round \(round) replay of u\(user) after \(replay.after)")
                    // Read on from the page's last seq, or start over once it comes back empty.
                    replay.after = expected.last?.seq ?? 0
                    replays[user] = replay
                }
            }
        }
    }

    private func compare(_ ledger: LogLedger, _ model: Model, _ users: [Int64], _ context: String) throws {
        XCTAssertEqual(ledger.tailCount, model.count, context)
        try compareRun(ledger.gather(upTo: .max), model, upTo: .max, context)
        for user in users {
            let list = model.entries[user] ?? []
            XCTAssertEqual(ledger.last(of: user), model.lasts[user] ?? 0, context)
            for after in [-1, 0, 3, 8, 20] as [Int64] {
                for limit in [1, 3, 100] {
                    let expected = list.filter { $0.seq > max(after, 0) }.prefix(limit).map(\.id)
                    XCTAssertEqual(ledger.tailInbox(of: user, after: after, limit: limit), expected, "\(context) inbox u\(user) after \(after)")
                }
            }
            for partner in [nil] + users.map(Optional.some) {
                for before in [Int64.max, ledger.lastID / 2, ledger.lastID - 3] {
                    for limit in [1, 4, 100] {
                        let expected = list.filter { $0.id < before && (partner == nil || $0.partner == partner) }
                            .map(\.id).sorted(by: >).prefix(limit)
                        XCTAssertEqual(ledger.tailHistory(of: user, with: partner, before: before, limit: limit), Array(expected),
                                       "\(context) history u\(user) with \(partner.map(String.init) ?? "anyone") before \(before)")
                    }
                }
            }
        }
    }

    /// What an indexing run up to `upTo` gathers: every user with entries up to there, ascending, with exactly
    /// those entries in append order.
    private func compareRun(_ gathered: RunEntries, _ model: Model, upTo: Int64, _ context: String) throws {
        let expected = model.entries.mapValues { $0.filter { $0.id <= upTo } }.filter { !$0.value.isEmpty }
        XCTAssertEqual(gathered.users, expected.keys.sorted(), context)
        for (index, user) in gathered.users.enumerated() {
            XCTAssertEqual(Array(gathered.entries(at: index)), expected[user], "\(context), run of u\(user)")
        }
        XCTAssertEqual(gathered.starts.last, expected.values.map(\.count).reduce(0, +), context)
    }

    /// A replay of a long tail, page by page: every page is right, and after the first (which walks the whole
    /// tail above the cursor) each walks about a page of rows, whatever arrives meanwhile.
    func testAReplayPagesThroughTheTailWithoutWalkingItAgainEachPage() throws {
        let ledger = LogLedger(accounts: [(id: 1, name: "ann"), (id: 2, name: "bob"), (id: 3, name: "cat")],
                               lasts: [:], indexedUpTo: 0, tail: [])
        let ann = try ledger.requireSlot(of: "ann"), bob = try ledger.requireSlot(of: "bob")
        let cat = try ledger.requireSlot(of: "cat")
        var id: Int64 = 0
        var toBob: [Int64] = []
        func send(_ from: LogLedger.Slot, _ to: LogLedger.Slot) {
            id += 1
            ledger.appended(id: id, sender: from, recipient: to, seq: ledger.last(of: to) + 1)
            if to == bob { toBob.append(id) }
        }
        for n in 0..<10_000 {
            send(ann, bob)
            if n % 4 == 0 { send(bob, cat) }  // bob's sent entries lie between his received ones: 2,500 of them
        }
        ledger.commit()
        var after = 0
        for page in 0..<10 {
            let walkedBefore = ledger.tailRowsWalked
            XCTAssertEqual(ledger.tailInbox(of: 2, after: Int64(after), limit: 1000), Array(toBob[after..<after + 1000]))
            let walked = ledger.tailRowsWalked - walkedBefore
            if page == 0 {
                XCTAssertEqual(walked, 12_500, "the first page walks everything above the cursor")
            } else {
                XCTAssertLessThanOrEqual(walked, 1_251, "page \(page) walks its own rows only")
            }
            // Messages arriving during the replay do not change a full page already noted.
            send(ann, bob)
            ledger.commit()
            after += 1000
        }
        // The rest: the ten messages that came during the replay, then nothing.
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 10_000, limit: 1000), Array(toBob[10_000...]))
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 10_010, limit: 1000), [])
        // Another page size walks from the newest row again and agrees.
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 2_000, limit: 500), Array(toBob[2_000..<2_500]))
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 2_500, limit: 500), Array(toBob[2_500..<3_000]))
        // Pages of one message: 64 of them noted at a time, each read after a full walk a row or two long.
        let walkedBefore = ledger.tailRowsWalked
        for seq in 3_000..<3_200 {
            XCTAssertEqual(ledger.tailInbox(of: 2, after: Int64(seq), limit: 1), [toBob[seq]])
        }
        XCTAssertLessThan(ledger.tailRowsWalked - walkedBefore, 4 * 10_000, "four full walks, not two hundred")
        // Two replays at once keep their own notes: cat's pages do not send bob's back to full walks.
        for _ in 0..<3_000 { send(ann, cat) }
        ledger.commit()
        XCTAssertEqual(ledger.tailInbox(of: 3, after: 0, limit: 1000).count, 1000)
        let interleaved = ledger.tailRowsWalked
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 3_200, limit: 1), [toBob[3_200]])
        XCTAssertEqual(ledger.tailInbox(of: 3, after: 1_000, limit: 1000).count, 1000)
        XCTAssertLessThan(ledger.tailRowsWalked - interleaved, 1_100, "both read on from their notes")
        // A batch taken back: pages noted over its rows are not trusted once other messages hold their seqs.
        let mark = ledger.mark
        for _ in 0..<3_000 { send(ann, bob) }
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 10_010, limit: 1000).count, 1000)
        ledger.rollBack(to: mark)
        toBob.removeLast(3_000)
        for _ in 0..<2_500 { send(cat, bob) }
        ledger.commit()
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 11_010, limit: 1000), Array(toBob[11_010..<12_010]))
        XCTAssertEqual(ledger.tailInbox(of: 2, after: 12_010, limit: 1000), Array(toBob[12_010...]))
    }

    /// An account added in a batch that rolls back is gone by name, and its id can be taken again.
    func testAnAccountOfARolledBackBatchIsForgotten() throws {
        let ledger = LogLedger(accounts: [(id: 1, name: "ann")], lasts: [:], indexedUpTo: 0, tail: [])
        let mark = ledger.mark
        ledger.addAccount(name: "bob", id: 2)
        XCTAssertEqual(ledger.id(of: "bob"), 2)
        ledger.rollBack(to: mark)
        XCTAssertNil(ledger.id(of: "bob"))
        XCTAssertThrowsError(try ledger.requireSlot(of: "bob"))
        XCTAssertEqual(ledger.name(of: 2), "")
        ledger.addAccount(name: "cat", id: 2)
        XCTAssertEqual(ledger.id(of: "cat"), 2)
        XCTAssertEqual(ledger.name(of: 2), "cat")
        XCTAssertEqual(ledger.lastAccountID, 2)
    }

    /// A log read without its accounts (an indexing step rebuilt from the log) still has every user's entries.
    func testATailLoadedWithoutAccountsKeepsEveryUsersEntries() {
        let ledger = LogLedger(accounts: [], lasts: [:], indexedUpTo: 10,
                               tail: [(11, 5, 7, 1), (12, 7, 5, 1), (13, 7, 7, 2)])
        XCTAssertEqual(ledger.gather(upTo: 12).users, [5, 7])
        let all = ledger.gather(upTo: .max)
        XCTAssertEqual(Array(all.entries(at: 1)),
                       [.init(id: 11, seq: 1, partner: 5), .init(id: 12, seq: 0, partner: 5), .init(id: 13, seq: 2, partner: 7)])
        XCTAssertEqual(ledger.last(of: 7), 2)
        XCTAssertEqual(ledger.tailCount, 3)
    }
}
