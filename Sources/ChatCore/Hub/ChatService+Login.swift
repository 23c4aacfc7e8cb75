/// Login, registration, lockout, logout and presence (SPEC.md §2–§3).
/// Every method here runs with `lock` held; completions from the hasher and the store re-take it.
extension ChatService {
    func handleLogin(_ request: ClientRequest, re: RequestID?, _ session: Session) {
        switch request {
        case .lookup(let user):
            // Lets a terminal client choose the password or the new-user prompt; counts no attempt.
            reply(session, .ok(re: re, .init(exists: accounts[user] != nil)))
        case .login(let user, let credential, let peer):
            guard session.state == .anonymous else { return refuseBusy(session, re: re) }
            session.peer = peer
            guard accounts[user] != nil else {
                return reply(session, .error(re: re, ChatError(.noSuchUser, Texts.invalidUser)))
            }
            let now = clock.now()
            if let retry = lockout.retryAfter(user, now: now) {
                metrics.loginsRefusedLocked += 1
                return reply(session, .error(re: re, ChatError(.locked, Texts.lockedAlready, retryAfter: retry)))
            }
            switch credential {
            case .token(let token):
                let digest = Tokens.digest(token)
                guard let record = tokens[digest], record.user == user, record.expiresAt > now else {
                    return reply(session, .error(re: re, ChatError(.badToken, "the token is unknown, expired or revoked")))
                }
                passwordAccepted(user, session, re: re, reuseToken: (token, digest))
            case .password(let password):
                session.state = .authenticating(user: user)
                checkPassword(user, password, peerHost: session.peerHost) { [self] error in
                    guard session.state == .authenticating(user: user) else { return }
                    session.state = .anonymous
                    if let error {
                        reply(session, .error(re: re, error))
                        return replayDeferred(session)
                    }
                    passwordAccepted(user, session, re: re, reuseToken: nil)
                }
            }
        case .register(let user, let password, let peer):
            guard session.state == .anonymous else { return refuseBusy(session, re: re) }
            guard AccountRules.isValidUsername(user) else {
                return reply(session, .error(re: re, ChatError(.invalidUsername, "a username is 1–32 letters, digits or punctuation")))
            }
            guard AccountRules.isValidPassword(password) else {
                return reply(session, .error(re: re, ChatError(.invalidPassword, "a password is 1–128 letters, digits or punctuation, no spaces")))
            }
            guard accounts[user] == nil, !reserved.contains(user) else {
                return reply(session, .error(re: re, ChatError(.userExists, "\(user) already exists")))
            }
            guard hasher.backlog < configuration.maxHashBacklog else { return refuseBusy(session, re: re) }
            if let error = admitRegistration(peerHost: session.peerHost) { return reply(session, .error(re: re, error)) }
            session.peer = peer
            session.state = .authenticating(user: user)
            reserved.insert(user)
            hasher.hash(password) { [self] encoded in
                locked { registrationHashed(user, password: password, encoded: encoded, session, re: re) }
            }
        default:
            break
        }
    }

    private func refuseBusy(_ session: Session, re: RequestID?) {
        metrics.loginsRefusedBusy += 1
        reply(session, .error(re: re, Self.busyError))
    }

