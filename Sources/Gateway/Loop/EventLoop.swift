import Glibc
import Logging
import ParleySupport
import Synchronization

// One tick of the loop. The order matters; compare Redis's aeProcessEvents.
//
//  1. Timeout: zero if the inbox already holds work (this thread's own posts never ring the
//     eventfd) or connections wait to be reaped; otherwise until the next timer deadline; otherwise
//     forever. A zero timeout is never chosen without work, so an idle loop never spins.
//  2. epoll_wait into a reused event array.
//  3. Dispatch each event. The eventfd: reset its counter (the work itself is in the inbox). A
//     listener (loop 0: the line port, and the HTTP port when on): accept a bounded batch and hand
//     sockets out round-robin. A connection: look it up by token, which checks the slot's
//     generation, so an event for a freed slot is dropped; a connection closed earlier in this batch
//     ignores its events. Writable → flush. Readable → read up to a per-event cap so one flooding
//     client cannot starve the rest, and hand the bytes to what the connection is (`Connection.State`):
//     the first byte opens it, then lines, HTTP requests or WebSocket messages go to the application.
//  4. Run expired timers: per-connection deadlines (first byte, HTTP head and keep-alive, WebSocket
//     ping, flush, linger), the app's repeating jobs, the accept back-off, the stop deadline.
//  5. Drain the inbox in FIFO order: adopt sockets, enqueue sends, begin closes. The app's calls
//     from steps 3 and 4 take effect here, after the callbacks, in exactly the order they were made
//     on every thread. (A WebSocket read may apply them earlier, never out of order: `applyPostedWork`.)
//  5½. TLS: admit connections waiting for a handshake slot, and deliver what a TLS layer held for a
//     connection that resumed reading (EventLoop+TLS.swift).
//  6. Flush every connection that gained output this tick (Redis's before-sleep write). Most
//     replies leave in the tick that caused them, and EPOLLOUT is armed only where bytes remain.
//  7. Reap connections closed this tick: close the descriptor, free the slot (bumping its
//     generation), and only then tell the application. Deferring the free to the end of the tick
//     keeps every Connection valid for the rest of the batch, and a descriptor number cannot be
//     reused by an accept while events for its old owner are still being dispatched.
//
// Stopping: the listener closes, connections drain (bounded by the stop deadline), and the loop
// returns once it owns no connections.

/// Counters shared by all loops and read by any thread (metrics, tests).
final class GatewayCounters: Sendable {
    /// Accepted sockets not yet closed, counted from accept (loop 0) to the final close.
    let connections = Atomic<Int>(0)
    /// Bytes queued for output across all connections.
    let queuedOutputBytes = Atomic<Int>(0)
    /// Sockets accepted and closed at once: over `maxConnections`, over the per-address cap, too fast from
    /// one address. And streams that passed `initialMessageBytes` before the application raised it.
    let refusedServerFull = Atomic<Int>(0)
    let refusedAddressFull = Atomic<Int>(0)
    let refusedAddressRate = Atomic<Int>(0)
    let initialLimitExceeded = Atomic<Int>(0)
    /// Per-address admission, shared by every loop (loop 0 admits, the owning loop releases).
    let addresses: AddressLimiter
    /// Messages (frames, lines, responses) whose last byte went to the kernel.
    let framesWritten = Atomic<Int>(0)
    /// Gather writes (`sendmsg`) made, including those the kernel refused with EAGAIN.
    let writeCalls = Atomic<Int>(0)
    /// Bytes the kernel accepted.
    let bytesWritten = Atomic<Int>(0)
    /// The most bytes any one connection has had queued.
    let queueHighWater = Atomic<Int>(0)
    /// Connections closed because their unwritten output passed `maxQueuedOutputBytes`.
    let slowConsumerCloses = Atomic<Int>(0)
    /// Handshake outcomes and open TLS connections.
    let tls = TLSCounters()

    init(addresses: AddressLimiter = AddressLimiter(maxPerAddress: nil, rate: nil, limitLoopback: false)) {
        self.addresses = addresses
    }

    /// An accepted socket from `peer` is closed: uncount it everywhere it was counted.
    func socketClosed(from peer: PeerAddress) {
        connections.subtract(1, ordering: .relaxed)
        addresses.release(peer)
    }
}

