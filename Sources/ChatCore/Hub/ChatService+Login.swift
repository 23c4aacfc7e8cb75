/// Login, registration, going online, logout, idle timeout and the end of a session (docs/PROTOCOL.md §3, §7), for
/// socket sessions and REST alike. Every method here runs with the hub's lock held; the hasher and the store come back
/// through `resume(_:)`.
///
/// A login: pre-checks (unknown user, lockout) → a token resumes at once, a password is checked (below) →
/// "already online"? → the offline queue is fetched → online. Over REST the same checks end in a new token
/// instead of going online. A registration: the shared rules (`registrationRefusal`) → hash → store the account
/// and its first token → online (socket) or a token (REST).
extension ChatService {
    func handleLogin(_ request: ClientRequest, re: RequestID?, _ session: Session) {
        switch request {
        case .lookup(let user):
            // Lets a terminal client choose the password or the new-user prompt; counts no attempt.
            if !accounts.exists(user), cluster != nil { return lookUpAccount(user, then: .request(request, re, session)) }
            reply(session, .ok(re: re, .init(exists: accounts.exists(user))))
        case .login(let user, let credential, let peer, let acks):
            guard session.state == .anonymous else { return refuseBusy(session, re: re) }
            guard accounts.exists(user) else {
                if cluster != nil { return lookUpAccount(user, then: .request(request, re, session)) }
                return reply(session, .error(re: re, ChatError(.noSuchUser, Texts.invalidUser)))
            }
            session.peer = peer
            session.acks = acks
            let now = clock.now()
            if let retry = loginGuard.lockedFor(user, now: now) {
                metrics.loginsRefusedLocked += 1
                return reply(session, .error(re: re, ChatError(.locked, Texts.lockedAlready, retryAfter: retry)))
            }
            switch credential {
            case .token(let token):
                let digest = Tokens.digest(token)
                guard accounts.user(forToken: digest, now: now) == user else {
                    if cluster != nil, accounts.token(digest: digest) == nil {
                        return lookUpToken(digest, then: .request(request, re, session))
                    }
                    return reply(session, .error(re: re, Self.badTokenError))
                }
                passwordAccepted(user, session, re: re, reuseToken: (token, digest))
            case .password(let password):
                session.state = .authenticating(user: user)
                checkPassword(PasswordCheck(user: user, password: password, peerHost: session.peerHost,
                                            purpose: .login(session, re: re)))
            }
        case .register(let user, let password, let peer, let acks):
            guard session.state == .anonymous else { return refuseBusy(session, re: re) }
            if let error = registrationRefusal(user, password, peerHost: session.peerHost) {
                return reply(session, .error(re: re, error))
            }
            session.peer = peer
            session.acks = acks
            session.state = .authenticating(user: user)
            presence.reserve(user)
            let registration = Registration(user: user, password: password, session: session, re: re)
            hasher.hash(password) { [self] encoded in resume(.registrationHashed(registration, encoded: encoded)) }
        default:
            break
        }
    }

    static let busyError = ChatError(.busy, "the server is busy with other logins; try again", retryAfter: 1)
    static let badTokenError = ChatError(.badToken, "the token is unknown, expired or revoked")

    private func refuseBusy(_ session: Session, re: RequestID?) {
        metrics.loginsRefusedBusy += 1
        reply(session, .error(re: re, Self.busyError))
    }

    // MARK: Password checks (every door)

