import ChatCore
import Foundation
import Logging
import RedisClient

/// The cluster link over Redis (docs/SCALING.md): pub/sub for notices, one key per online user for the
/// cluster-wide claim, one expiring key per live node.
///
/// Keys and channels (all under `parley:`):
/// - `online:USER` → the node USER is online on. Claimed by a script that also takes over a claim whose node is
///   no longer alive, so a killed node's users can log in elsewhere as soon as it is found dead.
/// - `alive:NODE` → set with an expiry of the node timeout each time the hub sends its heartbeat: a node whose hub
///   stops (killed, hung) stops refreshing it.
/// - `users:NODE` → the users NODE has claimed, so a node restarted under the same name can drop the claims its
///   previous run left behind.
/// - channels `DB:all` (notices for everyone) and `DB:node:NODE` (notices for one node), DB being the database
///   number of the URL. Each payload is the sender's name, a newline and the notice, so a node skips its own
///   notices on `all`.
///
/// Every call here only queues work on the Redis client's thread; completions and incoming notices go to the hub
/// from that thread, never from the caller's (a hub calls with its lock held).
public final class RedisClusterLink: ClusterLink, @unchecked Sendable {
    public let node: String
    private let redis: RedisClient
    private let logger: Logger
    private let nodeTimeout: Int64
    private let reserve: @Sendable (Int, @escaping @Sendable ([Int64]) -> Void) -> Void
    private let hubBox = HubBox()

    private static let prefix = "parley:"
    /// Pub/sub ignores the database number, so channels carry it: clusters sharing a Redis server on different
    /// databases do not hear each other.
    private let channelPrefix: String
    private var allChannel: String { channelPrefix + "all" }
    private func channel(of node: String) -> String { channelPrefix + "node:" + node }

