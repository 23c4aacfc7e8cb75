import Foundation
import Logging

/// The chat hub: every door (TCP, text mode, WebSocket, and REST as a short-lived session) goes through one
/// dispatch, `handle(_:re:_:)`.
///
/// State lives in small seam types (Sources/ChatCore/HubState): presence, accounts and tokens, blocks, the login
/// guard and the inbox router. Their implementations here are the single-node ones; a cluster would swap in ones
/// backed by PostgreSQL and Redis that keep a local replica, so every read stays synchronous.
///
/// Threading: one serialisation point, `lock` (docs/ARCHITECTURE.md §6 principle 6). Callers are event-loop threads
/// (requests) and, through `resume(_:)` only, the store's writer thread and the hasher's workers; none of them
/// holds the lock for long. Socket output is handed to `output` while the lock is held, so the order of events on
/// the wire is the order the hub decided them in; REST replies run just after it is released, so a REST handler
/// may call the hub again. Slow work (hashing, SQLite) is only *started* under the lock.
public final class ChatService: @unchecked Sendable {
    let configuration: HubConfiguration
    let store: any ChatStore
    let hasher: any PasswordHasher
    let output: any ChatOutput
    let clock: any ChatClock
    let logger: Logger
    private let lock = NSLock()

    // MARK: State, confined to `lock`
    let presence: any PresenceDirectory
    let accounts: any AccountDirectory
    let blocks: any BlockList
    let loginGuard: any LoginGuard
    let inbox: Inboxes
    let rooms: RoomDirectory
    /// Nil on a single node; a cluster node's link, replica and bookkeeping (ChatService+Cluster.swift).
    let cluster: ClusterState?
    var sessions: [ClientID: Session] = [:]
    var nextMessageID: Int64
    var privateChats = PrivateChats()
    var metrics = HubMetrics()
    var lastTokenSweep: Int64 = 0
    var lastRoomCursorFlush: Int64 = 0
    /// REST replies decided under the lock, run once it is released.
    private var afterUnlock: [() -> Void] = []

    public convenience init(configuration: HubConfiguration, snapshot: StoreSnapshot, store: any ChatStore,
                            hasher: any PasswordHasher, output: any ChatOutput, clock: any ChatClock = SystemClock(),
                            logger: Logger = Logger(label: "parley.hub")) {
        self.init(configuration: configuration, store: store, hasher: hasher, output: output, clock: clock,
                  logger: logger, presence: LocalPresence(lastSeen: snapshot.lastSeen),
                  accounts: LocalAccounts(accounts: snapshot.accounts, tokens: snapshot.tokens),
                  blocks: LocalBlockList(snapshot.blocks), loginGuard: LocalLoginGuard(configuration),
                  inboxes: Inboxes(snapshot.inboxes), rooms: RoomDirectory(snapshot.rooms, cursors: snapshot.roomCursors),
                  nextMessageID: snapshot.lastMessageID + 1)
    }

    /// A node of a cluster: the same hub, with presence that sees the other nodes through `link`. The store is
    /// shared by every node (message ids come from it), the snapshot is read from it at start.
    public convenience init(configuration: HubConfiguration, snapshot: StoreSnapshot, store: any ChatStore,
                            hasher: any PasswordHasher, output: any ChatOutput, cluster link: any ClusterLink,
                            timing: ClusterTiming = ClusterTiming(), clock: any ChatClock = SystemClock(),
                            logger: Logger = Logger(label: "parley.hub")) {
        let presence = ClusterPresence(lastSeen: snapshot.lastSeen)
        self.init(configuration: configuration, store: store, hasher: hasher, output: output, clock: clock,
                  logger: logger, presence: presence,
                  accounts: LocalAccounts(accounts: snapshot.accounts, tokens: snapshot.tokens),
                  blocks: LocalBlockList(snapshot.blocks), loginGuard: LocalLoginGuard(configuration),
                  inboxes: Inboxes(snapshot.inboxes), rooms: RoomDirectory(snapshot.rooms, cursors: snapshot.roomCursors),
                  nextMessageID: snapshot.lastMessageID + 1, cluster: ClusterState(link: link, presence: presence, timing: timing))
    }

    init(configuration: HubConfiguration, store: any ChatStore, hasher: any PasswordHasher, output: any ChatOutput,
         clock: any ChatClock, logger: Logger, presence: any PresenceDirectory, accounts: any AccountDirectory,
         blocks: any BlockList, loginGuard: any LoginGuard, inboxes: Inboxes, rooms: RoomDirectory, nextMessageID: Int64,
         cluster: ClusterState? = nil) {
        self.configuration = configuration
        self.store = store
        self.hasher = hasher
        self.output = output
        self.clock = clock
        self.logger = logger
        self.presence = presence
        self.accounts = accounts
        self.blocks = blocks
        self.loginGuard = loginGuard
        self.inbox = inboxes
        self.rooms = rooms
        self.nextMessageID = nextMessageID
        self.cluster = cluster
    }