    /// Checks a password under every rule the doors share (docs/PROTOCOL.md §3): unknown user, lockout before and
    /// after hashing, the per-address and per-account attempt limits, the hashing backlog, and failures counting
    /// toward the lockout. An unknown name costs nothing (no hash runs) and tells nothing `lookup` would not; every
    /// other attempt is throttled before any hashing (docs/SECURITY.md, "Passwords and accounts"): a storm is refused,
    /// not queued.
    func checkPassword(_ check: PasswordCheck) {
        guard let hash = accounts.passwordHash(of: check.user) else {
            if cluster != nil { return lookUpAccount(check.user, then: .passwordCheck(check)) }
            return passwordCheckFinished(check, ChatError(.noSuchUser, Texts.invalidUser))
        }
        let now = clock.now()
        if let retry = loginGuard.lockedFor(check.user, now: now) {
            metrics.loginsRefusedLocked += 1
            return passwordCheckFinished(check, ChatError(.locked, Texts.lockedAlready, retryAfter: retry))
        }
        switch loginGuard.throttlePasswordAttempt(user: check.user, from: check.peerHost, now: now) {
        case .address(let retry)?:
            metrics.loginsThrottledAddress += 1
            return passwordCheckFinished(check, Self.rateLimited("failed logins from your address", retryAfter: retry))
        case .account(let retry)?:
            metrics.loginsThrottledAccount += 1
            return passwordCheckFinished(check, Self.rateLimited("failed logins for this account", retryAfter: retry))
        case nil:
            break
        }
        guard hasher.backlog < configuration.maxHashBacklog else {
            metrics.loginsRefusedBusy += 1
            return passwordCheckFinished(check, Self.busyError)
        }
        hasher.verify(check.password, encoded: hash) { [self] matches in
            resume(.passwordChecked(check, matches: matches))
        }
    }

    /// The hasher's verdict.
    func passwordChecked(_ check: PasswordCheck, matches: Bool) {
        let now = clock.now()
        // Another door may have locked the account while this check ran: docs/PROTOCOL.md §3 says even a right
        // password is refused then.
        if let retry = loginGuard.lockedFor(check.user, now: now) {
            metrics.loginsRefusedLocked += 1
            return passwordCheckFinished(check, ChatError(.locked, Texts.lockedAlready, retryAfter: retry))
        }
        guard matches else {
            metrics.loginsFailed += 1
            let left = loginGuard.recordFailure(user: check.user, from: check.peerHost, now: now)
            tellCluster(.loginFailed(user: check.user, at: now))
            if left == 0 { metrics.lockouts += 1 }
            let message = left == 0 ? Texts.lockedNow : Texts.invalidPassword
            return passwordCheckFinished(check, ChatError(.badPassword, message, attemptsLeft: left))
        }
        loginGuard.recordSuccess(user: check.user)
        tellCluster(.loginSucceeded(user: check.user))
        passwordCheckFinished(check, nil)
    }

    /// The outcome of a password check (nil: the password is right), to whoever waits for it.
    func passwordCheckFinished(_ check: PasswordCheck, _ error: ChatError?) {
        switch check.purpose {
        case .credentials(let completion):
            let result: Result<String, ChatError> = error.map { .failure($0) } ?? .success(check.user)
            afterUnlocking { completion(result) }
        case .login(let session, let re):
            guard session.state == .authenticating(user: check.user) else { return }
            session.state = .anonymous
            if let error {
                reply(session, .error(re: re, error))
                return replayDeferred(session)
            }
            passwordAccepted(check.user, session, re: re, reuseToken: nil)
        }
    }

    /// The credentials are right. docs/PROTOCOL.md §3: the password is checked first, then "already online". A REST
    /// login gets a new token and goes no further: it never goes online.
    private func passwordAccepted(_ user: String, _ session: Session, re: RequestID?, reuseToken: (String, String)?) {
        if session.isREST {
            return reply(session, .welcome(re: re, user: user, token: newToken(for: user), created: false))
        }
        guard presence.session(of: user) == nil, !presence.isReserved(user),
              cluster?.presence.node(of: user) == nil else {
            session.state = .anonymous
            reply(session, .error(re: re, ChatError(.alreadyOnline, Texts.alreadyLoggedIn(user))))
            return replayDeferred(session)
        }
        presence.reserve(user)
        session.state = .entering(user: user)
        let token: String
        if let (existing, digest) = reuseToken {
            token = existing
            session.tokenDigest = digest
        } else {
            token = newToken(for: user)
            session.tokenDigest = Tokens.digest(token)
        }
        let entry = Entry(user: user, session: session, re: re, token: token)
        guard let cluster else { return startReplay(entry) }
        // cluster: "already online" holds across nodes only through the cluster-wide claim.
        cluster.link.claim(user) { [self] outcome in resume(.claimed(entry, .login, outcome)) }
    }

    /// The first page of the inbox after the cursor. The read is ordered after every message committed before it
    /// (ChatStore's contract); the ones committed while the replay runs are held by it and follow it.
    func startReplay(_ entry: Entry) {
        let after = inbox.startReplay(of: entry.user, into: entry.session)
        readReplayPage(of: entry.user, after: after) { [self] result in
            resume(.offlineFetched(entry, result))
        }
    }

