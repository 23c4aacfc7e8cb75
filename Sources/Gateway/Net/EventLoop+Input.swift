import Glibc
import Logging
import Synchronization

/// The input side of a loop: accepting sockets, reading them, turning bytes into app calls.
extension EventLoop {
    // MARK: - Accepting (loop 0)

    /// Accepts a bounded batch from one of loop 0's listeners and deals the sockets out round-robin.
    func acceptConnections(isHTTP: Bool) {
        guard let listener = isHTTP ? httpListener : listener else { return }
        for _ in 0..<Self.maxAcceptsPerTick {
            let accepted: (fd: Int32, peer: PeerAddress)
            do {
                switch try listener.accept() {
                case .wouldBlock: return
                case .processed(let result): accepted = result
                }
            } catch {
                if error.isAbortedConnection { continue }
                // Out of descriptors (EMFILE) or memory: the pending connection stays in the
                // backlog, so a level-triggered listener would report it again at once, forever.
                // Stop listening for a moment instead; the backlog holds clients meanwhile.
                logger.warning("accept failed; pausing accepts", metadata: ["error": "\(error)"])
                pauseAccepting(isHTTP: isHTTP)
                return
            }
            guard counters.connections.load(ordering: .relaxed) < configuration.maxConnections else {
                // Accept-and-close keeps the backlog from filling with clients we will not serve.
                Syscall.close(accepted.fd)
                counters.refusedServerFull.add(1, ordering: .relaxed)
                logger.notice("connection limit reached; refused", metadata: ["peer": "\(accepted.peer)"])
                continue
            }
            if let refusal = counters.addresses.admit(accepted.peer, now: now) {
                // Same accept-and-close; logged at debug only, since a flood would otherwise flood the log too.
                Syscall.close(accepted.fd)
                switch refusal {
                case .addressFull: counters.refusedAddressFull.add(1, ordering: .relaxed)
                case .addressTooFast: counters.refusedAddressRate.add(1, ordering: .relaxed)
                }
                logger.debug("per-address limit; refused", metadata: ["peer": "\(accepted.peer)", "limit": "\(refusal)"])
                continue
            }
            // Only this thread increments, so the check above cannot be overtaken by another accept.
            counters.connections.add(1, ordering: .relaxed)
            let target = nextAcceptTarget
            nextAcceptTarget = (target + 1) % siblings.count
            if target == index {
                adopt(fd: accepted.fd, peer: accepted.peer, isHTTP: isHTTP)
            } else if !siblings[target].post(.adopt(fd: accepted.fd, peer: accepted.peer, isHTTP: isHTTP)) {
                Syscall.close(accepted.fd)
                counters.socketClosed(from: accepted.peer)
            }
        }
    }

    private func pauseAccepting(isHTTP: Bool) {
        guard let listener = isHTTP ? httpListener : listener else { return }
        let token = isHTTP ? ConnectionTable.httpListenerToken : ConnectionTable.listenerToken
        try? epoll.modify(listener.fd, interest: [], token: token)
        timers.schedule(at: now &+ Self.acceptBackoff.nanoseconds, .resumeAccepting)
    }

    func resumeAccepting() {
        if let listener { try? epoll.modify(listener.fd, interest: .readable, token: ConnectionTable.listenerToken) }
        if let httpListener {
            try? epoll.modify(httpListener.fd, interest: .readable, token: ConnectionTable.httpListenerToken)
        }
    }

    /// Takes ownership of an accepted socket: a new ID from this loop, a slot, a registration, and
    /// the first-byte deadline. The app hears nothing until the first byte arrives.
    func adopt(fd: Int32, peer: PeerAddress, isHTTP: Bool = false) {
        guard !isStopping else {
            Syscall.close(fd)
            counters.socketClosed(from: peer)
            return
        }
        // Lines are small and interactive: do not let Nagle hold a reply back for an ACK.
        Syscall.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
        nextSequence += 1
        let door: Connection.Door = isHTTP && httpServices != nil ? .http : .lines
        let connection = connections.insert(loop: index, sequence: nextSequence) { token, id in
            Connection(fd: fd, id: id, token: token, peer: peer, door: door,
                       maxQueuedOutputBytes: configuration.maxQueuedOutputBytes)
        }
        do {
            try epoll.add(fd, interest: .readable, token: connection.token)
        } catch {
            logger.error("cannot register connection", metadata: ["peer": "\(peer)", "error": "\(error)"])
            connections.remove(connection)
            Syscall.close(fd)
            counters.socketClosed(from: peer)
            return
        }
        // On the HTTP port the first deadline is the request-head deadline (408 if it passes mid-head).
        setDeadline(for: connection, after: door == .http ? (httpServices?.configuration.headTimeout ?? configuration.firstByteTimeout)
                                                          : configuration.firstByteTimeout)
    }

    // MARK: - Events

