/// An indexing run (StoreSchema explains them): the log's ids up to `upTo` that are still in the writer's
/// unindexed tail, written to the index tables a step at a time, one step between two group commits.
///
/// A step is sized by the index rows it writes, not by a count of users: its length is how long the messages
/// arriving meanwhile wait for the writer, and the rows per user vary with how much each user talked. A step
/// takes whole users (at least one) until their rows reach the budget, so a step lasts about as long whatever
/// the traffic looks like; only one user with more than a budget's worth of rows makes a longer step.
struct IndexRun {
    let upTo: Int64
    /// The users with tail entries up to `upTo`, ascending, taken when the run starts. Entries appended later
    /// have higher ids, so nobody who belongs in this run can be missing.
    private let users: [Int64]
    private var next = 0

    init(upTo: Int64, _ ledger: LogLedger) {
        self.upTo = upTo
        users = ledger.tailUsers(upTo: upTo)
    }

    /// The users of the next step, and whether it is the run's last. Empty and last when nobody is left.
    mutating func nextStep(rowBudget: Int, _ ledger: LogLedger) -> (users: ArraySlice<Int64>, last: Bool) {
        let first = next
        var rows = 0
        while next < users.count && (next == first || rows < rowBudget) {
            rows += ledger.indexRows(of: users[next], upTo: upTo)
            next += 1
        }
        return (users[first..<next], next == users.count)
    }
}