    /// Claims `online:USER` for ARGV[1] unless a live node other than it holds it; returns the holder or nil.
    private static let claimScript = RedisScript("""
        local holder = redis.call('GET', KEYS[1])
        if holder and holder ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. holder) == 1 then return holder end
        redis.call('SET', KEYS[1], ARGV[1])
        redis.call('SADD', KEYS[2], ARGV[3])
        return false
        """)
    /// Deletes `online:USER` only if it still names ARGV[1].
    private static let releaseScript = RedisScript("""
        redis.call('SREM', KEYS[2], ARGV[2])
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
    /// A node starting under NAME drops every claim its previous run left (those still naming NAME).
    private static let resetScript = RedisScript("""
        local users = redis.call('SMEMBERS', KEYS[1])
        for _, user in ipairs(users) do
            local key = ARGV[2] .. user
            if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
        end
        redis.call('DEL', KEYS[1])
        return #users
        """)

    /// - Parameters:
    ///   - password: used when `url` carries none (a password kept off the command line).
    ///   - reserveIDs: draws ids from the shared store's message sequence (broadcast ids).
    public init(url: String, password: String? = nil, node: String, nodeTimeout: Int64, logger: Logger,
                reserveIDs: @escaping @Sendable (Int, @escaping @Sendable ([Int64]) -> Void) -> Void) throws {
        self.node = node
        self.logger = logger
        self.nodeTimeout = nodeTimeout
        self.reserve = reserveIDs
        let clientName = "parley-" + String(node.map { $0.isLetter || $0.isNumber || "-_.:".contains($0) ? $0 : "_" })
        redis = try RedisClient(url: try RedisURL(parsing: url).withPassword(ifNoneGiven: password),
                                name: String(clientName.prefix(64)), logger: logger)
        channelPrefix = Self.prefix + "\(redis.url.database):"
    }

    /// Connects, drops what a previous run under this name left, and starts handing notices and state changes to
    /// `listener` (the hub). Returns at once; `isUp` tells when Redis answers.
    public func start(delivering listener: any ClusterListener) throws {
        hubBox.set(listener)
        let node = node
        redis.onStateChange { [weak self] up in
            guard let self else { return }
            if up {
                self.markAlive()
                if self.hubBox.takeFirstUp() { self.dropClaimsOfAPreviousRun() }
            }
            self.hubBox.get()?.clusterLinkChanged(up: up)
        }
        redis.subscribe([allChannel, channel(of: node)]) { [weak self] _, payload in
            guard let self, let newline = payload.firstIndex(of: UInt8(ascii: "\n")) else { return }
            if payload[..<newline].elementsEqual(node.utf8) { return }  // our own, back from `all`
            guard let notice = ClusterNotice.decode(payload[(newline + 1)...]) else {
                return self.logger.warning("cluster notice not understood; ignored")
            }
            self.hubBox.get()?.clusterReceived(notice)
        }
        try redis.start()
    }

    /// At the first connection: a node restarted under the same name before its alive key expired would
    /// otherwise find its previous run's users still claimed by itself, and refuse nobody else.
    private func dropClaimsOfAPreviousRun() {
        Self.resetScript.run(on: redis, keys: [key("users:" + node)], arguments: [RedisArgument(node), key("online:")]) {
            [logger] result in
            if case .success(.integer(let count)) = result, count > 0 {
                logger.info("dropped claims left by this node's previous run", metadata: ["users": "\(count)"])
            }
        }
    }

    /// Leaves the cluster: what the hub queued last (its users leaving) goes out first, then this node stops
    /// being alive at once rather than at the end of its expiry. Waits at most a second for Redis.
    public func stop() {
        let flushed = DispatchSemaphore(value: 0)
        // Commands go out in order, so once this reply is back every notice queued before it has been sent.
        redis.send(["DEL", key("alive:" + node)]) { _ in flushed.signal() }
        _ = flushed.wait(timeout: .now() + 1)
        redis.stop()
        hubBox.set(nil)
    }

    /// Whether Redis answers now (for /healthz), and why not when it does not.
    public var isUp: Bool { redis.isUp }
    public var lastError: String? { redis.lastError.map { "\($0)" } }

    // MARK: ClusterLink

    public func publish(_ notice: ClusterNotice) {
        if case .heartbeat = notice { markAlive() }
        redis.publish(allChannel, framed(notice))
    }

    public func send(_ notice: ClusterNotice, to target: String) {
        redis.publish(channel(of: target), framed(notice))
    }

    public func claim(_ user: String, done: @escaping @Sendable (ClaimOutcome) -> Void) {
        let done = offCallerThread(done)
        Self.claimScript.run(on: redis, keys: [key("online:" + user), key("users:" + node)],
                             arguments: [RedisArgument(node), key("alive:"), RedisArgument(user)]) { result in
            switch result {
            case .success(.null): done(.claimed)
            case .success(.bulk(let holder)): done(.heldBy(node: String(decoding: holder, as: UTF8.self)))
            default: done(.unavailable)
            }
        }
    }

    public func release(_ user: String) {
        Self.releaseScript.run(on: redis, keys: [key("online:" + user), key("users:" + node)],
                               arguments: [RedisArgument(node), RedisArgument(user)]) { _ in }
    }

    public func reserveIDs(count: Int, done: @escaping @Sendable ([Int64]) -> Void) {
        reserve(count, offCallerThread(done))
    }

    // MARK: Helpers

    private func key(_ name: String) -> RedisArgument { RedisArgument(Self.prefix + name) }

    private func framed(_ notice: ClusterNotice) -> [UInt8] {
        var bytes = Array(node.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: notice.encoded())
        return bytes
    }

    /// This node is alive for another node timeout.
    private func markAlive() {
        redis.send(["SET", key("alive:" + node), "1", "PX", RedisArgument(Int(nodeTimeout))]) { _ in }
    }

    /// A completion that may fail at once (the client stopped) would run on the hub's thread with its lock held;
    /// such a completion is moved to another thread instead.
    private func offCallerThread<T: Sendable>(_ done: @escaping @Sendable (T) -> Void) -> @Sendable (T) -> Void {
        let caller = CallerThread()
        return { value in
            if caller.isCurrent { DispatchQueue.global().async { done(value) } } else { done(value) }
        }
    }
}

/// The listener notices go to, set once the hub exists (it needs the link to be built first).
private final class HubBox: @unchecked Sendable {
    private let lock = NSLock()
    private var listener: (any ClusterListener)?
    private var seenUp = false
    func set(_ listener: (any ClusterListener)?) { lock.withLock { self.listener = listener } }
    func get() -> (any ClusterListener)? { lock.withLock { listener } }
    /// True the first time only.
    func takeFirstUp() -> Bool { lock.withLock { defer { seenUp = true }; return !seenUp } }
}

/// The thread a call came from, to tell whether a completion runs on it.
private struct CallerThread: Sendable {
    private let id = pthread_self()
    var isCurrent: Bool { pthread_equal(id, pthread_self()) != 0 }
}
