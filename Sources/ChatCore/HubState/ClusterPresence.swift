/// The presence directory of a cluster node: this node's sessions (as on a single node) plus a replica of who is
/// online on the other nodes, kept in step by `online`/`offline` notices and repaired by every node's heartbeat,
/// which names its users. Reads stay synchronous lookups under the hub's lock.
///
/// `session(of:)` and `forEachOnline` see this node's sessions only (fan-out is per node: each node delivers to
/// its own); `users(onlineOrSeenSince:)` and `node(of:)` see the whole cluster.
final class ClusterPresence: PresenceDirectory {
    struct RemoteUser: Equatable {
        let node: String
        let peer: PeerCapability
    }

    private let local: LocalPresence
    private var remote: [String: RemoteUser] = [:]
    /// Other nodes: when each was last heard from, and who it said is online on it.
    private var nodes: [String: (heardAt: Int64, users: Set<String>)] = [:]
    /// Nodes with REST readers waiting on a user's inbox.
    private var waitingNodes: [String: Set<String>] = [:]

    init(lastSeen: [String: Int64] = [:]) {
        local = LocalPresence(lastSeen: lastSeen)
    }

    // MARK: PresenceDirectory (this node, plus the replica where the whole cluster counts)

    func session(of user: String) -> Session? { local.session(of: user) }
    var onlineCount: Int { local.onlineCount }
    func forEachOnline(_ body: (String, Session) -> Void) { local.forEachOnline(body) }

    func users(onlineOrSeenSince cutoff: Int64?) -> Set<String> {
        local.users(onlineOrSeenSince: cutoff).union(remote.keys)
    }

    func reserve(_ user: String) { local.reserve(user) }
    func release(_ user: String) { local.release(user) }
    func isReserved(_ user: String) -> Bool { local.isReserved(user) }
    func setOnline(_ user: String, _ session: Session) { local.setOnline(user, session) }
    func setOffline(_ user: String) { local.setOffline(user) }
    func setSeen(_ user: String, at time: Int64) { local.setSeen(user, at: time) }

    // MARK: The rest of the cluster

    /// The other node `user` is online on, or nil.
    func node(of user: String) -> String? { remote[user]?.node }
    func peer(of user: String) -> PeerCapability { remote[user]?.peer ?? .none }
    var remoteCount: Int { remote.count }

    /// Whether any user online on another node satisfies `test` (a broadcast's `partial`), without copying the
    /// table.
    func anyRemoteUser(where test: (String) -> Bool) -> Bool {
        remote.keys.contains(where: test)
    }

    /// `user` came online on `node`; false if the replica already had them there.
    @discardableResult
    func setRemoteOnline(_ user: String, node: String, peer: PeerCapability, now: Int64) -> Bool {
        heard(node, now: now)
        nodes[node]?.users.insert(user)
        let entry = RemoteUser(node: node, peer: peer)
        defer { remote[user] = entry }
        return remote[user]?.node != node
    }

    /// `user` left `node`; false if the replica did not have them there (a late or repeated notice).
    @discardableResult
    func setRemoteOffline(_ user: String, node: String) -> Bool {
        nodes[node]?.users.remove(user)
        guard remote[user]?.node == node else { return false }
        remote[user] = nil
        return true
    }

    /// A heartbeat: `node` is alive with exactly `users` online. Returns who the replica had wrong (notices lost
    /// on the way): users to announce as come online and as gone.
    func heartbeat(from node: String, users: [String], now: Int64) -> (arrived: [String], left: [String]) {
        let said = Set(users)
        let before = nodes[node]?.users ?? []
        nodes[node] = (now, said)
        var arrived: [String] = []
        for user in said where remote[user]?.node != node {
            // A peer capability lost with its notice is unknown here; the next online notice restores it.
            remote[user] = RemoteUser(node: node, peer: remote[user]?.peer ?? .none)
            arrived.append(user)
        }
        var left: [String] = []
        for user in before.subtracting(said) where remote[user]?.node == node {
            remote[user] = nil
            left.append(user)
        }
        return (arrived, left)
    }

    /// Whether `node` has been heard from before (a new node gets this node's heartbeat at once).
    func knows(_ node: String) -> Bool { nodes[node] != nil }

    private func heard(_ node: String, now: Int64) {
        if let state = nodes[node] { nodes[node]?.heardAt = max(state.heardAt, now) } else { nodes[node] = (now, []) }
    }

    /// Nodes silent for `timeout`: forgotten, with the users they had (who are offline now).
    func takeDeadNodes(now: Int64, timeout: Int64) -> [(node: String, users: [String])] {
        var dead: [(String, [String])] = []
        for (node, state) in nodes where now - state.heardAt >= timeout {
            nodes[node] = nil
            let users = remote.filter { $0.value.node == node }.map(\.key)
            for user in users { remote[user] = nil }
            for user in waitingNodes.keys { waitingNodes[user]?.remove(node) }
            dead.append((node, users.sorted()))
        }
        return dead
    }

    // MARK: REST readers elsewhere

    func setWaiting(_ user: String, node: String, _ isWaiting: Bool) {
        if isWaiting { waitingNodes[user, default: []].insert(node) } else {
            waitingNodes[user]?.remove(node)
            if waitingNodes[user]?.isEmpty == true { waitingNodes[user] = nil }
        }
    }

    /// Other nodes with REST readers waiting on `user`'s inbox.
    func nodesWaiting(on user: String) -> Set<String> { waitingNodes[user] ?? [] }
}
