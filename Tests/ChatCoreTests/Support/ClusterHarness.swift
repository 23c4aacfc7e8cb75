import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// Several hubs joined into one cluster in one process: one shared store, clock and hasher, and an in-memory bus
/// that queues every notice and claim until the test settles, so each step is deterministic. A node can be cut off
/// (its notices in both directions dropped, as a lost Redis link or a dead node would) and brought back.
final class ClusterHarness {
    let clock = ManualClock()
    let store = MemoryStore()
    let hasher = QueuedHasher()
    let bus = TestBus()
    private(set) var nodes: [HubHarness] = []
    let timing = ClusterTiming(heartbeatInterval: 2_000, nodeTimeout: 10_000)

    init(nodes count: Int, accounts: [(String, String)], blockSeconds: Int64 = 10, timeoutSeconds: Int64 = 30) throws {
        _ = store.seed(accounts: accounts)
        for index in 0..<count {
            let link = TestLink(node: "node\(index)", bus: bus)
            let node = try HubHarness(node: link, store: store, clock: clock, hasher: hasher, timing: timing,
                                      blockSeconds: blockSeconds, timeoutSeconds: timeoutSeconds)
            bus.attach(link.node, node.hub)
            nodes.append(node)
        }
        for node in nodes { node.settleAll = { [unowned self] in settle() } }
        sweep()  // every node's first heartbeat: they know each other from here on
    }

    subscript(index: Int) -> HubHarness { nodes[index] }

    /// Runs hashing, store work and the bus until nothing is left (each may queue more of the others).
    func settle() {
        while hasher.backlog > 0 || store.queuedCount > 0 || bus.queuedCount > 0 {
            hasher.runPending()
            store.runPending()
            bus.runPending()
        }
    }

    /// Every node's housekeeping, then whatever it sent.
    func sweep() {
        for node in nodes { node.hub.sweep() }
        settle()
    }

    /// Moves the clock on in sweep-sized steps, sweeping every node that is still connected at each.
    func advance(seconds: Double, sweeping live: Set<Int>? = nil) {
        var left = seconds
        while left > 0 {
            let step = min(left, 0.5)
            clock.advance(seconds: step)
            left -= step
            for (index, node) in nodes.enumerated() where live?.contains(index) ?? true { node.hub.sweep() }
            settle()
        }
    }
}

/// The in-memory bus: per-node hubs, the claim table, an id counter, and a queue of deliveries.
final class TestBus: @unchecked Sendable {
    private let lock = NSLock()
    private var hubs: [String: ChatService] = [:]
    private var queue: [() -> Void] = []
    private var claims: [String: String] = [:]
    private var nextID: Int64 = 1_000_000
    private var cut: Set<String> = []
    private var muted: Set<String> = []
    private var slow: Set<String> = []
    private var held: [() -> Void] = []

    func attach(_ node: String, _ hub: ChatService) { lock.withLock { hubs[node] = hub } }

    /// Cuts `node` off: what it sends and what is sent to it is dropped, and its claims fail.
    func cutOff(_ node: String) { lock.withLock { _ = cut.insert(node) } }
    func reconnect(_ node: String) { lock.withLock { _ = cut.remove(node) } }
    /// Drops what `node` publishes to everyone (a lost notice), leaving everything else working.
    func mute(_ node: String, _ on: Bool) {
        lock.withLock {
            if on { muted.insert(node) } else { muted.remove(node) }
        }
    }

    /// Holds back what reaches `node` (notices slow on their way to it, sent to it alone or to everyone) until
    /// turned off again; the other nodes get theirs at once.
    func holdSends(to node: String, _ on: Bool) {
        lock.withLock {
            if on {
                slow.insert(node)
            } else {
                slow.remove(node)
                queue += held
                held = []
            }
        }
    }

    /// Forgets `node`'s claims, as their expiry does once a node is dead.
    func expireClaims(of node: String) { lock.withLock { claims = claims.filter { $0.value != node } } }

    var queuedCount: Int { lock.withLock { queue.count } }

    func runPending() {
        let work = lock.withLock {
            defer { queue = [] }
            return queue
        }
        for item in work { item() }
    }

    func publish(_ notice: ClusterNotice, from node: String) {
        lock.withLock {
            guard !cut.contains(node), !muted.contains(node) else { return }
            for (name, hub) in hubs where name != node && !cut.contains(name) {
                let bytes = notice.encoded()  // through the wire form, as on Redis
                let delivery = { hub.clusterReceived(ClusterNotice.decode(bytes)!) }
                if slow.contains(name) { held.append(delivery) } else { queue.append(delivery) }
            }
        }
    }

    func send(_ notice: ClusterNotice, from node: String, to target: String) {
        lock.withLock {
            guard !cut.contains(node), !cut.contains(target), let hub = hubs[target] else { return }
            let bytes = notice.encoded()
            let delivery = { hub.clusterReceived(ClusterNotice.decode(bytes)!) }
            if slow.contains(target) { held.append(delivery) } else { queue.append(delivery) }
        }
    }

    func claim(_ user: String, for node: String, done: @escaping @Sendable (ClaimOutcome) -> Void) {
        lock.withLock {
            let outcome: ClaimOutcome
            if cut.contains(node) {
                outcome = .unavailable
            } else if let holder = claims[user], holder != node {
                outcome = .heldBy(node: holder)
            } else {
                claims[user] = node
                outcome = .claimed
            }
            queue.append { done(outcome) }
        }
    }

    func release(_ user: String, for node: String) {
        lock.withLock {
            guard !cut.contains(node), claims[user] == node else { return }
            claims[user] = nil
        }
    }

    func reserveIDs(count: Int, done: @escaping @Sendable ([Int64]) -> Void) {
        lock.withLock {
            let ids = (0..<Int64(count)).map { nextID + $0 }
            nextID += Int64(count)
            queue.append { done(ids) }
        }
    }
}

final class TestLink: ClusterLink, @unchecked Sendable {
    let node: String
    private let bus: TestBus

    init(node: String, bus: TestBus) {
        self.node = node
        self.bus = bus
    }

    func publish(_ notice: ClusterNotice) { bus.publish(notice, from: node) }
    func send(_ notice: ClusterNotice, to target: String) { bus.send(notice, from: node, to: target) }
    func claim(_ user: String, done: @escaping @Sendable (ClaimOutcome) -> Void) { bus.claim(user, for: node, done: done) }
    func release(_ user: String) { bus.release(user, for: node) }
    func reserveIDs(count: Int, done: @escaping @Sendable ([Int64]) -> Void) { bus.reserveIDs(count: count, done: done) }
}
