import Foundation
import Logging

/// The chat hub: every door (TCP, text mode, WebSocket, REST) talks to this one object.
///
/// Threading: all mutable state below is guarded by `lock` (DESIGN.md principle 6). Callers are event-loop
/// threads (requests), the store's writer thread (commits) and the hasher's workers (password checks); none of
/// them blocks here for long. Output is handed to `output` while the lock is held, so the order of events on the
/// wire is the order the hub decided them in. Slow work (hashing, SQLite) is only *started* under the lock.
public final class ChatService: @unchecked Sendable {
    let configuration: HubConfiguration
    let store: any ChatStore
    let hasher: any PasswordHasher
    let output: any ChatOutput
    let clock: any ChatClock
    let logger: Logger
    let lock = NSLock()

    // MARK: State, guarded by `lock`
    var sessions: [ClientID: Session] = [:]
    /// Online users and their session (SPEC.md: one session per user).
    var online: [String: Session] = [:]
    /// Names whose login or registration is in flight, so a second one gets `already_online` / `user_exists`.
    var reserved: Set<String> = []
    /// Account name → encoded password hash, loaded at start and kept in step with the store.
    var accounts: [String: String] = [:]
    /// blocker → users they blocked.
    var blocks: [String: Set<String>] = [:]
    var tokens: [String: TokenRecord] = [:]
    var lockout = Lockout()
    var throttles: Throttles
    /// Last logout time per user since server start, for whoelsesince.
    var lastSeen: [String: Int64] = [:]
    var nextMessageID: Int64
    var privateChats = PrivateChats()
    var metrics = HubMetrics()
    let startedAt: Int64
    var lastTokenSweep: Int64 = 0

    public init(configuration: HubConfiguration, snapshot: StoreSnapshot, store: any ChatStore,
                hasher: any PasswordHasher, output: any ChatOutput, clock: any ChatClock = SystemClock(),
                logger: Logger = Logger(label: "parley.hub")) {
        self.configuration = configuration
        self.store = store
        self.hasher = hasher
        self.output = output
        self.clock = clock
        self.logger = logger
        for account in snapshot.accounts { accounts[account.name] = account.passwordHash }
        blocks = snapshot.blocks
        for token in snapshot.tokens { tokens[token.digest] = token }
        nextMessageID = snapshot.lastMessageID + 1
        startedAt = clock.now()
        throttles = Throttles(configuration.limits)
    }

    // MARK: Entry points from the transports

    /// A client connected (for TCP: once its first byte told JSON from text).
    public func connect(_ id: ClientID, kind: ClientKind, peerHost: String) {
        locked {
            let session = Session(id: id, kind: kind, peerHost: peerHost, now: clock.now())
            sessions[id] = session
            metrics.connections += 1
        }
    }

    /// One JSON request or one typed line from a client.
    ///
    /// Decoding (up to 64 KiB of JSON) happens before the lock is taken, so one client's large request never
    /// holds up everyone else's; a session's kind never changes, so reading it first is safe.
    public func receive<Bytes: Collection>(_ bytes: Bytes, from id: ClientID) where Bytes.Element == UInt8 {
        guard let kind = locked({ sessions[id].flatMap { $0.isClosed ? nil : $0.kind } }) else { return }
        if kind == .text {
            let line = String(decoding: bytes, as: UTF8.self)
            locked {
                guard let session = sessions[id], !session.isClosed else { return }
                handleTextLine(line, session)
            }
            return
        }
        let decoded = RequestDecoder.decode(bytes)
        locked {
            guard let session = sessions[id], !session.isClosed else { return }
            switch decoded {
            case .success(let envelope):
                handle(envelope.request, re: envelope.id, session)
            case .failure(let failure):
                reply(session, .error(re: failure.id, failure.error))
            }
        }
    }

    /// The client sent a line over the size limit: PROTOCOL.md says `too_large`, then close.
    public func lineTooLong(from id: ClientID) {
        locked {
            guard let session = sessions[id] else { return }
            if session.kind == .json {
                reply(session, .error(re: nil, ChatError(.tooLarge, "line over the size limit")))
            }
            end(session, notifyOthers: true)
            output.disconnect(id)
        }
    }

    /// The connection is gone (closed by either side). Safe to call more than once.
    public func disconnected(_ id: ClientID) {
        locked {
            guard let session = sessions.removeValue(forKey: id) else { return }
            end(session, notifyOthers: true)
        }
    }

