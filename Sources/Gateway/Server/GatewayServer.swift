import Glibc
import Logging
import ParleySupport
import Synchronization

/// The gateway: `loopCount` epoll threads serving two ports. The line port carries JSON or text line
/// streams to the gateway's `StreamApplication`. The optional HTTP port answers requests (through the
/// `HTTPApplication`, else static files or 404) and upgrades WebSocket connections, each to the
/// application of its route (`webSocketPath` to the gateway's own, `webSocketRoutes` to theirs).
///
/// Threading: each connection belongs to one loop for its whole life (its `ConnectionID` names
/// the loop). Loop 0 accepts on both ports and deals sockets out round-robin. All app callbacks for a
/// connection run on its loop thread. `send`, `close`, `scheduleRepeating` and `stop` may be called
/// from any thread; they post to the owning loop's inbox, which the loop drains every tick.
public final class GatewayServer: Sendable {
    private enum Lifecycle {
        case idle
        case starting
        /// `stop()` arrived while `start()` was still launching; `start()` stops once it is done.
        case stopRequestedWhileStarting
        case running([LoopThread])
        case stopping
        case stopped
    }

    private let configuration: GatewayConfiguration
    private let application: any StreamApplication
    private let logger: Logger
    /// One per loop, created up front so `send` needs no lock of the server's own.
    private let inboxes: [Inbox]
    private let counters: GatewayCounters
    private let lifecycle = Mutex(Lifecycle.idle)
    private let httpApplication: (any HTTPApplication)?
    private let httpServices: HTTPServices?
    private let boundHTTPPort = Atomic<Int>(0)
    /// The TLS context new handshakes use (nil: plaintext only); `reloadTLS()` swaps it.
    private let tlsContexts: TLSContextStore?

    /// - Parameters:
    ///   - http: the HTTP port (WebSocket at its `webSocketPath` and `webSocketRoutes`, static files, and
    ///     `httpApplication`'s routes); nil for none.
    public init(configuration: GatewayConfiguration, application: any StreamApplication,
                http: HTTPServerConfiguration? = nil, httpApplication: (any HTTPApplication)? = nil, logger: Logger) {
        self.configuration = configuration
        self.application = application
        self.logger = logger
        self.httpApplication = httpApplication
        httpServices = http.map { HTTPServices(configuration: $0, gateway: configuration, application: application) }
        let loopCount = min(max(configuration.loopCount, 1), 255)
        inboxes = (0..<loopCount).map { _ in Inbox() }
        counters = GatewayCounters(addresses: AddressLimiter(configuration))
        tlsContexts = configuration.tls.map { TLSContextStore(files: $0) }
    }

    /// Binds and starts the loop threads; returns the bound TCP port (port 0 in tests).
    public func start() throws -> Int {
        try configuration.validate()
        try lifecycle.withLock { state throws(GatewayError) in
            guard case .idle = state else { throw .notStartable }
            state = .starting
        }
        do {
            let (threads, port) = try launch()
            let stopAtOnce = lifecycle.withLock { state in
                defer { state = .running(threads) }
                if case .stopRequestedWhileStarting = state { return true }
                return false
            }
            if stopAtOnce { stop() }
            logger.info("gateway listening", metadata: [
                "host": "\(configuration.host)", "port": "\(port)", "loops": "\(inboxes.count)",
            ])
            return port
        } catch {
            lifecycle.withLock { $0 = .idle }
            throw error
        }
    }

    private func launch() throws(GatewayError) -> ([LoopThread], Int) {
        do {
            try tlsContexts?.reload()
        } catch {
            throw .tlsSetup(error.description)
        }
        let listener = try Listener(host: configuration.host, port: configuration.tcpPort)
        let httpListener = try httpServices.map { services throws(GatewayError) in
            try Listener(host: configuration.host, port: services.configuration.port)
        }
        var loops: [EventLoop] = []
        do {
            for index in inboxes.indices {
                loops.append(try EventLoop(
                    index: index, siblings: inboxes, configuration: configuration,
                    application: application, logger: logger, counters: counters,
                    httpApplication: httpApplication, httpServices: httpServices, tlsContexts: tlsContexts
                ))
            }
            try loops[0].attach(listener)
            if let httpListener {
                try loops[0].attachHTTP(httpListener)
                boundHTTPPort.store(httpListener.port, ordering: .relaxed)
            }
        } catch {
            throw GatewayError(error)
        }
        var threads: [LoopThread] = []
        for loop in loops {
            do {
                threads.append(try LoopThread.start(name: "parley-loop-\(loop.index)") { loop.run() })
            } catch {
                // Unwind: stop the loops already running; the rest are released unstarted.
                let now = MonotonicClock.now()
                for inbox in inboxes.prefix(threads.count) { inbox.post(.stop(deadline: now)) }
                for thread in threads { thread.join() }
                throw GatewayError(error)
            }
        }
        return (threads, listener.port)
    }

