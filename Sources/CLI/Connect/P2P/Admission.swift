// Who may start a private session: our user, answering y or n to a request (`ConsentQueue`), and the peer,
// presenting the token the server gave for it (`TokenBook`). Both pure: time is passed in.

/// Requests to private message this user, waiting for a y or n (docs/PROTOCOL.md §9). They are asked one at a time, in the
/// order they came: the question replaces the `> ` prompt (keeping anything half-typed) and the next line typed
/// answers it.
///
/// A line that is neither y nor n is not taken as an answer: it runs as an ordinary command and the question is
/// asked again. A person who was half-way through `message luke ...` when the question popped up loses nothing,
/// and nobody declines (or accepts) by accident.
struct ConsentQueue {
    enum Answer: Equatable {
        case yes
        case no
    }

    /// The server declines an unanswered request after this (docs/PROTOCOL.md §9); the question is withdrawn then too.
    static let patience: Duration = .seconds(60)
    /// More waiting questions than anyone could answer are not kept (the server bounds them as well).
    static let capacity = 64

    private var waiting: [(user: String, expires: ContinuousClock.Instant)] = []

    /// The user whose question is being asked.
    var current: String? { waiting.first?.user }

    var isEmpty: Bool { waiting.isEmpty }

    var nextExpiry: ContinuousClock.Instant? { waiting.map(\.expires).min() }

    /// `y`, `yes`, `n`, `no` in any case, blanks around allowed; anything else is no answer.
    static func answer(_ line: String) -> Answer? {
        switch line.trimmingBlanks.lowercased() {
        case "y", "yes": return .yes
        case "n", "no": return .no
        default: return nil
        }
    }

    /// A `private_request`. A user who asks again while still waiting is asked once. Returns whether the
    /// question being asked changed.
    mutating func add(_ user: String, now: ContinuousClock.Instant) -> Bool {
        let before = current
        if let index = waiting.firstIndex(where: { $0.user == user }) {
            waiting[index].expires = now + Self.patience
        } else if waiting.count < Self.capacity {
            waiting.append((user, now + Self.patience))
        }
        return current != before
    }

    /// Answered, or the asker logged out. Returns whether the question being asked changed.
    @discardableResult
    mutating func remove(_ user: String) -> Bool {
        let before = current
        waiting.removeAll { $0.user == user }
        return current != before
    }

    /// Withdraws the questions the server has declined by now. Returns whether the question being asked changed.
    mutating func expire(now: ContinuousClock.Instant) -> Bool {
        let before = current
        waiting.removeAll { $0.expires <= now }
        return current != before
    }
}

/// The listener's side of the handshake: the tokens the server handed this client in `private_pending`, and the
/// verdict on a `p2p_hello`. Pure (time is passed in), so every rule is unit-tested without sockets.
///
/// Rules (docs/PROTOCOL.md §9): a hello is accepted only with a token the server gave for exactly that user, and
/// only once. A hello whose token has not arrived yet is held, because the server's `private_pending` to us and
/// the asker's connection race each other; after `holdLimit` it is refused. Tokens nobody used expire.
struct TokenBook {
    enum Verdict: Equatable {
        case accept
        /// Not (yet) known: ask again when a token arrives, and refuse at `until`.
        case hold(until: ContinuousClock.Instant)
        case refuse
    }

    static let holdLimit: Duration = .seconds(5)
    /// How long a token waits for the asker's connection (its connect timeout and the hold, with room to spare).
    static let lifetime: Duration = .seconds(30)
    /// At most this many unused tokens are kept (the oldest goes first); the server sends one per accepted request.
    static let capacity = 64

    private struct Entry {
        let user: String
        let token: String
        let expires: ContinuousClock.Instant
    }

    private var entries: [Entry] = []

    var count: Int { entries.count }

    /// `private_pending`: expect `user` to connect presenting `token`.
    mutating func expect(user: String, token: String, now: ContinuousClock.Instant) {
        entries.removeAll { $0.expires <= now }
        if entries.count >= Self.capacity { entries.removeFirst() }
        entries.append(Entry(user: user, token: token, expires: now + Self.lifetime))
    }

    /// The verdict on a hello from `user` with `token` that arrived at `arrivedAt`. An accepted token is used up.
    mutating func check(user: String, token: String, arrivedAt: ContinuousClock.Instant,
                        now: ContinuousClock.Instant) -> Verdict {
        entries.removeAll { $0.expires <= now }
        if let index = entries.firstIndex(where: { $0.user == user && Self.sameSecret($0.token, token) }) {
            entries.remove(at: index)
            return .accept
        }
        let until = arrivedAt + Self.holdLimit
        return now < until ? .hold(until: until) : .refuse
    }

    /// Drops the tokens for `user` (their session ended before the link came).
    mutating func forget(user: String) {
        entries.removeAll { $0.user == user }
    }

    /// Compares without stopping at the first difference, so the time taken says nothing about the token.
    static func sameSecret(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return difference == 0
    }
}
