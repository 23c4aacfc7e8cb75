/// The lockout (docs/PROTOCOL.md §3) and the abuse limits (docs/SECURITY.md): message floods per user, password
/// guessing per address and per account, registrations per address. Every check runs before any hashing or
/// storing, so a refusal costs a lookup. The guard only decides; the hub words the refusal and counts it.
///
/// Counters and buckets are per node today and forgotten at restart; a cluster implementation would keep them
/// in Redis (shared counters with expiry) behind this same interface.
protocol LoginGuard: AnyObject {
    /// Whole seconds until `user` may log in again, or nil if the account is not locked.
    func lockedFor(_ user: String, now: Int64) -> Int?
    /// Before a password is hashed: has the address (`host`, nil for a caller that is not a network peer) or the
    /// account used up its failed attempts? Takes nothing: only failures are charged, so right passwords, however
    /// many at once (REST Basic sends one with every request), are never throttled here.
    func throttlePasswordAttempt(user: String, from host: String?, now: Int64) -> PasswordThrottle?
    /// A wrong password: charges the address and account budgets and counts toward the lockout. Returns the
    /// attempts left before the lockout (0: this failure just locked the account).
    func recordFailure(user: String, from host: String?, now: Int64) -> Int
    /// A wrong password for `user` on another node of a cluster: it counts toward the lockout and the account's
    /// attempt budget here too (the per-address budgets stay with the node that saw the address).
    func recordFailureElsewhere(user: String, now: Int64)
    /// A right password: the consecutive-failure count starts again.
    func recordSuccess(user: String)
    /// Takes one registration from `host`'s budget. Nil: go ahead; else whole seconds to wait.
    func admitRegistration(from host: String?, now: Int64) -> Int?
    /// Takes one `message` or `broadcast` from `user`'s budget (any door). Nil: go ahead; else seconds to wait.
    func admitMessage(from user: String, now: Int64) -> Int?
    /// Housekeeping: forgets buckets that have refilled.
    func sweep(now: Int64)
}

/// Why a password attempt is refused before hashing.
enum PasswordThrottle: Equatable {
    case address(retryAfter: Int)
    case account(retryAfter: Int)
}

/// The single-node login guard: the lockout and four token-bucket tables, confined to the hub's serialisation.
final class LocalLoginGuard: LoginGuard {
    private let policy: AbuseLimits
    private let maxFailedAttempts: Int
    private let lockDuration: Int64
    private var lockout = Lockout()
    private(set) var messages: RateLimiter<String>
    private(set) var loginsPerAddress: RateLimiter<String>
    private(set) var loginsPerAccount: RateLimiter<String>
    private(set) var registrationsPerAddress: RateLimiter<String>
    private var lastPrune: Int64 = 0
    /// Buckets are pruned at most this often: a pass over the tables is not worth doing on every sweep.
    static let pruneInterval: Int64 = 10_000

    init(policy: AbuseLimits, maxFailedAttempts: Int, lockDuration: Int64) {
        self.policy = policy
        self.maxFailedAttempts = maxFailedAttempts
        self.lockDuration = lockDuration
        messages = RateLimiter(policy.messages)
        loginsPerAddress = RateLimiter(policy.loginAttemptsPerAddress)
        loginsPerAccount = RateLimiter(policy.loginAttemptsPerAccount)
        registrationsPerAddress = RateLimiter(policy.registrationsPerAddress)
    }

    convenience init(_ configuration: HubConfiguration) {
        self.init(policy: configuration.limits, maxFailedAttempts: configuration.maxFailedAttempts,
                  lockDuration: configuration.blockDuration)
    }

    func lockedFor(_ user: String, now: Int64) -> Int? {
        lockout.retryAfter(user, now: now)
    }

    func throttlePasswordAttempt(user: String, from host: String?, now: Int64) -> PasswordThrottle? {
        if let address = addressKey(host), let retry = loginsPerAddress.check(address, now: now) {
            return .address(retryAfter: retry)
        }
        if let retry = loginsPerAccount.check(user, now: now) { return .account(retryAfter: retry) }
        return nil
    }

    func recordFailure(user: String, from host: String?, now: Int64) -> Int {
        if let address = addressKey(host) { loginsPerAddress.charge(address, now: now) }
        loginsPerAccount.charge(user, now: now)
        return lockout.recordFailure(user, now: now, limit: maxFailedAttempts, lockFor: lockDuration)
    }

    func recordFailureElsewhere(user: String, now: Int64) {
        loginsPerAccount.charge(user, now: now)
        _ = lockout.recordFailure(user, now: now, limit: maxFailedAttempts, lockFor: lockDuration)
    }

    func recordSuccess(user: String) {
        lockout.recordSuccess(user)
    }

    func admitRegistration(from host: String?, now: Int64) -> Int? {
        guard let address = addressKey(host) else { return nil }
        return registrationsPerAddress.take(address, now: now)
    }

    func admitMessage(from user: String, now: Int64) -> Int? {
        messages.take(user, now: now)
    }

    func sweep(now: Int64) {
        guard now - lastPrune >= Self.pruneInterval else { return }
        messages.prune(now: now)
        loginsPerAddress.prune(now: now)
        loginsPerAccount.prune(now: now)
        registrationsPerAddress.prune(now: now)
        lastPrune = now
    }

    /// The per-address key for `host`, or nil when per-address limits do not apply to it (loopback, unknown).
    private func addressKey(_ host: String?) -> String? {
        guard let host, policy.appliesToAddress(host) else { return nil }
        return AbuseLimits.addressKey(host)
    }
}

/// Consecutive failed password checks per username, shared by every door, so that none is a way around the
/// lockout (docs/PROTOCOL.md §3). Not persisted: a restart forgets failures and lockouts.
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
        return Milliseconds.wholeSeconds(coveringAtLeast: until - now)
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
