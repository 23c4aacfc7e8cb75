/// An indexing run (StoreSchema explains them): the log's ids up to `upTo` that are still in the writer's
/// unindexed tail, written to the index tables a step at a time, one step between two group commits.
///
/// The run's entries are gathered from the tail once, when it starts (`LogLedger.gather`): ids up to `upTo`
/// are sealed, so nothing appended later belongs to the run, and a step reads its users' entries as slices of
/// one array instead of walking the tail again.
///
/// A step is sized by the index rows it writes, not by a count of users: its length is how long the messages
/// arriving meanwhile wait for the writer, and the rows per user vary with how much each user talked. A step
/// takes whole users (at least one) until their rows reach the budget, so a step lasts about as long whatever
/// the traffic looks like; only one user with more than a budget's worth of rows makes a longer step.
struct IndexRun {
    /// One user's entries in a step.
    typealias UserEntries = (user: Int64, entries: ArraySlice<LogLedger.Entry>)

    let upTo: Int64
    /// Whether the entries are in id order (else each user's are sorted before they are packed).
    let inIDOrder: Bool
    private let gathered: RunEntries
    private var next = 0

    init(upTo: Int64, _ ledger: LogLedger) {
        self.upTo = upTo
        inIDOrder = ledger.isTailInIDOrder
        gathered = ledger.gather(upTo: upTo)
    }

    /// The users with entries in the run, ascending.
    var users: [Int64] { gathered.users }

    /// The users of the next step with their entries, and whether it is the run's last. Empty and last when
    /// nobody is left.
    mutating func nextStep(rowBudget: Int) -> (users: [UserEntries], last: Bool) {
        let first = next
        var rows = 0
        while next < gathered.users.count && (next == first || rows < rowBudget) {
            rows += gathered.entries(at: next).count
            next += 1
        }
        return ((first..<next).map { (gathered.users[$0], gathered.entries(at: $0)) }, next == gathered.users.count)
    }
}

/// Each user's entries of an indexing run, side by side in one array: `users[i]`'s are
/// `entries[starts[i]..<starts[i + 1]]`, in the order they were appended.
struct RunEntries {
    /// Ascending; every one has at least one entry.
    let users: [Int64]
    let starts: [Int]
    let entries: [LogLedger.Entry]

    func entries(at index: Int) -> ArraySlice<LogLedger.Entry> { entries[starts[index]..<starts[index + 1]] }
}