    /// Checks `password` for `user` under every rule the doors share (SPEC.md §2): the per-address and per-account
    /// attempt limits, unknown user, lockout before and after hashing, the hashing throttle, and failure counting
    /// toward the lockout. `peerHost` is the caller's address (nil: not a network peer). `completion` runs with
    /// the lock held: nil means the password is right.
    func checkPassword(_ user: String, _ password: String, peerHost: String?,
                       completion: @escaping @Sendable (ChatError?) -> Void) {
        // An unknown name costs nothing (no hash runs) and tells nothing `lookup` would not; every other attempt is
        // throttled before any hashing (RELIABILITY.md §0.6): a storm is refused, not queued.
        guard let hash = accounts[user] else { return completion(ChatError(.noSuchUser, Texts.invalidUser)) }
        if let retry = lockout.retryAfter(user, now: clock.now()) {
            metrics.loginsRefusedLocked += 1
            return completion(ChatError(.locked, Texts.lockedAlready, retryAfter: retry))
        }
        if let error = refusePasswordAttempt(user: user, peerHost: peerHost) { return completion(error) }
        guard hasher.backlog < configuration.maxHashBacklog else {
            metrics.loginsRefusedBusy += 1
            return completion(Self.busyError)
        }
        hasher.verify(password, encoded: hash) { [self] matches in
            locked {
                let now = clock.now()
                // Another door may have locked the account while this check ran: SPEC.md §2.4 says even a right
                // password is refused then.
                if let retry = lockout.retryAfter(user, now: now) {
                    metrics.loginsRefusedLocked += 1
                    return completion(ChatError(.locked, Texts.lockedAlready, retryAfter: retry))
                }
                guard matches else {
                    metrics.loginsFailed += 1
                    chargeFailedAttempt(user: user, peerHost: peerHost)
                    let left = lockout.recordFailure(user, now: now, limit: configuration.maxFailedAttempts,
                                                     lockFor: configuration.blockDuration)
                    if left == 0 { metrics.lockouts += 1 }
                    let message = left == 0 ? Texts.lockedNow : Texts.invalidPassword
                    return completion(ChatError(.badPassword, message, attemptsLeft: left))
                }
                lockout.recordSuccess(user)
                completion(nil)
            }
        }
    }

    static let busyError = ChatError(.busy, "the server is busy with other logins; try again", retryAfter: 1)

    /// The credentials are right. SPEC.md §2.6: the password is checked first, then "already online".
    private func passwordAccepted(_ user: String, _ session: Session, re: RequestID?, reuseToken: (String, String)?) {
        guard online[user] == nil, !reserved.contains(user) else {
            session.state = .anonymous
            reply(session, .error(re: re, ChatError(.alreadyOnline, Texts.alreadyLoggedIn(user))))
            return replayDeferred(session)
        }
        reserved.insert(user)
        session.state = .entering(user: user)
        var writes: [StoreWrite] = []
        let token: String
        let digest: String
        if let (existing, existingDigest) = reuseToken {
            (token, digest) = (existing, existingDigest)
        } else {
            token = Tokens.generate()
            digest = Tokens.digest(token)
            let record = TokenRecord(digest: digest, user: user, expiresAt: clock.now() + configuration.tokenLifetime)
            tokens[digest] = record
            writes.append(.insertToken(record))
        }
        session.tokenDigest = digest
        if !writes.isEmpty { store.perform(writes) { _ in } }
        // The offline fetch is ordered after every message committed before it (ChatStore's contract); the ones
        // committed while we wait are parked in `lateMessages` by the messaging code.
        store.pendingMessages(for: user) { [self] result in
            locked {
                let messages = (try? result.get()) ?? []
                goOnline(user, session, re: re, token: token, created: false, offline: messages)
            }
        }
    }

    private func registrationHashed(_ user: String, password: String, encoded: String, _ session: Session, re: RequestID?) {
        let now = clock.now()
        let token = Tokens.generate()
        let record = TokenRecord(digest: Tokens.digest(token), user: user, expiresAt: now + configuration.tokenLifetime)
        let account = AccountRecord(name: user, passwordHash: encoded, createdAt: now)
        let appendPath = configuration.appendCredentialsPath
        store.perform([.createAccount(account), .insertToken(record)]) { [self] result in
            if case .success = result, let appendPath {
                // The brief's plaintext append, only with --append-credentials (off the event loops: this is the store thread).
                do { try CredentialsFile.append(user: user, password: password, to: appendPath) }
                catch { logger.warning("could not append to the credentials file", metadata: ["error": "\(error)"]) }
            }
            locked {
                switch result {
                case .success:
                    accounts[user] = encoded
                    tokens[record.digest] = record
                    metrics.registrations += 1
                    guard session.state == .authenticating(user: user) else {
                        reserved.remove(user)
                        return
                    }
                    session.state = .entering(user: user)
                    session.tokenDigest = record.digest
                    goOnline(user, session, re: re, token: token, created: true, offline: [])
                case .failure(let error):
                    reserved.remove(user)
                    logger.error("registration failed", metadata: ["user": "\(user)", "error": "\(error)"])
                    if session.state == .authenticating(user: user) { session.state = .anonymous }
                    reply(session, .error(re: re, ChatError(.internalError, "could not save the account; try again")))
                }
            }
        }
    }