/// A loop's output tallies for the current tick, published to `GatewayCounters` once per tick so the
/// per-message path touches no shared cache line.
struct OutputTally {
    var framesWritten = 0
    var writeCalls = 0
    var bytesWritten = 0
    var queueHighWater = 0
}

/// One reactor thread: an epoll set, its timers, its inbox, and the connections it owns.
///
/// `@unchecked Sendable` because `start()` creates it on the caller's thread and hands it, once,
/// to the thread that runs it. Loop-confined from then on: every stored `var` is touched only on
/// that thread. Other threads reach it only through `inbox` (a Mutex) and `counters` (atomics).
final class EventLoop: @unchecked Sendable {
    /// Reads per readable event before moving on to other connections (NIO's maxMessagesPerRead).
    static let maxReadsPerEvent = 4
    static let readBufferBytes = 64 * 1024
    /// The longest coalesced output waits for other output to share its write (`GatewayServer.send`).
    static let coalescingDelay: Duration = .milliseconds(40)
    /// Accepts per listener event, so a connection storm cannot starve established connections.
    static let maxAcceptsPerTick = 64
    /// How long to stop accepting after running out of descriptors (EMFILE) or memory.
    static let acceptBackoff: Duration = .milliseconds(100)

    enum TimerAction {
        /// The deadline of a connection's current state; what it means depends on the state.
        case connectionDeadline(token: UInt64)
        case repeating(@Sendable () -> Void)
        case resumeAccepting
        /// Flush the connections whose coalesced output has waited `coalescingDelay`.
        case flushCoalesced
        case stopDeadline
    }

    let index: Int
    let inbox: Inbox
    /// Every loop's inbox, indexed by loop; loop 0 hands accepted sockets out through these.
    let siblings: [Inbox]
    let configuration: GatewayConfiguration
    let application: any StreamApplication
    let logger: Logger
    let counters: GatewayCounters

    let epoll: Epoll
    private let wakeDescriptor: Int32
    var timers = TimerQueue<TimerAction>()
    var connections = ConnectionTable()
    var listener: Listener?
    /// The HTTP port's listener (loop 0 only, when HTTP is on).
    var httpListener: Listener?
    let httpApplication: (any HTTPApplication)?
    /// Static files, WebSocket routes and the handshake policy, shared read-only by all loops.
    let httpServices: HTTPServices?
    var nextAcceptTarget = 0
    var nextSequence: UInt64 = 0
    var repeatingTimers: [TimerID] = []
    var isStopping = false
    /// Monotonic time sampled after each wait; deadlines scheduled during a tick count from it.
    var now: UInt64 = 0