    /// Thread-safe. Queues `outbound` for each connection. Ordering guarantee: for any one
    /// connection, sends and closes are applied in the order the calls were made, across all
    /// calling threads: each call appends to the owning loop's FIFO inbox under its mutex, one
    /// entry per loop per call, and the loop applies entries in order. Unknown or closed IDs are
    /// ignored.
    ///
    /// `coalescing`: the bytes need not leave at once. They are queued in order like any send, but written
    /// only with the connection's next other output or after at most `EventLoop.coalescingDelay` (40 ms), so
    /// a fan-out of something nobody waits for (presence) rides along with the traffic around it instead of
    /// costing one write system call per receiver of its own.
    public func send(_ outbound: Outbound, to ids: [ConnectionID], coalescing: Bool = false) {
        guard let first = ids.first else { return }
        func item(_ group: [ConnectionID]) -> InboxItem {
            coalescing ? .sendCoalesced(outbound, group) : .send(outbound, group)
        }
        // The common cases, one receiver or all receivers on one loop, need no regrouping.
        if inboxes.count == 1 || ids.allSatisfy({ $0.loop == first.loop }) {
            if first.loop < inboxes.count { inboxes[first.loop].post(item(ids)) }
            return
        }
        var groups = [[ConnectionID]](repeating: [], count: inboxes.count)
        for id in ids where id.loop < inboxes.count {
            groups[id.loop].append(id)
        }
        for (loop, group) in groups.enumerated() where !group.isEmpty {
            inboxes[loop].post(item(group))
        }
    }

    /// `send` to one connection (a reply), with the same ordering, without an array to allocate and walk.
    public func send(_ outbound: Outbound, to id: ConnectionID) {
        guard id.loop < inboxes.count else { return }
        inboxes[id.loop].post(.sendOne(outbound, id))
    }

    /// Thread-safe, ordered like send: flushes what is queued, then shuts the socket down and
    /// closes it; streamClosed(.closedByApplication) follows.
    public func close(_ id: ConnectionID) {
        guard id.loop < inboxes.count else { return }
        inboxes[id.loop].post(.close(id))
    }

    /// Thread-safe: runs `body` on loop 0 every `interval` until stop (used for the hub's idle
    /// sweep). The loop sleeps until the next due time; nothing polls.
    public func scheduleRepeating(every interval: Duration, _ body: @escaping @Sendable () -> Void) {
        precondition(interval > .zero, "a repeating job needs a positive interval")
        inboxes[0].post(.scheduleRepeating(interval: interval, body: body))
    }

    /// Graceful stop: close the listener, flush pending output (bounded by
    /// `shutdownGracePeriod`), close every connection (streamClosed(.serverStopping)), join the
    /// threads. Safe to call from any thread, more than once. Called from a loop thread (inside a
    /// callback) it cannot join that thread: it returns after joining the others, and that loop
    /// finishes once the callback returns.
    public func stop() {
        let threads: [LoopThread]? = lifecycle.withLock { state in
            switch state {
            case .idle:
                state = .stopped
                return nil
            case .running(let threads):
                state = .stopping
                return threads
            case .starting:
                // The threads do not exist yet: `start()` stops them as soon as they do.
                state = .stopRequestedWhileStarting
                return nil
            case .stopRequestedWhileStarting, .stopping, .stopped:
                return nil
            }
        }
        guard let threads else { return }
        let deadline = MonotonicClock.now() &+ configuration.shutdownGracePeriod.nanoseconds
        for inbox in inboxes {
            inbox.post(.stop(deadline: deadline))
        }
        for thread in threads where !thread.isCurrent {
            thread.join()
        }
        lifecycle.withLock { $0 = .stopped }
        logger.info("gateway stopped")
    }

    /// The bound HTTP port after `start()` (nil if HTTP is off).
    public var httpPort: Int? {
        httpServices == nil ? nil : boundHTTPPort.load(ordering: .relaxed)
    }