    /// A new bearer token for `user`, remembered and stored.
    func newToken(for user: String) -> String {
        let token = Tokens.generate()
        let record = TokenRecord(digest: Tokens.digest(token), user: user,
                                 expiresAt: clock.now() + configuration.tokenLifetime)
        accounts.addToken(record)
        store.perform([.insertToken(record)]) { _ in }
        tellCluster(.token(record))
        return token
    }

    // MARK: Registration (every door)

    /// The rules a new account must pass before its password is hashed, the same on every door: a valid name and
    /// password, a free name, room in the hasher's backlog, and the per-address registration budget.
    private func registrationRefusal(_ user: String, _ password: String, peerHost: String?) -> ChatError? {
        guard AccountRules.isValidUsername(user) else {
            return ChatError(.invalidUsername, "a username is 1–32 letters, digits or punctuation")
        }
        guard AccountRules.isValidPassword(password) else {
            return ChatError(.invalidPassword, "a password is 1–128 letters, digits or punctuation, no spaces")
        }
        guard !accounts.exists(user), !presence.isReserved(user) else {
            return ChatError(.userExists, "\(user) already exists")
        }
        guard hasher.backlog < configuration.maxHashBacklog else {
            metrics.loginsRefusedBusy += 1
            return Self.busyError
        }
        if let retry = loginGuard.admitRegistration(from: peerHost, now: clock.now()) {
            metrics.registrationsThrottled += 1
            return Self.rateLimited("registrations from your address", retryAfter: retry)
        }
        return nil
    }

    func registrationHashed(_ registration: Registration, encoded: String) {
        // "" is the hasher's answer when it could not hash (its pool full or stopped, no memory for the working
        // block). An account stored with it could never log in by password, so the name stays free and the client
        // is told to try again.
        guard !encoded.isEmpty else {
            abandon(registration)
            return reply(registration.session, .error(re: registration.re, Self.busyError))
        }
        let now = clock.now()
        let token = Tokens.generate()
        let record = TokenRecord(digest: Tokens.digest(token), user: registration.user,
                                 expiresAt: now + configuration.tokenLifetime)
        let new = NewAccount(account: AccountRecord(name: registration.user, passwordHash: encoded, createdAt: now),
                             token: token, record: record)
        let appendPath = configuration.appendCredentialsPath
        store.perform([.createAccount(new.account), .insertToken(record)]) { [self] result in
            // On the store's thread, off the event loops, and only once the account is durable.
            if case .success = result, let appendPath {
                appendCredentials(registration.user, registration.password, to: appendPath)
            }
            resume(.registrationStored(registration, new, error: result.failure))
        }
    }

    /// `--append-credentials`: the plaintext credentials file, for every door's new accounts.
    private func appendCredentials(_ user: String, _ password: String, to path: String) {
        do { try CredentialsFile.append(user: user, password: password, to: path) }
        catch { logger.warning("could not append to the credentials file", metadata: ["error": "\(error)"]) }
    }

    /// A registration that will not happen: the name it reserved is free again, and its session may try anew.
    private func abandon(_ registration: Registration) {
        let (user, session) = (registration.user, registration.session)
        presence.release(user)
        if session.state == .authenticating(user: user) { session.state = .anonymous }
    }

    func registrationStored(_ registration: Registration, _ new: NewAccount, error: (any Error)?) {
        let (user, session, re) = (registration.user, registration.session, registration.re)
        if let error {
            abandon(registration)
            // cluster: another node registered the same name first; the shared store said so.
            if case StoreError.constraint = error {
                return reply(session, .error(re: re, ChatError(.userExists, "\(user) already exists")))
            }
            logger.error("registration failed", metadata: ["user": "\(user)", "error": "\(error)"])
            return reply(session, .error(re: re, ChatError(.internalError, "could not save the account; try again")))
        }
        accounts.addAccount(user, passwordHash: new.account.passwordHash)
        accounts.addToken(new.record)
        tellCluster(.account(name: user, passwordHash: new.account.passwordHash))
        tellCluster(.token(new.record))
        metrics.registrations += 1
        if session.isREST {
            presence.release(user)
            return reply(session, .welcome(re: re, user: user, token: new.token, created: true))
        }
        guard session.state == .authenticating(user: user) else {
            presence.release(user)
            return
        }
        session.state = .entering(user: user)
        session.tokenDigest = new.record.digest
        let entry = Entry(user: user, session: session, re: re, token: new.token)
        guard let cluster else { return goOnline(entry, offline: .success([]), created: true) }
        cluster.link.claim(user) { [self] outcome in resume(.claimed(entry, .registration, outcome)) }
    }

