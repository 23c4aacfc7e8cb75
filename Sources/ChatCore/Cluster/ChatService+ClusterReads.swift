import Dispatch

/// What a cluster node reads from the shared store because its replica may lag: an account another node created
/// a moment ago, a user's inbox head (another node may have appended to it or moved its cursor), a second look at
/// a fresh login's inbox, and the whole replica again after the link to the other nodes was down. Every method here
/// runs with the hub's lock held; store completions come back through `resume(_:)`.
extension ChatService {
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

    /// cluster: a token this node does not know may have been handed out by another node just now.
    func lookUpToken(_ digest: String, then next: AfterTokenRead) {
        store.token(digest: digest) { [self] result in resume(.tokenRead(digest, result, next)) }
    }

    func tokenRead(_ digest: String, _ result: Result<TokenRecord?, any Error>, _ next: AfterTokenRead) {
        var known = false
        if case .success(let record?) = result {
            if accounts.token(digest: digest) == nil { accounts.addToken(record) }
            known = record.expiresAt > clock.now()
        }
        switch next {
        case .request(let request, let re, let session):
            guard !session.isClosed else { return }
            guard known else { return reply(session, .error(re: re, Self.badTokenError)) }
            handleLogin(request, re: re, session)
        case .bearer(let completion):
            let user = known ? accounts.user(forToken: digest, now: clock.now()) : nil
            afterUnlocking { completion(user.map { .success($0) } ?? .failure(Self.badTokenError)) }
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
            guard session.onlineUser == user, inbox.head(of: user).last > knownLast else { return }
            replayFromCursor(of: user, into: session)
        }
    }

    /// A second look at the store shortly after a login: a message committed on another node before its online
    /// notice got there went to the inbox only, and would otherwise wait for the next login.
    func catchUpAfterLogins(now: Int64, _ cluster: ClusterState) {
        let due = cluster.loginsToRecheck.filter { $0.at <= now }
        guard !due.isEmpty else { return }
        cluster.loginsToRecheck.removeAll { $0.at <= now }
        for (user, session, _) in due where session.onlineUser == user {
            refreshHead(of: user, then: .catchUp(session, knownLast: inbox.head(of: user).last))
        }
    }

    /// Accounts, tokens, blocks and rooms changed elsewhere while the link was down: read them again from the store, off
    /// the hub's lock (a whole snapshot is a slow read), then swap them in. This node's own changes made while the
    /// read runs may be missing from it, so they are noted meanwhile and applied again after the swap; a room
    /// that changed meanwhile (a decision here, a notice from another node) is read again on its own instead.
    func resyncReplicas() {
        guard let cluster, cluster.changesDuringResync == nil else { return }
        cluster.changesDuringResync = []
        let marks = rooms.marks()
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
                for var record in snapshot.rooms {
                    if rooms.mark(record.name) != marks[record.name] ?? .unknown {
                        rereadRoom(record.name, then: nil)
                        continue
                    }
                    // A message notice may have overtaken the read: keep the further last seq.
                    record.lastSeq = max(record.lastSeq, rooms.room(record.name)?.lastSeq ?? 0)
                    rooms.load(record)
                }
                // Room changes made here during the read changed their rooms' marks: those were read again above.
                for change in changes {
                    if case .roomChanged = change { continue }
                    apply(change, cluster)
                }
            }
        }
    }
}

/// What a cluster node does once the store has said whether an account it did not know exists.
enum AfterAccountRead {
    /// A `lookup` or `login` request, handled again.
    case request(ClientRequest, RequestID?, Session)
    case passwordCheck(PasswordCheck)
}

/// What a cluster node does once the store has said whether a token it did not know exists.
enum AfterTokenRead {
    /// A `login` with a token, handled again.
    case request(ClientRequest, RequestID?, Session)
    /// A REST call's bearer token: its user, or the refusal.
    case bearer(@Sendable (Result<String, ChatError>) -> Void)
}

/// What a cluster node does once it has read a user's inbox head from the store.
enum AfterHeadRead {
    case login(Entry)
    case inbox(Session, _ after: Int64?, _ limit: Int, _ wait: Int, RequestID?)
    case ack(Session, Int64, RequestID?)
    /// A recheck after a login: `knownLast` is the head this node had before the read.
    case catchUp(Session, knownLast: Int64)
}
