import Dispatch

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
            presence.forEachOnline { user, session in
                guard inbox.replay(of: user, into: session) == nil else { return }
                inbox.startReplay(of: user, into: session)
                readNextReplayPage(of: user, into: session, after: inbox.head(of: user).acked)
            }
        }
    }

    /// Accounts, tokens and blocks changed elsewhere while the link was down: read them again from the store, off
    /// the hub's lock (a whole snapshot is a slow read), then swap them in. This node's own changes made while the
    /// read runs may be missing from it, so they are noted meanwhile and applied again after the swap.
    private func resyncReplicas() {
        guard let cluster, cluster.changesDuringResync == nil else { return }
        cluster.changesDuringResync = []
        let store = store
        DispatchQueue.global().async { [self] in
            let snapshot: StoreSnapshot?
            do { snapshot = try store.loadSnapshot() } catch {
                logger.error("cluster resync failed; replicas stay as they are", metadata: ["error": "\(error)"])
                snapshot = nil
            }
            serialized {
                guard let cluster = self.cluster else { return }
                let changes = cluster.changesDuringResync ?? []
                cluster.changesDuringResync = nil
                guard let snapshot else { return }
                accounts.replaceAll(accounts: snapshot.accounts, tokens: snapshot.tokens)
                blocks.replaceAll(snapshot.blocks)
                for change in changes { apply(change, cluster) }
            }
        }
    }

    private func apply(_ notice: ClusterNotice, _ cluster: ClusterState) {
        let now = clock.now()
        let replica = cluster.presence
        switch notice {
        case .online(let user, let node, let peer, let at):
            if !replica.knows(node) { cluster.link.send(.heartbeat(node: cluster.link.node, users: localUsers()), to: node) }
            presence.setSeen(user, at: at)
            if replica.setRemoteOnline(user, node: node, peer: peer, now: now) {
                announcePresence(of: user, online: true, except: nil)
            }
        case .offline(let user, let node, let at):
            presence.setSeen(user, at: at)
            if replica.setRemoteOffline(user, node: node) { remoteUserLeft(user) }
        case .heartbeat(let node, let users):
            if !replica.knows(node) { cluster.link.send(.heartbeat(node: cluster.link.node, users: localUsers()), to: node) }
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

    // MARK: Accounts made on another node a moment ago

    /// cluster: `user` is not in this node's replica, but another node may have created the account just now,
    /// before its notice got here: the store says. Found, it joins the replica and `next` runs again.
    func lookUpAccount(_ user: String, then next: AfterAccountRead) {
        store.account(named: user) { [self] result in resume(.accountRead(user, result, next)) }
    }

    func accountRead(_ user: String, _ result: Result<AccountRecord?, any Error>, _ next: AfterAccountRead) {
        let found: Bool
        switch result {
        case .success(let record?):
            if !accounts.exists(user) { accounts.addAccount(user, passwordHash: record.passwordHash) }
            found = true
        case .success(nil):
            found = false
        case .failure(let error):
            logger.error("account read failed", metadata: ["user": "\(user)", "error": "\(error)"])
            found = false
        }
        switch next {
        case .request(let request, let re, let session):
            guard !session.isClosed else { return }
            guard found else {
                if case .lookup = request { return reply(session, .ok(re: re, .init(exists: false))) }
                return reply(session, .error(re: re, ChatError(.noSuchUser, Texts.invalidUser)))
            }
            handleLogin(request, re: re, session)
        case .passwordCheck(let check):
            guard found else { return passwordCheckFinished(check, ChatError(.noSuchUser, Texts.invalidUser)) }
            checkPassword(check)
        }
    }

    // MARK: Inbox heads kept by the shared store

    /// cluster: reads `user`'s inbox head from the store (another node may have appended to it or moved its
    /// cursor), folds it into this node's, then goes on with `next`.
    func refreshHead(of user: String, then next: AfterHeadRead) {
        store.inboxHead(of: user) { [self] result in resume(.headRead(user, result, next)) }
    }

    func headRead(_ user: String, _ result: Result<InboxHead, any Error>, _ next: AfterHeadRead) {
        switch result {
        case .success(let head):
            inbox.merge(user, head)
        case .failure(let error):
            logger.error("inbox head read failed", metadata: ["user": "\(user)", "error": "\(error)"])
            switch next {
            case .login(let entry):
                guard entry.session.state == .entering(user: user) else { return }
                presence.release(user)
                cluster?.link.release(user)
                entry.session.state = .anonymous
                reply(entry.session, .error(re: entry.re, ChatError(.internalError, "the inbox is unavailable; try again")))
                return replayDeferred(entry.session)
            case .inbox(let session, _, _, _, let re), .ack(let session, _, let re):
                return reply(session, .error(re: re, ChatError(.internalError, "the inbox is unavailable; try again")))
            case .catchUp:
                return
            }
        }
        switch next {
        case .login(let entry):
            guard entry.session.state == .entering(user: user) else { return }
            startReplay(entry)
        case .inbox(let session, let after, let limit, let wait, let re):
            readInbox(of: user, after: after, limit: limit, wait: wait, re: re, session)
        case .ack(let session, let seq, let re):
            acknowledge(user, upTo: seq, re: re, session)
            // The next read may come to another node: the cursor goes to the shared store now, not at the sweep.
            flushCursors()
        case .catchUp(let session, let knownLast):
            // Something committed before the other nodes knew this user was here: read it now.
            guard session.onlineUser == user, inbox.head(of: user).last > knownLast,
                  inbox.replay(of: user, into: session) == nil else { return }
            inbox.startReplay(of: user, into: session)
            readNextReplayPage(of: user, into: session, after: inbox.head(of: user).acked)
        }
    }

    /// A second look at the store shortly after a login: a message committed on another node before its online
    /// notice got there went to the inbox only, and would otherwise wait for the next login.
    private func catchUpAfterLogins(now: Int64, _ cluster: ClusterState) {
        let due = cluster.loginsToRecheck.filter { $0.at <= now }
        guard !due.isEmpty else { return }
        cluster.loginsToRecheck.removeAll { $0.at <= now }
        for (user, session, _) in due where session.onlineUser == user {
            refreshHead(of: user, then: .catchUp(session, knownLast: inbox.head(of: user).last))
        }
    }

    /// Called when `session` has gone online for `user` on this node.
    func clusterWentOnline(_ user: String, _ session: Session, now: Int64) {
        guard let cluster else { return }
        cluster.link.publish(.online(user: user, node: cluster.link.node, peer: session.peer, at: now))
        cluster.loginsToRecheck.append((user, session, now + cluster.timing.loginRecheckDelay))
    }

    // MARK: Outgoing

    /// Tells every other node, if this hub is part of a cluster.
    func tellCluster(_ notice: @autoclosure () -> ClusterNotice) {
        guard let cluster else { return }
        let notice = notice()
        cluster.link.publish(notice)
        switch notice {
        case .account, .token, .revoked, .block: cluster.changesDuringResync?.append(notice)
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

/// What a cluster node does once the store has said whether an account it did not know exists.
enum AfterAccountRead {
    /// A `lookup` or `login` request, handled again.
    case request(ClientRequest, RequestID?, Session)
    case passwordCheck(PasswordCheck)
}

/// What a cluster node does once it has read a user's inbox head from the store.
enum AfterHeadRead {
    case login(Entry)
    case inbox(Session, _ after: Int64?, _ limit: Int, _ wait: Int, RequestID?)
    case ack(Session, Int64, RequestID?)
    /// A recheck after a login: `knownLast` is the head this node had before the read.
    case catchUp(Session, knownLast: Int64)
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
