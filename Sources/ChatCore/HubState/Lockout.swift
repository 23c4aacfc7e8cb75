/// Consecutive failed password checks per username, shared by every door (SPEC.md §2.3: the count "carries
/// across connections and doors"). Not persisted: a restart forgets failures and lockouts.
/// Confined to the hub's serialisation; `LocalLoginGuard` owns one.
struct Lockout {
    private var failures: [String: Int] = [:]
    private var lockedUntil: [String: Int64] = [:]

    /// Whole seconds until `user` may log in again, or nil if not locked.
    mutating func retryAfter(_ user: String, now: Int64) -> Int? {
        guard let until = lockedUntil[user] else { return nil }
        if until <= now {
            lockedUntil[user] = nil
            return nil
        }
        return Int((until - now + 999) / 1000)
    }

    /// Records a failure; returns the attempts left (0: this failure just locked the account).
    mutating func recordFailure(_ user: String, now: Int64, limit: Int, lockFor duration: Int64) -> Int {
        let count = failures[user, default: 0] + 1
        if count >= limit {
            failures[user] = nil
            lockedUntil[user] = now + duration
            return 0
        }
        failures[user] = count
        return limit - count
    }

    mutating func recordSuccess(_ user: String) {
        failures[user] = nil
    }

    var lockedCount: Int { lockedUntil.count }
}