    /// Periodic housekeeping: idle logouts, login deadlines, expired private requests and lockouts.
    /// Called every few hundred milliseconds by the composition root (or by tests with a manual clock).
    public func sweep() {
        locked {
            let now = clock.now()
            for session in Array(sessions.values) where !session.isClosed {
                switch session.state {
                case .online:
                    if now - session.lastActivity >= configuration.idleTimeout { timeOut(session) }
                case .anonymous, .authenticating, .entering:
                    if now - session.connectedAt >= configuration.loginTimeout {
                        end(session, notifyOthers: false)
                        output.disconnect(session.id)
                    }
                case .closed:
                    break
                }
            }
            expirePrivateRequests(now: now)
            pruneThrottles(now: now)
            if now - lastTokenSweep >= 60_000 {
                lastTokenSweep = now
                let expired = tokens.values.filter { $0.expiresAt <= now }.map(\.digest)
                if !expired.isEmpty {
                    expired.forEach { tokens[$0] = nil }
                    store.perform([.deleteExpiredTokens(now: now)]) { _ in }
                }
            }
        }
    }

    // MARK: Dispatch

    func handle(_ request: ClientRequest, re: RequestID?, _ session: Session) {
        guard let user = session.onlineUser else {
            guard request.isAllowedBeforeLogin else {
                // A client may pipeline requests right behind its login: they wait (boundedly) for its outcome.
                if session.state != .anonymous, session.deferred.count < Session.maxDeferred {
                    session.deferred.append((request, re))
                } else {
                    reply(session, .error(re: re, ChatError(.notLoggedIn, "log in first")))
                }
                return
            }
            handleLogin(request, re: re, session)
            return
        }
        // SPEC.md §3: any well-formed, known command counts as activity, whatever its outcome.
        session.lastActivity = clock.now()
        switch request {
        case .lookup, .login, .register:
            reply(session, .error(re: re, ChatError(.alreadyLoggedIn, "already logged in as \(user)")))
        case .message(let to, let text): sendMessage(from: user, to: to, text: text, re: re, session)
        case .broadcast(let text): broadcast(from: user, text: text, re: re, session)
        case .whoelse: reply(session, .users(re: re, whoElse(for: user, since: nil)))
        case .whoelsesince(let seconds): reply(session, .users(re: re, whoElse(for: user, since: Int64(seconds) * 1000)))
        case .block(let other): setBlock(user, other, blocked: true, re: re, session)
        case .unblock(let other): setBlock(user, other, blocked: false, re: re, session)
        case .history(let with, let before, let limit): history(for: user, with: with, before: before, limit: limit, re: re, session)
        case .startprivate(let target): startPrivate(from: user, to: target, re: re, session)
        case .privatereply(let asker, let accept): answerPrivate(user, asker: asker, accept: accept, re: re, session)
        case .signal(let to, let data): relaySignal(from: user, to: to, data: data, re: re, session)
        case .activity: reply(session, .ok(re: re, .init()))
        case .logout: logOut(session, re: re)
        }
    }

    // MARK: Output helpers (call with the lock held)

    /// Sends one reply or event to one session, in its own dialect.
    func reply(_ session: Session, _ event: ServerEvent) {
        guard !session.isClosed else { return }
        switch session.kind {
        case .json:
            output.deliver(event.encoded(), to: [session.id])
        case .text:
            guard let rendered = session.dialogue?.render(event) else { return }
            if !rendered.text.isEmpty { output.deliver(Array(rendered.text.utf8), to: [session.id]) }
            if rendered.closes {
                // Text mode ends the connection on a lockout, as the terminal client exits (SPEC.md §2.3–2.4).
                end(session, notifyOthers: true)
                output.disconnect(session.id)
            }
        }
    }

    /// Sends one event to many sessions, encoding it once per dialect (DESIGN.md principle 1).
    /// `coalesced`: nobody waits for this event (presence), so the transport may let it share a write with the
    /// recipients' other traffic (ChatOutput.deliverCoalesced).
    func fanOut(_ event: ServerEvent, to recipients: [Session], coalesced: Bool = false) {
        var jsonIDs: [ClientID] = []
        var textIDs: [ClientID] = []
        jsonIDs.reserveCapacity(recipients.count)
        for r in recipients where !r.isClosed {
            if r.kind == .json { jsonIDs.append(r.id) } else { textIDs.append(r.id) }
        }
        func send(_ payload: [UInt8], _ ids: [ClientID]) {
            if coalesced { output.deliverCoalesced(payload, to: ids) } else { output.deliver(payload, to: ids) }
        }
        if !jsonIDs.isEmpty { send(event.encoded(), jsonIDs) }
        if !textIDs.isEmpty, let text = TextDialogue.renderEvent(event) { send(Array(text.utf8), textIDs) }
        metrics.deliveries += recipients.count
    }

    /// Has `blocker` blocked `other`?
    func hasBlocked(_ blocker: String, _ other: String) -> Bool {
        blocks[blocker]?.contains(other) ?? false
    }

    func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
