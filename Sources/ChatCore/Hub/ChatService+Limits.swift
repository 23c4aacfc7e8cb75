/// The hub's abuse limits (docs/SECURITY.md): message floods per user, password guessing per address and per
/// account, registrations per address. Every check here runs before any hashing or storing, so a refused
/// request costs a dictionary lookup. Runs with `lock` held.
struct Throttles {
    let policy: AbuseLimits
    var messages: RateLimiter<String>
    var loginsPerAddress: RateLimiter<String>
    var loginsPerAccount: RateLimiter<String>
    var registrationsPerAddress: RateLimiter<String>
    var lastPrune: Int64 = 0

    init(_ policy: AbuseLimits) {
        self.policy = policy
        messages = RateLimiter(policy.messages)
        loginsPerAddress = RateLimiter(policy.loginAttemptsPerAddress)
        loginsPerAccount = RateLimiter(policy.loginAttemptsPerAccount)
        registrationsPerAddress = RateLimiter(policy.registrationsPerAddress)
    }

    /// The per-address key for `host`, or nil when per-address limits do not apply to it (loopback, unknown).
    func addressKey(_ host: String?) -> String? {
        guard let host, policy.appliesToAddress(host) else { return nil }
        return AbuseLimits.addressKey(host)
    }

    mutating func prune(now: Int64) {
        messages.prune(now: now)
        loginsPerAddress.prune(now: now)
        loginsPerAccount.prune(now: now)
        registrationsPerAddress.prune(now: now)
        lastPrune = now
    }
}

extension ChatService {
    static func rateLimited(_ what: String, retryAfter: Int) -> ChatError {
        ChatError(.rateLimited, "too many \(what); try again in \(retryAfter) s", retryAfter: retryAfter)
    }

    /// A `message` or `broadcast` from `user` (any door). Nil: go ahead.
    func throttleMessage(from user: String) -> ChatError? {
        guard let retry = throttles.messages.take(user, now: clock.now()) else { return nil }
        metrics.rateLimitedMessages += 1
        return Self.rateLimited("messages", retryAfter: retry)
    }

    /// Before a password is hashed: has the address, or the account, used up its failed attempts? Nil: go
    /// ahead. Only failures are charged (`chargeFailedAttempt`), so right passwords, however many and however
    /// concurrent (REST Basic sends one with every request), are never throttled here; concurrent wrong ones
    /// can overshoot by what is in flight, which `maxHashBacklog` bounds.
    func refusePasswordAttempt(user: String, peerHost: String?) -> ChatError? {
        let now = clock.now()
        if let address = throttles.addressKey(peerHost),
           let retry = throttles.loginsPerAddress.check(address, now: now) {
            metrics.loginsThrottledAddress += 1
            return Self.rateLimited("failed logins from your address", retryAfter: retry)
        }
        if let retry = throttles.loginsPerAccount.check(user, now: now) {
            metrics.loginsThrottledAccount += 1
            return Self.rateLimited("failed logins for this account", retryAfter: retry)
        }
        return nil
    }

    /// A wrong password for `user` from `peerHost`.
    func chargeFailedAttempt(user: String, peerHost: String?) {
        let now = clock.now()
        if let address = throttles.addressKey(peerHost) { throttles.loginsPerAddress.charge(address, now: now) }
        throttles.loginsPerAccount.charge(user, now: now)
    }

    /// A registration from `peerHost`, before its password is hashed (every registration counts, so several
    /// at once from one address are bounded too). Nil: go ahead.
    func admitRegistration(peerHost: String?) -> ChatError? {
        guard let address = throttles.addressKey(peerHost),
              let retry = throttles.registrationsPerAddress.take(address, now: clock.now()) else { return nil }
        metrics.registrationsThrottled += 1
        return Self.rateLimited("registrations from your address", retryAfter: retry)
    }

    /// Called from `sweep`: drops buckets that have refilled, so the tables hold only recent activity.
    func pruneThrottles(now: Int64) {
        if now - throttles.lastPrune >= 10_000 { throttles.prune(now: now) }
    }
}