    // MARK: Entry points from the socket doors

    /// A client connected (for TCP: once its first byte told JSON from text).
    public func connect(_ id: ClientID, kind: ClientKind, peerHost: String) {
        serialized {
            sessions[id] = Session(id: id, kind: kind, peerHost: peerHost, now: clock.now())
            metrics.connections += 1
        }
    }

    /// One JSON request or one typed line from a client.
    ///
    /// Decoding (up to 64 KiB of JSON) happens before the lock is taken, so one client's large request never
    /// holds up everyone else's. The lock is taken once: the bytes are decoded as JSON before the session's kind
    /// is known, since nearly every session is a JSON one; a text session (nc, telnet) discards that decode and
    /// reads its line under the lock instead, which is what it would have done after a first look at its kind.
    public func receive(_ bytes: ArraySlice<UInt8>, from id: ClientID) {
        let decoded = RequestDecoder.decode(bytes)
        serialized {
            guard let session = sessions[id], !session.isClosed else { return }
            if session.kind == .text {
                handleTextLine(String(decoding: bytes, as: UTF8.self), session)
                return
            }
            switch decoded {
            case .success(let envelope): handle(envelope.request, re: envelope.id, session)
            case .failure(let failure): reply(session, .error(re: failure.id, failure.error))
            }
        }
    }

    /// The same for bytes in any collection (tests and the fuzz targets hand over arrays).
    public func receive<Bytes: Collection>(_ bytes: Bytes, from id: ClientID) where Bytes.Element == UInt8 {
        receive(ArraySlice(bytes), from: id)
    }

    /// The client sent a line over the size limit: docs/PROTOCOL.md §2 says `too_large`, then close.
    public func lineTooLong(from id: ClientID) {
        serialized {
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
        serialized {
            guard let session = sessions.removeValue(forKey: id) else { return }
            end(session, notifyOthers: true)
        }
    }

    /// Periodic housekeeping: idle logouts, login deadlines, expired private requests, refilled rate-limit
    /// buckets and expired tokens. Called every few hundred milliseconds by the composition root (or by tests
    /// with a manual clock).
    public func sweep() {
        serialized {
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
            for waiter in inbox.expire(now: now) { answerWaiter(waiter, with: []) }
            for waiter in rooms.expire(now: now) { answerRoomWaiter(waiter) }
            flushCursors()
            flushRoomCursors(now: now)
            resumeReplays(overdueAt: now)
            loginGuard.sweep(now: now)
            clusterSweep(now: now)
            if now - lastTokenSweep >= Self.tokenSweepInterval {
                lastTokenSweep = now
                if accounts.removeTokens(expiredAt: now) > 0 {
                    store.perform([.deleteExpiredTokens(now: now)]) { _ in }
                }
            }
        }
    }

    static let tokenSweepInterval: Int64 = 60_000

    /// The server is stopping: cursor moves and the login history of everyone still online (they are online
    /// until now) go to the store before it drains, and waiting REST readers get what they have (nothing), so
    /// their responses go out before the gateway closes.
    public func prepareToStop() {
        serialized {
            let online = localUsers()
            let now = clock.now()
            recordSeen(online, at: now)
            // cluster: the others see these users leave now rather than when this node is found silent.
            for user in online {
                tellCluster(.offline(user: user, node: cluster?.link.node ?? "", at: now))
                cluster?.link.release(user)
            }
            flushCursors()
            flushRoomCursors()
            for waiter in inbox.expire(everyone: true) { answerWaiter(waiter, with: []) }
            for waiter in rooms.expire(everyone: true) { answerRoomWaiter(waiter) }
        }
    }

    public func metricsSnapshot() -> HubMetrics {
        serialized {
            var m = metrics
            m.onlineUsers = presence.onlineCount
            m.clusterRemoteUsers = cluster?.presence.remoteCount ?? 0
            return m
        }
    }

    // MARK: Serialisation

    /// Runs `body` under the hub's lock, then the REST replies it decided, outside the lock.
    func serialized<T>(_ body: () -> T) -> T {
        lock.lock()
        let result = body()
        let replies = afterUnlock
        if !replies.isEmpty { afterUnlock = [] }
        lock.unlock()
        for reply in replies { reply() }
        return result
    }

    /// Queues work to run once the lock is released (REST replies). Call with the lock held.
    func afterUnlocking(_ work: @escaping () -> Void) {
        afterUnlock.append(work)
    }
}