    /// Open TCP connections (accepted and not yet closed), for metrics.
    public var connectionCount: Int {
        counters.connections.load(ordering: .relaxed)
    }

    /// Connections refused by the gateway's limits so far, for metrics.
    public var limitCounters: GatewayLimitCounters {
        GatewayLimitCounters(
            refusedServerFull: counters.refusedServerFull.load(ordering: .relaxed),
            refusedAddressFull: counters.refusedAddressFull.load(ordering: .relaxed),
            refusedAddressRate: counters.refusedAddressRate.load(ordering: .relaxed),
            initialLimitExceeded: counters.initialLimitExceeded.load(ordering: .relaxed))
    }

    /// Thread-safe, ordered like `send`: sets the longest line or WebSocket message `id` may send from now
    /// on, clamped to the configured maximum (`maxLineBytes`, or the WebSocket route's `maxMessageBytes`).
    /// An application calls it when a client has authenticated, to lift `initialMessageBytes`.
    public func setMessageLimit(_ bytes: Int, for id: ConnectionID) {
        guard id.loop < inboxes.count else { return }
        inboxes[id.loop].post(.setMessageLimit(id, bytes))
    }

    /// Thread-safe: reads the certificate and key files again and uses them for handshakes from now on;
    /// connections already open keep the session they have. On failure (a missing, unreadable or mismatched
    /// file) the context in use stays and the error says why. Does nothing without TLS.
    public func reloadTLS() throws(GatewayError) {
        guard let tlsContexts else { return }
        do {
            try tlsContexts.reload()
        } catch {
            throw .tlsSetup(error.description)
        }
        counters.tls.reloads.add(1, ordering: .relaxed)
    }

    /// TLS handshake outcomes and open TLS connections, for metrics; nil without TLS.
    public var tlsStatistics: GatewayTLSStatistics? {
        tlsContexts == nil ? nil : counters.tls.snapshot
    }

    /// Output counters since start, for metrics: how well writes are batched and how far readers fall behind.
    public var outputStatistics: GatewayOutputStatistics {
        GatewayOutputStatistics(
            framesWritten: counters.framesWritten.load(ordering: .relaxed),
            writeCalls: counters.writeCalls.load(ordering: .relaxed),
            bytesWritten: counters.bytesWritten.load(ordering: .relaxed),
            queuedBytes: counters.queuedOutputBytes.load(ordering: .relaxed),
            queueHighWaterBytes: counters.queueHighWater.load(ordering: .relaxed),
            slowConsumerCloses: counters.slowConsumerCloses.load(ordering: .relaxed),
            tls: tlsStatistics
        )
    }

    /// Bytes waiting in output queues across all connections (tests check memory stays bounded).
    var queuedOutputBytes: Int {
        counters.queuedOutputBytes.load(ordering: .relaxed)
    }
}

/// What the loops wrote since the gateway started (`GatewayServer.outputStatistics`).
public struct GatewayOutputStatistics: Sendable, Equatable {
    /// Messages (WebSocket frames, lines, HTTP responses) written completely.
    public var framesWritten: Int
    /// Gather writes made; `framesWritten / writeCalls` is how well output is batched per connection.
    public var writeCalls: Int
    public var bytesWritten: Int
    /// Bytes waiting in output queues right now, across all connections.
    public var queuedBytes: Int
    /// The most bytes any one connection has had queued since start.
    public var queueHighWaterBytes: Int
    /// Connections closed because a reader fell further behind than the output limit allows.
    public var slowConsumerCloses: Int
    /// Handshakes and TLS connections; nil when TLS is off. (With TLS, a write call carries the ciphertext of
    /// the messages it completed; handshake-only writes are not counted, so the batching figure stays comparable.)
    public var tls: GatewayTLSStatistics?

    public init(framesWritten: Int, writeCalls: Int, bytesWritten: Int, queuedBytes: Int, queueHighWaterBytes: Int,
                slowConsumerCloses: Int, tls: GatewayTLSStatistics? = nil) {
        self.tls = tls
        self.framesWritten = framesWritten
        self.writeCalls = writeCalls
        self.bytesWritten = bytesWritten
        self.queuedBytes = queuedBytes
        self.queueHighWaterBytes = queueHighWaterBytes
        self.slowConsumerCloses = slowConsumerCloses
    }
}
