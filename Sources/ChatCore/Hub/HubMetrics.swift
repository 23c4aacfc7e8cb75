/// Counters the hub keeps for `/metrics` (docs/PROTOCOL.md §10). Read with `ChatService.metricsSnapshot()`.
public struct HubMetrics: Sendable, Equatable {
    public var connections = 0
    public var loginsSucceeded = 0
    public var loginsFailed = 0
    public var loginsRefusedLocked = 0
    public var loginsRefusedBusy = 0
    public var registrations = 0
    public var lockouts = 0
    public var messages = 0
    public var broadcasts = 0
    public var deliveries = 0
    public var offlineStored = 0
    public var offlineDelivered = 0
    public var idleLogouts = 0
    public var onlineUsers = 0
    /// Refusals by the abuse limits (docs/SECURITY.md), each before any hashing or storing.
    public var rateLimitedMessages = 0
    public var loginsThrottledAddress = 0
    public var loginsThrottledAccount = 0
    public var registrationsThrottled = 0
    /// Rooms: messages said, and joins refused by the room limits.
    public var roomMessages = 0
    public var roomJoinsRefusedFull = 0
    public var roomJoinsRefusedTooMany = 0
    /// Cluster: users online on the other nodes as this node's replica sees them, and nodes found silent.
    public var clusterRemoteUsers = 0
    public var clusterNodesLost = 0
}
