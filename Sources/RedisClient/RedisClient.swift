import Logging
import ParleySupport

/// A Redis client for a cluster node's shared soft state: presence keys, heartbeats, counters, Lua scripts and
/// pub/sub notices between nodes.
///
/// Threads: each client runs one thread of its own (`redis-NAME`) with an epoll loop that drives hiredis's async
/// API over two connections, one for commands and one for subscriptions. Any thread may call `send`, `publish`,
/// `subscribe`; they queue the request behind a lock and wake the client thread through an eventfd, so callers
/// never block on the network and no thread is made per command. Completions, messages and state hooks run on
/// the client thread, in order; they should be quick and must not block (they may send further commands).
///
/// Failure is fast and explicit: while a connection is down, commands fail with `.disconnected` at once instead
/// of queueing, and a command whose reply does not come within the command timeout fails with `.timeout` and
/// takes the connection down with it. The client reconnects by itself with a backoff (100 ms doubling to 2 s),
/// subscribes to its channels again, and tells `onStateChange` hooks about each change between up and down, so
/// that the cluster can resync after a gap it may have missed notices in.
public final class RedisClient: Sendable {
    /// Receives one pub/sub message: the channel and the payload bytes exactly as published.
    public typealias MessageHandler = @Sendable (_ channel: String, _ payload: [UInt8]) -> Void

    /// Timeouts and the reconnect backoff.
    public struct Options: Sendable {
        /// How long one attempt may take to connect and finish the handshake (name, database, subscriptions).
        public var connectTimeout: Duration
        /// How long a reply may take. Commands that block by design (BLPOP) must finish within it.
        public var commandTimeout: Duration
        /// The wait before the first retry; it doubles with each failure up to `maxBackoff`.
        public var initialBackoff: Duration
        public var maxBackoff: Duration

        public init(connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(2),
                    initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(2)) {
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
        }
    }

    public let url: RedisURL
    public let name: String
    private let queue: RequestQueue
    private let engine: ClientEngine
    private let status = PThreadMutex(ClientStatus())
    private let stateHooks = PThreadMutex<[@Sendable (Bool) -> Void]>([])
    private let thread = PThreadMutex<JoinableThread?>(nil)

    /// - Parameters:
    ///   - url: `redis://[[user]:password@]host[:port][/db]`.
    ///   - name: names the thread and, as `CLIENT SETNAME`, both connections (`NAME` and `NAME-sub`), so that
    ///     `CLIENT LIST` on the server shows which node holds which connection. Letters, digits, `-_.:` only.
    public convenience init(url: String, name: String, logger: Logger, options: Options = Options()) throws(RedisError) {
        try self.init(url: try RedisURL(parsing: url), name: name, logger: logger, options: options)
    }

    public init(url: RedisURL, name: String, logger: Logger, options: Options = Options()) throws(RedisError) {
        self.url = url
        guard !name.isEmpty, name.utf8.count <= 64,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else {
            throw .invalidName("\"\(name)\": use 1 to 64 letters, digits, '-', '_', '.' or ':'")
        }
        self.name = name
        queue = try RequestQueue()
        var logger = logger
        logger[metadataKey: "redis-client"] = "\(name)"
        engine = try ClientEngine(url: self.url, name: name, options: options, logger: logger, queue: queue,
                                  status: status, stateHooks: stateHooks)
    }

    /// A client dropped without `stop` still ends its thread and connections. The join is skipped only if the last
    /// reference went away on the client thread itself (inside a completion); the thread then ends on its own.
    deinit {
        guard let running = thread.withLock({ $0 }), running.isCurrent else { return stop() }
        _ = queue.requestStop()
    }

    /// Starts the client thread, which connects at once. Call once; a stopped client cannot be started again.
    public func start() throws(ThreadStartError) {
        guard queue.markRunning() else { return }
        let engine = engine
        let started = try JoinableThread(name: "redis-\(name)") { engine.run() }
        thread.withLock { $0 = started }
    }

    /// Stops the client and waits for its thread to end. Every completion still pending, queued or in flight, is
    /// called with `.stopped` before this returns; later calls fail with `.stopped` on the calling thread.
    /// Must not be called from a completion or hook (the client thread cannot join itself).
    public func stop() {
        switch queue.requestStop() {
        case .running:
            thread.withLock { $0 }?.join()
        case .notStarted:
            // Never started: fail what was queued here, on the caller's thread, since no client thread will.
            for request in queue.close() { request.fail(with: .stopped) }
        case .stopped:
            break
        }
    }

    /// Sends one command; `done` runs on the client thread with its reply, in the order commands were sent.
    /// Arguments are bytes, so keys and values may hold anything, NUL included.
    public func send(_ arguments: [RedisArgument], done: @escaping RedisCompletion) {
        guard !arguments.isEmpty, !arguments[0].bytes.isEmpty else {
            done(.failure(.invalidCommand("a command needs a name")))
            return
        }
        let request = ClientRequest.command(EncodedCommand(arguments), done)
        if !queue.post(request) { request.fail(with: .stopped) }
    }

    /// `PUBLISH channel payload`; the reply counts the subscribers that received it.
    public func publish(_ channel: String, _ payload: [UInt8], done: @escaping RedisCompletion = { _ in }) {
        send(["PUBLISH", RedisArgument(channel), RedisArgument(payload)], done: done)
    }

    /// Subscribes to `channels` on the subscriber connection; `onMessage` then hears every message on them (a
    /// channel subscribed again gets the new handler). The subscription lasts until `unsubscribe`: after a
    /// reconnect it is made again before the client reports up. `subscribed` runs once Redis has confirmed every
    /// channel, or with `.disconnected` if the connection is down now (the subscription still takes effect with
    /// the next connection).
    public func subscribe(_ channels: [String], onMessage: @escaping MessageHandler,
                          subscribed: (@Sendable (Result<Void, RedisError>) -> Void)? = nil) {
        guard !channels.isEmpty else {
            subscribed?(.failure(.invalidCommand("subscribe needs at least one channel")))
            return
        }
        let request = ClientRequest.subscribe(Array(Set(channels)), onMessage, subscribed)
        if !queue.post(request) { request.fail(with: .stopped) }
    }

    /// Ends the subscriptions to `channels`; messages already on their way to them are dropped.
    public func unsubscribe(_ channels: [String]) {
        _ = queue.post(.unsubscribe(channels))
    }

    /// Adds a hook told about each change of state, on the client thread: `true` once both connections are up
    /// (and every subscription is active again), `false` as soon as either is lost. The client starts down, so the
    /// first call is `true` at the first connection.
    public func onStateChange(_ hook: @escaping @Sendable (_ up: Bool) -> Void) {
        stateHooks.withLock { $0.append(hook) }
    }

    /// Whether both connections are up now.
    public var isUp: Bool { status.withLock { $0.isUp } }

    /// Why the client is or was last down (`.connectionFailed` with hiredis's words, such as "Connection
    /// refused"), nil once it is up again. For logs and health reports.
    public var lastError: RedisError? { status.withLock { $0.lastError } }
}
