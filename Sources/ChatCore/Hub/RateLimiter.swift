import ParleySupport

/// A rate: at most `burst` events at once, and `burst` per `period` sustained. "10 per 5 s" allows ten
/// messages in a row, then one every half second. Written `10/5s` on the command line.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var burst: Int
    /// Milliseconds over which a full burst refills.
    public var period: Int64

    public init(_ burst: Int, per period: Int64) {
        precondition(burst > 0 && period > 0, "a rate needs a positive burst and period")
        self.burst = burst
        self.period = period
    }

    /// Milliseconds that refill one event's worth (at least 1).
    var interval: Int64 { max(1, period / Int64(burst)) }

    public var description: String { "\(burst)/\(period)ms" }

    /// Parses `BURST/PERIOD` with PERIOD a number and a unit (`ms`, `s`, `m`, `h`; a bare unit means 1 of it):
    /// `10/5s`, `20/10m`, `5/h`. Nil for anything else.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let burst = Int(parts[0]), burst > 0, burst <= 1_000_000 else { return nil }
        var spec = Substring(parts[1])
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        guard let (suffix, scale) = units.first(where: { spec.hasSuffix($0.0) }) else { return nil }
        spec = spec.dropLast(suffix.count)
        guard spec.allSatisfy(\.isASCII) else { return nil }
        let count = spec.isEmpty ? 1 : Int64(spec)
        guard let count, count > 0, count <= 1_000_000 else { return nil }
        self.init(burst, per: count * scale)
    }
}

/// Token buckets keyed by user or address, in the GCRA form: each key keeps one number, the time at which its
/// bucket will be full again ("theoretical arrival time"). Integer milliseconds, no timers, and a key whose
/// bucket is full holds no state at all, so `prune` keeps the table to the keys active within one period.
///
/// Confined to the hub's lock.
struct RateLimiter<Key: Hashable> {
    let limit: RateLimit?
    private var fullAt: [Key: Int64] = [:]

    init(_ limit: RateLimit?) {
        self.limit = limit
    }

    /// Takes one event's worth for `key`. Nil: allowed. Otherwise the whole seconds until it would be (≥ 1),
    /// and nothing was taken.
    mutating func take(_ key: Key, now: Int64) -> Int? {
        guard let limit else { return nil }
        let interval = limit.interval
        let tolerance = interval * Int64(limit.burst - 1)
        let start = max(fullAt[key] ?? now, now)
        let wait = start - now - tolerance
        if wait > 0 { return Milliseconds.wholeSeconds(coveringAtLeast: wait) }
        fullAt[key] = start + interval
        return nil
    }

    /// Whether `take` would succeed now: nil, or the whole seconds to wait. Takes nothing.
    func check(_ key: Key, now: Int64) -> Int? {
        guard let limit else { return nil }
        let wait = max(fullAt[key] ?? now, now) - now - limit.interval * Int64(limit.burst - 1)
        return wait > 0 ? Milliseconds.wholeSeconds(coveringAtLeast: wait) : nil
    }

    /// Takes one event's worth whether or not there was room (an event found out afterwards, such as a wrong
    /// password: the overshoot only makes the next wait longer).
    mutating func charge(_ key: Key, now: Int64) {
        guard let limit else { return }
        fullAt[key] = max(fullAt[key] ?? now, now) + limit.interval
    }

    /// Forgets every key whose bucket has refilled.
    mutating func prune(now: Int64) {
        fullAt = fullAt.filter { $0.value > now }
    }

    var trackedKeys: Int { fullAt.count }
}

/// The hub's abuse limits (docs/SECURITY.md). Each is nil when switched off. Per-address limits skip loopback
/// peers unless `limitLoopback` is set (docs/PROTOCOL.md §2, as Ergo does): a proxy or a local script on the same
/// machine is trusted, and tests turn the exemption off to prove the limits.
public struct AbuseLimits: Sendable, Equatable {
    /// `message` and `broadcast` per user, across every door (socket, WebSocket, text, REST): `rate_limited`.
    public var messages: RateLimit? = RateLimit(10, per: 5_000)
    /// Failed password attempts per address, checked before hashing (right passwords are never counted).
    public var loginAttemptsPerAddress: RateLimit? = RateLimit(20, per: 600_000)
    /// Failed password attempts per account from anywhere, checked before hashing. The lockout (three in
    /// a row) still applies on top; this one bounds guessing when `block_duration` is short (or 0) and, unlike
    /// the lockout, is not reset by one right password.
    public var loginAttemptsPerAccount: RateLimit? = RateLimit(10, per: 60_000)
    /// Accounts created per address, checked before hashing.
    public var registrationsPerAddress: RateLimit? = RateLimit(5, per: 600_000)
    /// Apply the per-address limits to loopback peers too (`--limit-loopback`; tests).
    public var limitLoopback = false

    public init() {}

    /// Every limit off (for tools that flood on purpose).
    public static let none: AbuseLimits = {
        var limits = AbuseLimits()
        limits.messages = nil
        limits.loginAttemptsPerAddress = nil
        limits.loginAttemptsPerAccount = nil
        limits.registrationsPerAddress = nil
        return limits
    }()

    /// Whether a per-address limit applies to `host` (nil: a caller that is not a network peer).
    func appliesToAddress(_ host: String?) -> Bool {
        guard let host else { return false }
        return limitLoopback || !Self.isLoopback(host)
    }

    /// 127.0.0.0/8, ::1 and IPv4-mapped loopback, as the gateway judges its peers (`ClientAddress.isLoopback`).
    public static func isLoopback(_ host: String) -> Bool {
        ClientAddress.isLoopback(host)
    }

    /// The key per-address limits count under, the same one the gateway counts connections under: IPv4 as is,
    /// IPv6 by its /64 (`ClientAddress.limitKey`).
    static func addressKey(_ host: String) -> String {
        ClientAddress.limitKey(host)
    }
}