    /// One receive buffer per loop: lines are delivered as slices of it, never copied.
    var readBuffer = [UInt8](repeating: 0, count: EventLoop.readBufferBytes)
    /// Scratch iovecs for gather writes, shared by every connection of this loop.
    let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: maxIOVecsPerWrite)
    private var events: [ReadyEvent] = []
    private var inboxItems: [InboxItem] = []
    /// True while `inboxItems` is being applied, so a nested `applyPostedWork` leaves it alone.
    private var isDrainingInbox = false
    var flushList: [Connection] = []
    /// Connections holding coalesced output; flushed when the `flushCoalesced` timer fires (armed while non-empty).
    var coalescedList: [Connection] = []
    var reapList: [Connection] = []
    /// This tick's output tallies, published by `publishTally`.
    var tally = OutputTally()
    /// The high-water mark already published (only a new maximum touches the shared counter).
    var publishedHighWater = 0

    /// Certificate and key for new handshakes, shared by all loops; nil: no TLS.
    let tlsContexts: TLSContextStore?
    /// Handshakes this loop is running (bounded by `maxHandshakesPerLoop`).
    var handshakesInProgress = 0
    /// TLS connections waiting for a handshake slot, oldest first from `handshakeQueueHead`.
    var handshakeQueue: [Connection] = []
    var handshakeQueueHead = 0
    /// Connections that resumed reading while their TLS layer held input (`serviceTLS` delivers it).
    var tlsInputList: [Connection] = []
    /// Gathers small messages into records, and takes the partly sent ciphertext a memory BIO cannot skip.
    let tlsScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: EventLoop.tlsRecordGatherBytes,
                                                            alignment: 16)

    init(
        index: Int, siblings: [Inbox], configuration: GatewayConfiguration,
        application: any StreamApplication, logger: Logger, counters: GatewayCounters,
        httpApplication: (any HTTPApplication)? = nil, httpServices: HTTPServices? = nil,
        tlsContexts: TLSContextStore? = nil
    ) throws(SystemError) {
        self.tlsContexts = tlsContexts
        self.httpApplication = httpApplication
        self.httpServices = httpServices
        self.index = index
        self.inbox = siblings[index]
        self.siblings = siblings
        self.configuration = configuration
        self.application = application
        var logger = logger
        logger[metadataKey: "loop"] = "\(index)"
        self.logger = logger
        self.counters = counters
        epoll = try Epoll()
        wakeDescriptor = try inbox.makeWakeDescriptor()
        try epoll.add(wakeDescriptor, interest: .readable, token: ConnectionTable.wakeToken)
    }

    deinit {
        iovecs.deallocate()
        tlsScratch.deallocate()
    }

    /// Gives this loop the listening socket (loop 0 only, before `run`).
    func attach(_ listener: Listener) throws(SystemError) {
        try epoll.add(listener.fd, interest: .readable, token: ConnectionTable.listenerToken)
        self.listener = listener
    }

    /// Gives this loop the HTTP port's listening socket (loop 0 only, before `run`).
    func attachHTTP(_ listener: Listener) throws(SystemError) {
        try epoll.add(listener.fd, interest: .readable, token: ConnectionTable.httpListenerToken)
        httpListener = listener
    }

    /// The thread body: ticks until a stop has finished, then releases what the inbox still holds.
    func run() {
        inbox.bindToCurrentThread()
        now = MonotonicClock.now()
        while !(isStopping && connections.isEmpty) {
            tick()
        }
        for item in inbox.close() {
            // Sockets handed over after this loop stopped are closed unseen; sends are moot.
            if case .adopt(let fd, let peer, _) = item {
                Syscall.close(fd)
                counters.socketClosed(from: peer)
            }
        }
        logger.debug("event loop stopped")
    }

    private func tick() {
        do {
            try epoll.wait(timeoutMilliseconds: nextTimeout(), into: &events)
        } catch {
            // Only EBADF/EFAULT/EINVAL are possible here: the loop's own state is broken.
            fatalError("epoll_wait failed: \(error)")
        }
        now = MonotonicClock.now()
        for event in events {
            dispatch(event)
        }
        runExpiredTimers()
        drainInbox()
        serviceTLS()
        flushPending()
        reap()
        publishTally()
    }

    /// Adds this tick's output tallies to the shared counters (a few relaxed atomics per tick, not per message).
    private func publishTally() {
        if tally.writeCalls != 0 {
            counters.writeCalls.add(tally.writeCalls, ordering: .relaxed)
            counters.framesWritten.add(tally.framesWritten, ordering: .relaxed)
            counters.bytesWritten.add(tally.bytesWritten, ordering: .relaxed)
        }
        if tally.queueHighWater > publishedHighWater {
            publishedHighWater = tally.queueHighWater
            var seen = counters.queueHighWater.load(ordering: .relaxed)
            while seen < publishedHighWater {
                let (exchanged, current) = counters.queueHighWater.compareExchange(
                    expected: seen, desired: publishedHighWater, ordering: .relaxed)
                if exchanged { break }
                seen = current
            }
        }
        let highWater = tally.queueHighWater
        tally = OutputTally()
        tally.queueHighWater = highWater
    }

    private func nextTimeout() -> Int32 {
        if !reapList.isEmpty || inbox.hasItems { return 0 }
        guard let deadline = timers.nextDeadline() else { return -1 }
        let current = MonotonicClock.now()
        guard deadline > current else { return 0 }
        // Round up: waking a little late is harmless, waking early would spin until the deadline.
        let milliseconds = (deadline - current + 999_999) / 1_000_000
        return Int32(clamping: milliseconds)
    }

    private func dispatch(_ event: ReadyEvent) {
        switch event.token {
        case ConnectionTable.wakeToken:
            Syscall.resetEventCounter(wakeDescriptor)
        case ConnectionTable.listenerToken:
            acceptConnections(isHTTP: false)
        case ConnectionTable.httpListenerToken:
            acceptConnections(isHTTP: true)
        default:
            guard let connection = connections.connection(forToken: event.token) else { return }
            handle(event, on: connection)
        }
    }

    private func runExpiredTimers() {
        while let action = timers.popExpired(now: now) {
            switch action {
            case .connectionDeadline(let token):
                if let connection = connections.connection(forToken: token) {
                    connection.deadline = nil
                    deadlinePassed(for: connection)
                }
            case .repeating(let body):
                body()
            case .resumeAccepting:
                resumeAccepting()
            case .flushCoalesced:
                flushCoalesced()
            case .stopDeadline:
                for connection in connections.all where !connection.isClosed {
                    close(connection, reason: connection.drainingReason ?? .serverStopping)
                }
            }
        }
    }

    /// Applies what the application (or another thread) posted so far, before the loop queues output of its
    /// own that must not overtake it: a WebSocket pong or close frame answering the frame that followed the
    /// message the application is replying to. Posted work may take effect early, never out of order.
    /// A no-op inside the inbox's own drain (an upgrade's leftover bytes can lead back here).
    func applyPostedWork() {
        drainInbox()
    }

    private func drainInbox() {
        guard !isDrainingInbox else { return }
        isDrainingInbox = true
        defer { isDrainingInbox = false }
        inbox.takeAll(into: &inboxItems)
        for item in inboxItems {
            switch item {
            case .send(let outbound, let ids):
                for id in ids {
                    if let connection = connections.connection(for: id) { enqueue(outbound, on: connection) }
                }
            case .sendOne(let outbound, let id):
                if let connection = connections.connection(for: id) { enqueue(outbound, on: connection) }
            case .sendCoalesced(let outbound, let ids):
                for id in ids {
                    if let connection = connections.connection(for: id) {
                        enqueue(outbound, on: connection, coalescing: true)
                    }
                }
            case .close(let id):
                if let connection = connections.connection(for: id) { closeByApplication(connection) }
            case .adopt(let fd, let peer, let isHTTP):
                adopt(fd: fd, peer: peer, isHTTP: isHTTP)
            case .httpResponse(let id, let response):
                if let connection = connections.connection(for: id) { respond(response, on: connection) }
            case .setMessageLimit(let id, let bytes):
                if let connection = connections.connection(for: id) { setMessageLimit(bytes, on: connection) }
            case .scheduleRepeating(let interval, let body):
                guard !isStopping else { break }
                let period = max(interval.nanoseconds, 1)
                repeatingTimers.append(timers.schedule(at: now + period, repeatingEvery: period, .repeating(body)))
            case .stop(let deadline):
                beginStop(deadline: deadline)
            }
        }
        inboxItems.removeAll(keepingCapacity: true)
    }

    /// Schedules (or replaces) the deadline of `connection`'s current state.
    func setDeadline(for connection: Connection, after delay: Duration) {
        if let old = connection.deadline { timers.cancel(old) }
        connection.deadline = timers.schedule(
            at: now &+ delay.nanoseconds, .connectionDeadline(token: connection.token)
        )
    }

    func cancelDeadline(for connection: Connection) {
        if let old = connection.deadline { timers.cancel(old) }
        connection.deadline = nil
    }

    /// Stop: no new connections, no more app jobs; every connection drains or closes, bounded by
    /// `deadline`. The loop returns from `run` once the last one is reaped.
    private func beginStop(deadline: UInt64) {
        guard !isStopping else { return }
        isStopping = true
        for id in repeatingTimers { timers.cancel(id) }
        repeatingTimers.removeAll()
        if let listener {
            epoll.remove(listener.fd)
            self.listener = nil
        }
        if let httpListener {
            epoll.remove(httpListener.fd)
            self.httpListener = nil
        }
        timers.schedule(at: deadline, .stopDeadline)
        for connection in connections.all {
            switch connection.state {
            case .awaitingFirstByte, .tlsHandshake, .lingering:
                close(connection, reason: .serverStopping)
            case .webSocket:
                // RFC 6455 §7.4.1: 1001, going away.
                sendWebSocketClose(on: connection, code: .goingAway)
                beginDrain(connection, reason: .serverStopping)
            case .lines, .http:
                beginDrain(connection, reason: .serverStopping)
            case .draining, .closed:
                break
            }
        }
    }
}
