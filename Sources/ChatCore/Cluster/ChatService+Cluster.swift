/// The hub as one node of a cluster (docs/SCALING.md): what it tells the other nodes, what it does with what
/// they tell it, and how it notices a node that died. Everything else in the hub is the same code on one node and
/// on many; the places that differ ask `cluster` and are marked "cluster:" where they do.
extension ChatService: ClusterListener {
    // MARK: Incoming

    /// A notice from another node (the link's thread). Applied under the hub's lock like any request.
    public func clusterReceived(_ notice: ClusterNotice) {
        serialized {
            guard let cluster else { return }
            apply(notice, cluster)
        }
    }

    /// The link to the other nodes went down or came back. Notices may have been lost meanwhile: on the way
    /// back up this node says at once who is online here, and every user online here reads their inbox again
    /// from the cursor (what was acked is not sent again; a client drops a seq it has already shown).
    public func clusterLinkChanged(up: Bool) {
        serialized {
            guard let cluster else { return }
            let wasDown = !cluster.linkUp
            cluster.linkUp = up
            guard up else { return }
            if wasDown {
                resyncReplicas()
                // A restarted Redis has forgotten who is online where: claim this node's users again.
                for user in localUsers() { cluster.link.claim(user) { _ in } }
            }
            cluster.link.publish(.heartbeat(node: cluster.link.node, users: localUsers()))
            presence.forEachOnline { user, session in replayFromCursor(of: user, into: session) }
        }
    }

    func apply(_ notice: ClusterNotice, _ cluster: ClusterState) {
        let now = clock.now()
        let replica = cluster.presence
        switch notice {
        case .online(let user, let node, let peer, let at):
            greetIfNew(node, cluster)
            presence.setSeen(user, at: at)
            if replica.setRemoteOnline(user, node: node, peer: peer, now: now) {
                announcePresence(of: user, online: true, except: nil)
            }
        case .offline(let user, let node, let at):
            presence.setSeen(user, at: at)
            if replica.setRemoteOffline(user, node: node) { remoteUserLeft(user) }
        case .heartbeat(let node, let users):
            greetIfNew(node, cluster)
            let change = replica.heartbeat(from: node, users: users, now: now)
            for user in change.arrived { announcePresence(of: user, online: true, except: nil) }
            for user in change.left {
                presence.setSeen(user, at: now)
                remoteUserLeft(user)
            }
        case .broadcast(let id, let from, let text, let at):
            var recipients: [Session] = []
            presence.forEachOnline { name, other in
                if name != from && !blocks.hasBlocked(name, from) { recipients.append(other) }
            }
            fanOut(.broadcast(id: id, from: from, text: text, at: at), to: recipients)
        case .account(let name, let hash):
            accounts.addAccount(name, passwordHash: hash)
        case .token(let record):
            accounts.addToken(record)
        case .revoked(let digest):
            _ = accounts.removeToken(digest: digest)
            for waiter in inbox.expire(token: digest) { answerWaiter(waiter, with: []) }
        case .block(let blocker, let blocked, let isBlocked):
            blocks.setBlocked(blocker, blocked, isBlocked)
        case .loginFailed(let user, let at):
            loginGuard.recordFailureElsewhere(user: user, now: at)
        case .loginSucceeded(let user):
            loginGuard.recordSuccess(user: user)
        case .waiting(let user, let node, let isWaiting):
            replica.setWaiting(user, node: node, isWaiting)
        case .committed(let message):
            deliverHere(message)
        case .roomChanged(let notice):
            applyRoomNotice(notice)
        case .roomMessage(let message):
            deliverRoomMessageHere(message)
        case .privateRequest(let asker, let target, let expiresAt):
            guard let session = presence.session(of: target) else { return }
            if privateChats.ask(.init(asker: asker, target: target), expiresAt: expiresAt) {
                reply(session, .privateRequest(from: asker))
            }
        case .privateAnswer(let asker, let target, let accepted, let host, let port, let token):
            let pair = PrivateChats.Pair(asker: asker, target: target)
            guard privateChats.answer(pair), let session = presence.session(of: asker) else { return }
            guard accepted else { return reply(session, .privateDeclined(user: target)) }
            privateChats.accept(pair)
            reply(session, .privateAccepted(user: target, host: host, port: port, token: token))
        case .signal(let from, let to, let data):
            guard privateChats.isAccepted(from, to), let session = presence.session(of: to) else { return }
            reply(session, .signal(from: from, data: data))
        }
    }

    /// A node heard from for the first time (it just started) learns at once who is online here, instead of at
    /// this node's next heartbeat.
    private func greetIfNew(_ node: String, _ cluster: ClusterState) {
        guard !cluster.presence.knows(node) else { return }
        cluster.link.send(.heartbeat(node: cluster.link.node, users: localUsers()), to: node)
    }

    /// `session` reads `user`'s inbox again (unless a replay into it runs already), after the cursor or after
    /// what the session was handed, whichever is later: what it may have missed while notices were lost comes.
    func replayFromCursor(of user: String, into session: Session) {
        guard inbox.replay(of: user, into: session) == nil else { return }
        readNextReplayPage(of: user, into: session, after: inbox.startReplay(of: user, into: session))
    }

    /// A user online on another node is gone: `out` for the people here, and their private chats end.
    private func remoteUserLeft(_ user: String) {
        endPrivateChats(of: user)
        announcePresence(of: user, online: false, except: nil)
    }

    func localUsers() -> [String] {
        var users: [String] = []
        users.reserveCapacity(presence.onlineCount)
        presence.forEachOnline { user, _ in users.append(user) }
        return users
    }

