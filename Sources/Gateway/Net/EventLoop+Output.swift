import Logging
import Synchronization

/// The output side of a loop: queueing, flushing, and every way a connection ends.
extension EventLoop {
    // MARK: - Queueing and flushing

    /// Queues `outbound` on `connection` in the connection's framing, enforcing the slow-consumer limit.
    /// `coalescing` leaves the flush to the connection's next other output or the coalescing timer.
    func enqueue(_ outbound: Outbound, on connection: Connection, coalescing: Bool = false) {
        guard connection.acceptsOutput else { return }
        queue(outbound, part: connection.outputPart, on: connection, coalescing: coalescing)
    }

    /// Queues a WebSocket control frame of the gateway's own (ping, pong, close) as it is. Unlike the
    /// application's sends it is still taken after the application's close: the close handshake must finish.
    func enqueueControlFrame(_ frame: [UInt8], on connection: Connection) {
        guard connection.acceptsControlFrames else { return }
        queue(Outbound(frame), part: .payload, on: connection, coalescing: false)
    }

    private func queue(_ outbound: Outbound, part: Outbound.Part, on connection: Connection, coalescing: Bool) {
        let size = outbound.range(of: part).count
        let limit = connection.maxQueuedOutputBytes
        if connection.output.queuedBytes + size > limit {
            // The limit is on what the kernel would not take: try it before judging the reader.
            flush(connection)
            guard !connection.isClosed else { return }
            if connection.output.queuedBytes + size > limit {
                logger.notice("slow consumer closed", metadata: [
                    "connection": "\(connection.id)", "queuedBytes": "\(connection.output.queuedBytes)",
                ])
                Syscall.resetOnClose(connection.fd)
                close(connection, reason: .slowConsumer)
                counters.slowConsumerCloses.add(1, ordering: .relaxed)
                return
            }
        }
        connection.output.append(outbound, part: part)
        if connection.output.queuedBytes > tally.queueHighWater { tally.queueHighWater = connection.output.queuedBytes }
        reportQueuedBytes(of: connection)
        if coalescing {
            scheduleCoalescedFlush(connection)
        } else {
            scheduleFlush(connection)
        }
    }

    /// Puts `connection` on the coalesced list (once) and arms the timer that flushes the list.
    private func scheduleCoalescedFlush(_ connection: Connection) {
        guard !connection.isInCoalescedList else { return }
        connection.isInCoalescedList = true
        if coalescedList.isEmpty {
            timers.schedule(at: now &+ Self.coalescingDelay.nanoseconds, .flushCoalesced)
        }
        coalescedList.append(connection)
    }

    /// The coalescing delay is over: write what is still queued (most of it left earlier with other output).
    func flushCoalesced() {
        for connection in coalescedList {
            connection.isInCoalescedList = false
            if !connection.output.isEmpty { scheduleFlush(connection) }
        }
        coalescedList.removeAll(keepingCapacity: true)
    }

    /// Puts `connection` on this tick's before-sleep flush list (once).
    func scheduleFlush(_ connection: Connection) {
        guard !connection.isInFlushList else { return }
        connection.isInFlushList = true
        flushList.append(connection)
    }

    /// Step 6 of the tick: one gather write per connection that gained output.
    func flushPending() {
        // By index: the list may grow while it is walked, and its storage is reused every tick.
        var position = 0
        while position < flushList.count {
            let connection = flushList[position]
            position += 1
            connection.isInFlushList = false
            flush(connection)
        }
        flushList.removeAll(keepingCapacity: true)
    }

    /// Writes what one `sendmsg` takes, then re-arms or disarms EPOLLOUT to match what is left. A
    /// draining connection whose queue empties moves on to its FIN.
    func flush(_ connection: Connection) {
        guard !connection.isClosed else { return }
        if let session = connection.tls { return flushTLS(connection, session: session) }
        let fd = connection.fd
        let outcome: FlushOutcome
        do {
            outcome = try connection.output.flush(iovecs: iovecs, tally: &tally) { vectors, count throws(SystemError) in
                try Syscall.send(fd, iovecs: vectors, count: count)
            }
        } catch {
            close(connection, reason: closeReason(for: connection, error: error))
            return
        }
        reportQueuedBytes(of: connection)
        if outcome == .drained && connection.drainingReason != nil {
            finishDrain(connection)
        } else {
            updateInterest(connection)
        }
    }

    /// Brings the epoll registration in line with `wantedInterest` (one epoll_ctl, only on change).
    func updateInterest(_ connection: Connection) {
        guard !connection.isClosed else { return }
        let wanted = connection.wantedInterest
        guard wanted != connection.registeredInterest else { return }
        do {
            try epoll.modify(connection.fd, interest: wanted, token: connection.token)
            connection.registeredInterest = wanted
        } catch {
            close(connection, reason: .ioError(error.code))
        }
    }