    static func rateLimited(_ what: String, retryAfter: Int) -> ChatError {
        ChatError(.rateLimited, "too many \(what); try again in \(retryAfter) s", retryAfter: retryAfter)
    }

    // MARK: Online and offline

    /// Welcome, then the inbox after the cursor oldest first, then presence to the others (docs/PROTOCOL.md §7).
    /// A long inbox follows in further pages once the user is online; messages committed meanwhile wait for it.
    func goOnline(_ entry: Entry, offline: Result<[StoredMessage], any Error>, created: Bool = false) {
        let (user, session) = (entry.user, entry.session)
        guard session.state == .entering(user: user) else { return }  // it ended meanwhile, and released the name
        presence.release(user)
        let now = clock.now()
        session.state = .online(user: user)
        session.lastActivity = now
        presence.setOnline(user, session)
        rooms.audienceChanged(of: user)
        recordSeen([user], at: now)
        clusterWentOnline(user, session, now: now)
        metrics.loginsSucceeded += 1
        output.authenticated(session.id)
        reply(session, .welcome(re: entry.re, user: user, token: entry.token, created: created))
        holdRoomMessages(of: user, for: session)
        replayPageRead(user, session, offline)
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

    /// docs/PROTOCOL.md §7: if A has blocked B, B gets no presence lines about A.
    func announcePresence(of user: String, online isOnline: Bool, except session: Session?) {
        var recipients: [Session] = []
        recipients.reserveCapacity(presence.onlineCount)
        presence.forEachOnline { name, other in
            if other !== session && !blocks.hasBlocked(user, name) { recipients.append(other) }
        }
        // Presence is a fan-out to everyone at every login and logout; coalesced, it rides along with the
        // recipients' other output instead of costing a write per recipient (a login storm stays cheap).
        fanOut(.presence(user: user, online: isOnline), to: recipients, coalesced: true)
    }

    func logOut(_ session: Session, re: RequestID?) {
        if let digest = session.tokenDigest {
            // docs/PROTOCOL.md §3: logout revokes the token handed out with welcome.
            revoke(digest: digest)
        }
        reply(session, .bye(re: re))
        end(session, notifyOthers: true)
        output.disconnect(session.id)
    }

    /// Login history: `users` were online at `now`, in memory and in the store, so whoelsesince answers the same
    /// after a restart. Written at login, at the end of a session and for everyone still online at a stop.
    func recordSeen(_ users: [String], at now: Int64) {
        guard !users.isEmpty else { return }
        for user in users { presence.setSeen(user, at: now) }
        store.perform(users.map { .recordSeen(user: $0, at: now) }) { _ in }
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
            let now = clock.now()
            settleRoomCursors(of: user, session)
            presence.setOffline(user)
            rooms.audienceChanged(of: user)
            recordSeen([user], at: now)
            if let cluster {
                cluster.link.publish(.offline(user: user, node: cluster.link.node, at: now))
                // The next login may be on another node, which reads the cursor from the store: it goes there
                // first, and the claim is given back only once it is durable.
                let cursors = (inbox.takeCursorWrite(of: user).map { [$0] } ?? []) + rooms.takeCursorWrites(of: user)
                if !cursors.isEmpty {
                    let link = cluster.link
                    store.perform(cursors) { _ in link.release(user) }
                } else {
                    cluster.link.release(user)
                }
            }
            inbox.cancelReplay(of: user, into: session)
            endPrivateChats(of: user)
            if notifyOthers { announcePresence(of: user, online: false, except: session) }
        case .entering(let user):
            presence.release(user)
            inbox.cancelReplay(of: user, into: session)
            // cluster: a claim already made is given back; one still in flight is given back when it returns.
            cluster?.link.release(user)
        case .authenticating, .anonymous, .closed:
            // A registration in flight keeps its reservation until the store answers.
            break
        }
    }
}