    /// Called when `session` has gone online for `user` on this node.
    func clusterWentOnline(_ user: String, _ session: Session, now: Int64) {
        guard let cluster else { return }
        cluster.link.publish(.online(user: user, node: cluster.link.node, peer: session.peer, at: now))
        cluster.loginsToRecheck.append((user, session, now + cluster.timing.loginRecheckDelay))
    }

    // MARK: Logins

    /// The claim for a login or a new account's first session came back.
    func claimed(_ entry: Entry, _ purpose: ClaimPurpose, _ outcome: ClaimOutcome) {
        let (user, session) = (entry.user, entry.session)
        guard session.state == .entering(user: user) else {
            // The session ended while the claim was made: give it back.
            if outcome == .claimed, presence.session(of: user) == nil { cluster?.link.release(user) }
            return
        }
        switch outcome {
        case .claimed:
            switch purpose {
            case .login:
                // Another node may have appended to this inbox, or moved its cursor, since this node last heard.
                refreshHead(of: user, then: .login(entry))
            case .registration: goOnline(entry, offline: .success([]), created: true)
            }
        case .heldBy, .unavailable:
            presence.release(user)
            session.state = .anonymous
            let error = outcome == .unavailable
                ? ChatError(.internalError, "the cluster is unavailable; try again")
                : ChatError(.alreadyOnline, Texts.alreadyLoggedIn(user))
            reply(session, .error(re: entry.re, error))
            replayDeferred(session)
        }
    }

    // MARK: Outgoing

    /// Tells every other node, if this hub is part of a cluster.
    func tellCluster(_ notice: @autoclosure () -> ClusterNotice) {
        guard let cluster else { return }
        let notice = notice()
        cluster.link.publish(notice)
        switch notice {
        case .account, .token, .revoked, .block, .roomChanged: cluster.changesDuringResync?.append(notice)
        default: break
        }
    }

    /// The heartbeat, the nodes that fell silent, and the broadcast id pool: from the hub's sweep.
    func clusterSweep(now: Int64) {
        guard let cluster else { return }
        if now - cluster.lastHeartbeat >= cluster.timing.heartbeatInterval {
            cluster.lastHeartbeat = now
            cluster.link.publish(.heartbeat(node: cluster.link.node, users: localUsers()))
        }
        for (node, users) in cluster.presence.takeDeadNodes(now: now, timeout: cluster.timing.nodeTimeout) {
            logger.warning("cluster node silent: its users are offline", metadata: ["node": "\(node)",
                                                                                    "users": "\(users.count)"])
            metrics.clusterNodesLost += 1
            for user in users {
                presence.setSeen(user, at: now)
                remoteUserLeft(user)
            }
        }
        catchUpAfterLogins(now: now, cluster)
        refillBroadcastIDs(cluster)
    }

    /// The id of a broadcast: on one node the next message id; in a cluster one drawn ahead of time from the
    /// store's sequence (nil when none is left: the bus or the store has been down for a while).
    func nextBroadcastID() -> Int64? {
        guard let cluster else {
            defer { nextMessageID += 1 }
            return nextMessageID
        }
        defer { refillBroadcastIDs(cluster) }
        return cluster.broadcastIDs.popLast()
    }

    private func refillBroadcastIDs(_ cluster: ClusterState) {
        guard cluster.broadcastIDs.count < ClusterState.idLowWater, !cluster.idsRequested else { return }
        cluster.idsRequested = true
        cluster.link.reserveIDs(count: ClusterState.idBatch) { [self] ids in
            serialized {
                guard let cluster = self.cluster else { return }
                cluster.idsRequested = false
                // Popped from the end: keep the smallest last, so ids go up.
                cluster.broadcastIDs = (ids + cluster.broadcastIDs).sorted(by: >)
            }
        }
    }

    /// Where a committed message for `user` must go besides this node: the node they are online on, and nodes
    /// with REST readers waiting on their inbox.
    func otherNodes(for user: String) -> Set<String> {
        guard let cluster else { return [] }
        var targets = cluster.presence.nodesWaiting(on: user)
        if let node = cluster.presence.node(of: user) { targets.insert(node) }
        targets.remove(cluster.link.node)
        return targets
    }

    /// A REST reader started or stopped waiting on `user`'s inbox here: the other nodes must (no longer) tell
    /// this one about `user`'s messages.
    func waitingChanged(on user: String) {
        guard let cluster else { return }
        let waiting = inbox.isWaiting(on: user)
        guard waiting != cluster.waitingUsers.contains(user) else { return }
        if waiting { cluster.waitingUsers.insert(user) } else { cluster.waitingUsers.remove(user) }
        cluster.link.publish(.waiting(user: user, node: cluster.link.node, isWaiting: waiting))
    }
}

/// What a hub keeps about its cluster besides the presence replica. Confined to the hub's lock.
final class ClusterState {
    let link: any ClusterLink
    let presence: ClusterPresence
    let timing: ClusterTiming
    var lastHeartbeat: Int64 = 0
    var linkUp = true
    /// Ids for broadcasts, largest first (drawn from the end).
    var broadcastIDs: [Int64] = []
    var idsRequested = false
    /// Users with REST readers waiting here, as last told to the other nodes.
    var waitingUsers: Set<String> = []
    /// Logins whose inbox is read once more shortly after (ChatService.catchUpAfterLogins).
    var loginsToRecheck: [(user: String, session: Session, at: Int64)] = []
    /// While a resync reads the store: this node's own replica changes, applied again once it is swapped in.
    var changesDuringResync: [ClusterNotice]?
    static let idBatch = 1000
    static let idLowWater = 200

    init(link: any ClusterLink, presence: ClusterPresence, timing: ClusterTiming) {
        self.link = link
        self.presence = presence
        self.timing = timing
    }
}