    /// Keeps the cross-thread total of queued bytes current with a delta, not a recount.
    func reportQueuedBytes(of connection: Connection) {
        let delta = connection.output.queuedBytes - connection.reportedQueuedBytes
        guard delta != 0 else { return }
        connection.reportedQueuedBytes = connection.output.queuedBytes
        counters.queuedOutputBytes.add(delta, ordering: .relaxed)
    }

    // MARK: - Closing

    /// `GatewayServer.close(_:)` arriving through the inbox: flush, FIN, then `.closedByApplication`.
    func closeByApplication(_ connection: Connection) {
        if case .webSocket = connection.state {
            // RFC 6455 §7.1.2: a WebSocket ends with a close frame, queued after everything sent before.
            sendWebSocketClose(on: connection, code: .normalClosure)
        }
        connection.isCloseRequested = true
        switch connection.state {
        case .awaitingFirstByte, .tlsHandshake, .lines, .http, .webSocket:
            beginDrain(connection, reason: .closedByApplication)
        case .draining, .lingering, .closed:
            // Already ending: the reason in force stays, and later sends are now refused.
            break
        }
    }

    /// Stops delivering input and flushes what is queued; `finishDrain` follows when it is out.
    func beginDrain(_ connection: Connection, reason: CloseReason) {
        connection.state = .draining(reason, was: connection.stream)
        connection.wantsRead = false
        setDeadline(for: connection, after: configuration.closeFlushTimeout)
        // Even with nothing queued, the flush pass is where the FIN is sent: after this tick's
        // sends from the inbox, which must go out first.
        scheduleFlush(connection)
        updateInterest(connection)
    }

    /// Output is out: send FIN and tell the app. If the peer may still be sending, linger and
    /// discard its input until its FIN, since closing with unread input sends RST, which can make
    /// the peer's kernel drop our last bytes (an error message, say) before they are read.
    func finishDrain(_ connection: Connection) {
        guard let reason = connection.drainingReason else { return }
        sendCloseNotify(on: connection)
        Syscall.shutdownWrites(connection.fd)
        if reason == .peerClosed || isStopping {
            close(connection, reason: reason)
            return
        }
        connection.closeReason = reason
        connection.state = .lingering
        connection.wantsRead = true
        updateInterest(connection)
        setDeadline(for: connection, after: configuration.lingerTimeout)
        markForReap(connection)
    }

    /// Closes at once without flushing: the queue is dropped, the descriptor deregistered, and the
    /// rest (close, slot, app notification) left to the end-of-tick reap.
    func close(_ connection: Connection, reason: CloseReason) {
        guard !connection.isClosed else { return }
        if !connection.isLingering { connection.closeReason = reason }
        abandonTLS(on: connection, reason: reason)
        cancelDeadline(for: connection)
        epoll.remove(connection.fd)
        connection.state = .closed
        connection.output.removeAll()
        reportQueuedBytes(of: connection)
        markForReap(connection)
    }

    /// The deadline of `connection`'s current state has passed.
    func deadlinePassed(for connection: Connection) {
        switch connection.state {
        case .awaitingFirstByte, .tlsHandshake:
            logger.debug("no first byte or TLS handshake in time", metadata: ["peer": "\(connection.peer)"])
            close(connection, reason: .handshakeTimeout)
        case .lines:
            // Only a line-too-long stream the app left open has a deadline while open.
            beginDrain(connection, reason: .lineTooLong)
        case .http(let exchange):
            httpDeadlinePassed(on: connection, exchange: exchange)
        case .webSocket(let link):
            webSocketDeadlinePassed(on: connection, link: link)
        case .draining(let reason, _):
            // The peer would not take our output in time.
            close(connection, reason: reason)
        case .lingering:
            close(connection, reason: .peerClosed)
        case .closed:
            break
        }
    }

    /// The close reason for a failed read or write: the reason of a close already under way wins;
    /// a reset or broken pipe is the peer leaving; anything else is an I/O error.
    func closeReason(for connection: Connection, error: SystemError) -> CloseReason {
        if let reason = connection.drainingReason { return reason }
        return error.isPeerReset ? .peerClosed : .ioError(error.code)
    }

    private func markForReap(_ connection: Connection) {
        guard !connection.isInReapList else { return }
        connection.isInReapList = true
        reapList.append(connection)
    }

    /// Step 7 of the tick: release closed connections, then tell the app about every stream that
    /// ended this tick (closed, or lingering after its FIN).
    func reap() {
        var position = 0
        while position < reapList.count {
            let connection = reapList[position]
            position += 1
            connection.isInReapList = false
            if connection.isClosed {
                Syscall.close(connection.fd)
                if connection.tls != nil {
                    connection.tls = nil
                    counters.tls.connectionsOpen.subtract(1, ordering: .relaxed)
                }
                connections.remove(connection)
                counters.socketClosed(from: connection.peer)
            }
            if let application = connection.openedTo, let reason = connection.closeReason {
                connection.openedTo = nil
                application.streamClosed(connection.id, reason: reason)
            }
        }
        reapList.removeAll(keepingCapacity: true)
    }
}
