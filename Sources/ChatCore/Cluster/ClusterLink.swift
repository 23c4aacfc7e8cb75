/// How a hub reaches the other nodes of its cluster: the bus (notices to everyone or to one node), the
/// cluster-wide claim that makes `already_online` hold across nodes, and unique ids for what is not stored.
/// The hub calls these with its lock held, so an implementation only enqueues: it never blocks and never calls
/// back into the hub on the caller's thread. Its completions and incoming notices come back through
/// `ChatService.clusterReceived(_:)`, `clusterLinkChanged(up:)` and the `done` closures, on its own thread.
///
/// The Redis implementation lives in the Cluster module; tests join several hubs in one process with an
/// in-memory bus.
public protocol ClusterLink: AnyObject, Sendable {
    /// This node's name, unique in the cluster.
    var node: String { get }
    /// Sends `notice` to every other node.
    func publish(_ notice: ClusterNotice)
    /// Sends `notice` to `node` only.
    func send(_ notice: ClusterNotice, to node: String)
    /// Claims `user` for a login on this node, cluster-wide and atomically: `.claimed`, or the live node that
    /// holds them, or `.unavailable` while the bus is down (the login is refused then, not let through).
    func claim(_ user: String, done: @escaping @Sendable (ClaimOutcome) -> Void)
    /// Gives up this node's claim on `user` (a claim naming another node is left alone).
    func release(_ user: String)
    /// `count` ids from the same sequence stored messages draw theirs from, for broadcasts (never stored, but
    /// their ids must not collide with another node's). Empty on failure.
    func reserveIDs(count: Int, done: @escaping @Sendable ([Int64]) -> Void)
}

/// Who hears what a link receives: the hub (ChatService+Cluster.swift), or a test's recorder.
public protocol ClusterListener: AnyObject, Sendable {
    func clusterReceived(_ notice: ClusterNotice)
    func clusterLinkChanged(up: Bool)
}

public enum ClaimOutcome: Sendable, Equatable {
    case claimed
    case heldBy(node: String)
    case unavailable
}

/// How the hub keeps time for the cluster: every interval is a setting so the tests can shorten them.
public struct ClusterTiming: Sendable {
    /// How often this node tells the others it is alive (and who is online on it).
    public var heartbeatInterval: Int64
    /// A node not heard from for this long is dead: its users go `out` everywhere.
    public var nodeTimeout: Int64
    /// How long after a login the node reads the user's inbox head once more (longer than a notice takes to
    /// reach every node).
    public var loginRecheckDelay: Int64

    public init(heartbeatInterval: Int64 = 2_000, nodeTimeout: Int64 = 10_000, loginRecheckDelay: Int64 = 1_000) {
        self.heartbeatInterval = heartbeatInterval
        self.nodeTimeout = nodeTimeout
        self.loginRecheckDelay = loginRecheckDelay
    }
}