    /// Welcome, then the offline queue oldest first, then presence to the others (PROTOCOL.md order).
    private func goOnline(_ user: String, _ session: Session, re: RequestID?, token: String, created: Bool,
                         offline: [StoredMessage]) {
        reserved.remove(user)
        guard session.state == .entering(user: user) else { return }
        let now = clock.now()
        session.state = .online(user: user)
        session.lastActivity = now
        online[user] = session
        metrics.loginsSucceeded += 1
        output.authenticated(session.id)
        reply(session, .welcome(re: re, user: user, token: token, created: created))
        var seen = Set<Int64>()
        var delivered: [Int64] = []
        for message in (offline + session.lateMessages) where seen.insert(message.id).inserted {
            reply(session, .message(message, offline: true))
            delivered.append(message.id)
        }
        session.lateMessages = []
        if !offline.isEmpty {
            metrics.offlineDelivered += offline.count
            store.perform([.markDelivered(offline.map(\.id))]) { _ in }
        }
        announcePresence(of: user, online: true, except: session)
        replayDeferred(session)
    }

    /// Requests pipelined behind the login: handled now that it succeeded, or refused now that it failed.
    func replayDeferred(_ session: Session) {
        let waiting = session.deferred
        session.deferred = []
        for (request, re) in waiting {
            if session.onlineUser != nil {
                handle(request, re: re, session)
            } else {
                reply(session, .error(re: re, ChatError(.notLoggedIn, "log in first")))
            }
        }
    }

    /// SPEC.md §3: if A has blocked B, B gets no presence lines about A.
    func announcePresence(of user: String, online isOnline: Bool, except session: Session) {
        let recipients = online.values.filter { $0 !== session && !hasBlocked(user, $0.onlineUser ?? "") }
        // Presence is a fan-out to everyone at every login and logout; coalesced, it rides along with the
        // recipients' other output instead of costing a write per recipient (a login storm stays cheap).
        fanOut(.presence(user: user, online: isOnline), to: recipients, coalesced: true)
    }

    func logOut(_ session: Session, re: RequestID?) {
        if let digest = session.tokenDigest {
            // PROTOCOL.md: logout revokes the token handed out with welcome.
            tokens[digest] = nil
            store.perform([.deleteToken(digest: digest)]) { _ in }
        }
        reply(session, .bye(re: re))
        end(session, notifyOthers: true)
        output.disconnect(session.id)
    }

    func timeOut(_ session: Session) {
        metrics.idleLogouts += 1
        reply(session, .timeout)
        end(session, notifyOthers: true)
        output.disconnect(session.id)
    }

    /// Takes the session offline once; every path out (logout, timeout, drop, too-large) ends here.
    func end(_ session: Session, notifyOthers: Bool) {
        let previous = session.state
        session.state = .closed
        switch previous {
        case .online(let user):
            online[user] = nil
            lastSeen[user] = clock.now()
            endPrivateChats(of: user)
            if notifyOthers { announcePresence(of: user, online: false, except: session) }
        case .entering(let user):
            reserved.remove(user)
        case .authenticating(let user):
            // A registration in flight keeps its reservation until the store answers.
            if accounts[user] == nil { break }
        case .anonymous, .closed:
            break
        }
    }
}