    /// One readiness report for a live connection. Writable first: flushing may free the space
    /// a reply to the coming input needs, and a write error found here closes before any read.
    func handle(_ event: ReadyEvent, on connection: Connection) {
        guard !connection.isClosed else { return }
        if event.isWritable && connection.registeredInterest.contains(.writable) {
            flush(connection)
            guard !connection.isClosed else { return }
        }
        guard event.isReadable else { return }
        if connection.wantsRead {
            readAvailable(from: connection)
        } else if event.isHangup {
            // Not reading (line too long, HTTP requests waiting, draining), yet the socket failed or hung up entirely:
            // act now, since a level-triggered HUP is repeated on every tick until we do.
            close(connection, reason: connection.drainingReason ?? .peerClosed)
        }
    }

    /// Reads until the kernel has nothing more, the per-event cap is reached, or the connection
    /// stops reading. A short read means the socket is drained; level-triggered epoll reports it
    /// again if more arrives, so no extra read just to see EAGAIN.
    private func readAvailable(from connection: Connection) {
        for _ in 0..<Self.maxReadsPerEvent {
            let fd = connection.fd
            let result = readBuffer.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try Syscall.read(fd, into: buffer) }
            }
            let count: Int
            switch result {
            case .failure(let error):
                close(connection, reason: closeReason(for: connection, error: error))
                return
            case .success(.wouldBlock):
                return
            case .success(.processed(let read)):
                count = read
            }
            if count == 0 {
                peerFinishedSending(connection)
                return
            }
            if connection.isLingering {
                if count < readBuffer.count { return }
                continue
            }
            if connection.tls != nil {
                receiveCiphertext(count: count, on: connection)
            } else {
                deliver(readBuffer[0..<count], to: connection)
            }
            guard connection.wantsRead, count == readBuffer.count else { return }
        }
    }

    /// Turns received bytes into app calls, by what the connection is: the first byte opens the stream.
    func deliver(_ bytes: ArraySlice<UInt8>, to connection: Connection) {
        if case .awaitingFirstByte(let door) = connection.state, divertFirstBytes(bytes, door: door, on: connection) {
            return
        }
        switch connection.state {
        case .lines(let stream):
            receiveLines(bytes, stream: stream, on: connection)
        case .webSocket(let link):
            receiveWebSocket(bytes, link: link, on: connection)
        case .http(let exchange):
            receiveHTTP(bytes, exchange: exchange, on: connection)
        case .awaitingFirstByte(.lines):
            let kind: StreamKind = bytes.first == UInt8(ascii: "{") ? .jsonLines : .textLines
            let stream = LineStream(kind: kind, maxLineBytes: min(configuration.initialMessageBytes ?? .max,
                                                                  configuration.maxLineBytes))
            connection.state = .lines(stream)
            cancelDeadline(for: connection)
            connection.openedTo = application
            application.streamOpened(connection.id, kind: kind, peer: connection.peer)
            receiveLines(bytes, stream: stream, on: connection)
        case .awaitingFirstByte(.http):
            // The head deadline armed at accept keeps running: it counts from the connection, not the byte.
            guard let httpServices else { return }
            let exchange = HTTPExchange(parser: HTTPParser(configuration: httpServices.parserConfiguration))
            connection.state = .http(exchange)
            receiveHTTP(bytes, exchange: exchange, on: connection)
        case .tlsHandshake, .draining, .lingering, .closed:
            break  // input is no longer delivered (ciphertext goes to `receiveCiphertext`) (a lingering connection discards it before this)
        }
    }

    /// Complete lines to the application; a too-long line stops reading and warns the application.
    private func receiveLines(_ bytes: ArraySlice<UInt8>, stream: LineStream, on connection: Connection) {
        let id = connection.id
        let application = self.application
        let outcome = stream.framer.feed(bytes) { line in
            application.streamReceived(line, on: id)
        }
        if outcome == .lineTooLong {
            if stream.framer.maxLineBytes < configuration.maxLineBytes {
                counters.initialLimitExceeded.add(1, ordering: .relaxed)
            }
            connection.wantsRead = false
            updateInterest(connection)
            // The app normally answers with an error and a close; if it does not, the gateway
            // closes the stream itself (.lineTooLong) rather than keep a deaf socket forever.
            setDeadline(for: connection, after: configuration.closeFlushTimeout)
            application.streamLineTooLong(id)
        }
    }

    /// EOF: the peer will send nothing more. An unterminated last line is dropped (lines end in
    /// "\n"). Output already queued is still flushed: a half-closed peer may be reading.
    func peerFinishedSending(_ connection: Connection) {
        switch connection.state {
        case .lines, .http, .webSocket:
            beginDrain(connection, reason: .peerClosed)
        case .awaitingFirstByte, .tlsHandshake, .lingering:
            close(connection, reason: .peerClosed)
        case .draining, .closed:
            break
        }
    }
}
