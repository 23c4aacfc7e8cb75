/// Test doubles for the hub, shared by the hub unit tests and the REST tests.
import Foundation
import ChatCore

/// A clock the test moves by hand.
public final class ManualClock: ChatClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    public init(_ start: Int64 = 1_700_000_000_000) { value = start }
    public func now() -> Int64 { lock.withLock { value } }
    public func advance(seconds: Double) { lock.withLock { value += Int64(seconds * 1000) } }
}

/// Test double for the password hasher: queues work until the test runs it, so tests decide when a check
/// "finishes". Its scheme is deliberately trivial; the real Argon2Hasher has its own tests.
public final class QueuedHasher: PasswordHasher, @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [() -> Void] = []
    public init() {}
    public var backlog: Int { lock.withLock { queue.count } }

    public static func encode(_ password: String) -> String { "test$" + password }

    /// When set, hashing answers "" as the real hasher does when it cannot hash (its pool full, no memory).
    public var failsHashing: Bool {
        get { lock.withLock { failing } }
        set { lock.withLock { failing = newValue } }
    }
    private var failing = false

    public func hash(_ password: String, done: @escaping @Sendable (String) -> Void) {
        lock.withLock {
            let encoded = failing ? "" : Self.encode(password)
            queue.append { done(encoded) }
        }
    }

    public func verify(_ password: String, encoded: String, done: @escaping @Sendable (Bool) -> Void) {
        lock.withLock { queue.append { done(encoded == Self.encode(password)) } }
    }

    /// Runs queued jobs; returns how many ran.
    @discardableResult
    public func runPending() -> Int {
        let jobs = lock.withLock { () -> [() -> Void] in
            defer { queue.removeAll() }
            return queue
        }
        jobs.forEach { $0() }
        return jobs.count
    }
}

/// Records what the hub sends, per client, decoded for assertions.
public final class RecordingOutput: ChatOutput, @unchecked Sendable {
    private let lock = NSLock()
    private var payloads: [ClientID: [[UInt8]]] = [:]
    public private(set) var disconnected: [ClientID] = []
    private var loggedIn: [ClientID] = []

    public init() {}

    public func authenticated(_ client: ClientID) {
        lock.withLock { loggedIn.append(client) }
    }

    /// Clients the hub reported as logged in (to lift their pre-login size limit), in order.
    public var authenticatedClients: [ClientID] { lock.withLock { loggedIn } }

    public func deliver(_ payload: [UInt8], to clients: [ClientID]) {
        lock.withLock { for c in clients { payloads[c, default: []].append(payload) } }
    }

    public func disconnect(_ client: ClientID) {
        lock.withLock { disconnected.append(client) }
    }

    public func isDisconnected(_ client: ClientID) -> Bool { lock.withLock { disconnected.contains(client) } }

    /// Takes everything sent to `client` so far.
    public func take(_ client: ClientID) -> [[UInt8]] {
        lock.withLock { payloads.removeValue(forKey: client) ?? [] }
    }
}

