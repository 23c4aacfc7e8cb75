import Glibc
import Logging

/// The TLS side of a loop (docs/SECURITY.md): a first byte of 0x16 (a TLS handshake record) on either port starts
/// a handshake instead of a stream; once it completes, the first decrypted byte decides JSON, text or HTTP exactly
/// as a plaintext first byte does. OpenSSL works on memory BIOs (`TLSSession`): ciphertext read from the socket is
/// fed in and the plaintext handed to `deliver`; queued output is encrypted at flush time and the ciphertext of
/// one tick leaves in one `send`, so a TLS connection makes the same number of write calls as a plaintext one.
extension EventLoop {
    /// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, content type 22).
    static let tlsHandshakeRecord: UInt8 = 0x16
    /// Small messages are gathered into one record of up to this much, not sealed one record each.
    static let tlsRecordGatherBytes = 16 * 1024
    /// Ciphertext a connection may hold unsent before its queued plaintext waits: keeps the slow-consumer limit
    /// about plaintext and memory per connection bounded.
    static let tlsCiphertextBudget = 256 * 1024
    /// A client's first flight (its ClientHello) fits one record of at most 16 KiB plus its header; a connection
    /// that sends more before the handshake is done is not a TLS client, and is not buffered for.
    static let tlsHandshakeInputLimit = 16 * 1024 + 5 + 1024

    // MARK: - The first bytes

    /// Looks at the first bytes of a connection without TLS: a handshake record starts (or queues) TLS, and
    /// plaintext is refused when TLS is required. Returns false when the bytes are the plaintext stream's.
    func divertFirstBytes(_ bytes: ArraySlice<UInt8>, door: Connection.Door, on connection: Connection) -> Bool {
        guard connection.tls == nil, let store = tlsContexts else { return false }
        if bytes.first == Self.tlsHandshakeRecord {
            if bytes.count > Self.tlsHandshakeInputLimit {
                counters.tls.handshakesFailed.add(1, ordering: .relaxed)
                close(connection, reason: .ioError(EPROTO))
                return true
            }
            if handshakesInProgress >= configuration.maxHandshakesPerLoop {
                // A storm waits its turn unread (the accept-time deadline still running), so established
                // connections keep the loop; the bytes already read are held for when a slot frees.
                connection.heldTLSBytes = Array(bytes)
                connection.wantsRead = false
                updateInterest(connection)
                handshakeQueue.append(connection)
                return true
            }
            startHandshake(on: connection, door: door, store: store, firstBytes: bytes)
            return true
        }
        guard configuration.requireTLS else { return false }
        counters.tls.plaintextRefused.add(1, ordering: .relaxed)
        logger.debug("plaintext refused: TLS required", metadata: ["peer": "\(connection.peer)"])
        beginDrain(connection, reason: .closedByApplication)
        enqueue(Outbound(door == .lines ? Array("Error. TLS required\n".utf8) : Self.upgradeRequiredResponse()),
                on: connection)
        return true
    }

    /// RFC 2817 §4.2: 426 names the protocol to switch to. Written by hand because `HTTPResponse` owns its
    /// `Connection` field, and this one must say `Upgrade` as well as `close`.
    static func upgradeRequiredResponse() -> [UInt8] {
        let body = #"{"error":{"code":"tls_required","message":"this server only accepts TLS (https, wss)"}}"#
        return Array(("HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.2\r\nConnection: Upgrade, close\r\n"
            + "Content-Type: application/json\r\nDate: \(HTTPDate.now())\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            + body).utf8)
    }

    private func startHandshake(on connection: Connection, door: Connection.Door, store: TLSContextStore,
                                firstBytes: ArraySlice<UInt8>) {
        guard let session = store.context?.makeSession() else {
            logger.error("cannot create a TLS session", metadata: ["peer": "\(connection.peer)"])
            close(connection, reason: .ioError(ENOMEM))
            return
        }
        connection.tls = session
        counters.tls.connectionsOpen.add(1, ordering: .relaxed)
        handshakesInProgress += 1
        connection.state = .tlsHandshake(door)
        firstBytes.withUnsafeBytes { session.feed($0) }
        advanceTLS(on: connection)
    }

    // MARK: - Input

    /// `count` bytes of ciphertext at the start of `readBuffer`.
    func receiveCiphertext(count: Int, on connection: Connection) {
        guard let session = connection.tls else { return }
        readBuffer.withUnsafeBytes { session.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        if session.writeWantsRead {
            // A write stalled on the peer's bytes: these may be them.
            session.writeWantsRead = false
            scheduleFlush(connection)
        }
        advanceTLS(on: connection)
    }

    /// Moves the handshake on, then hands out whatever plaintext is ready.
    private func advanceTLS(on connection: Connection) {
        guard let session = connection.tls else { return }
        if case .tlsHandshake(let door) = connection.state {
            switch session.advanceHandshake() {
            case .needsInput where session.unreadCiphertextBytes > Self.tlsHandshakeInputLimit:
                logger.debug("TLS handshake flooded", metadata: ["peer": "\(connection.peer)"])
                close(connection, reason: .ioError(EPROTO))
                return
            case .needsInput:
                if session.hasCiphertext { scheduleFlush(connection) }
                return
            case .failed(let why):
                logger.debug("TLS handshake failed", metadata: ["peer": "\(connection.peer)", "error": "\(why)"])
                // The alert OpenSSL queued, if the socket takes it; nothing waits for it.
                _ = try? session.sendCiphertext(on: connection.fd, scratch: tlsScratch)
                close(connection, reason: .ioError(EPROTO))
                return
            case .complete:
                handshakeSlotFreed()
                counters.tls.handshakesCompleted.add(1, ordering: .relaxed)
                logger.trace("TLS established", metadata: ["peer": "\(connection.peer)", "tls": "\(session.negotiated)"])
                // The accept-time deadline keeps running until the first decrypted byte opens the stream.
                connection.state = .awaitingFirstByte(door)
                if session.hasCiphertext { scheduleFlush(connection) }
            }
        }
        readPlaintext(from: connection)
    }

    /// Decrypts and delivers until OpenSSL holds nothing more or the connection stops reading; what a paused
    /// connection leaves is picked up by `serviceTLS` when it reads again (epoll will not report it twice).
    func readPlaintext(from connection: Connection) {
        guard let session = connection.tls else { return }
        while connection.wantsRead, !connection.isClosed, !connection.isLingering {
            let outcome = readBuffer.withUnsafeMutableBytes { session.read(into: $0) }
            switch outcome {
            case .plaintext(let count):
                deliver(readBuffer[0..<count], to: connection)
            case .needsInput:
                if session.hasCiphertext { scheduleFlush(connection) }
                return
            case .closed:
                peerFinishedSending(connection)
                return
            case .failed(let why):
                logger.debug("TLS record refused", metadata: ["peer": "\(connection.peer)", "error": "\(why)"])
                close(connection, reason: connection.drainingReason ?? .ioError(EPROTO))
                return
            }
        }
        if !connection.isClosed, session.hasCiphertext { scheduleFlush(connection) }
    }

    /// A paused connection reads again: if its TLS layer holds input, deliver it this tick.
    func resumeBufferedTLSInput(of connection: Connection) {
        guard let session = connection.tls, session.hasBufferedInput, !connection.isInTLSInputList else { return }
        connection.isInTLSInputList = true
        tlsInputList.append(connection)
    }

    /// Step 5½ of the tick: admit queued handshakes into free slots, and deliver input held for connections
    /// that resumed reading.
    func serviceTLS() {
        if let store = tlsContexts {
            while handshakesInProgress < configuration.maxHandshakesPerLoop, handshakeQueueHead < handshakeQueue.count {
                let connection = handshakeQueue[handshakeQueueHead]
                handshakeQueueHead += 1
                guard !connection.isClosed, let held = connection.heldTLSBytes,
                      case .awaitingFirstByte(let door) = connection.state else { continue }
                connection.heldTLSBytes = nil
                connection.wantsRead = true
                updateInterest(connection)
                startHandshake(on: connection, door: door, store: store, firstBytes: held[...])
            }
            if handshakeQueueHead == handshakeQueue.count {
                handshakeQueue.removeAll(keepingCapacity: true)
                handshakeQueueHead = 0
            } else if handshakeQueueHead >= 64 && handshakeQueueHead * 2 >= handshakeQueue.count {
                handshakeQueue.removeFirst(handshakeQueueHead)
                handshakeQueueHead = 0
            }
        }
        var position = 0
        while position < tlsInputList.count {
            let connection = tlsInputList[position]
            position += 1
            connection.isInTLSInputList = false
            if connection.wantsRead { readPlaintext(from: connection) }
        }
        tlsInputList.removeAll(keepingCapacity: true)
    }

    private func handshakeSlotFreed() {
        handshakesInProgress -= 1
    }

    /// `close` of a connection whose handshake never finished: free its slot and count the outcome.
    func abandonTLS(on connection: Connection, reason: CloseReason) {
        if case .tlsHandshake = connection.state {
            handshakeSlotFreed()
        } else if connection.heldTLSBytes == nil {
            return
        }
        connection.heldTLSBytes = nil
        switch reason {
        case .handshakeTimeout: counters.tls.handshakesTimedOut.add(1, ordering: .relaxed)
        case .serverStopping: break
        default: counters.tls.handshakesFailed.add(1, ordering: .relaxed)
        }
    }

    // MARK: - Output

    /// `flush` for a TLS connection: encrypt what is queued (within the ciphertext budget), then one `send` of all
    /// the ciphertext gathered. Counted as one write call with the messages it completed, like a plaintext flush.
    func flushTLS(_ connection: Connection, session: TLSSession) {
        let fd = connection.fd
        let outcome: FlushOutcome
        do {
            let budget = Self.tlsCiphertextBudget - session.ciphertextBytes
            if connection.output.isEmpty || budget <= 0 || !session.isHandshakeComplete {
                // Only ciphertext to move: handshake messages, alerts, close_notify, or a backlog to work off.
                if session.hasCiphertext { _ = try session.sendCiphertext(on: fd, scratch: tlsScratch) }
                outcome = connection.output.isEmpty ? .drained : .pending
            } else {
                outcome = try connection.output.flush(iovecs: iovecs, tally: &tally) { vectors, count throws(SystemError) in
                    let taken = try encrypt(vectors, count: count, budget: budget, into: session)
                    let sent = try session.sendCiphertext(on: fd, scratch: tlsScratch)
                    if taken == 0, case .wouldBlock = sent { return .wouldBlock }
                    return .processed(taken)
                }
            }
        } catch {
            close(connection, reason: closeReason(for: connection, error: error))
            return
        }
        reportQueuedBytes(of: connection)
        if outcome == .drained && !session.hasCiphertext && connection.drainingReason != nil {
            finishDrain(connection)
        } else {
            updateInterest(connection)
        }
    }

    /// Hands queued plaintext to OpenSSL, small messages gathered into shared records; returns the bytes taken.
    private func encrypt(_ vectors: UnsafeMutablePointer<iovec>, count: Int, budget: Int,
                         into session: TLSSession) throws(SystemError) -> Int {
        let gather = UnsafeMutableRawBufferPointer(rebasing: tlsScratch[0..<Self.tlsRecordGatherBytes])
        var taken = 0
        var gathered = 0
        /// Seals the gathered bytes; false if OpenSSL took less (the rest stays queued and is offered again).
        func seal() throws(SystemError) -> Bool {
            guard gathered > 0 else { return true }
            guard let sealed = session.encrypt(UnsafeRawBufferPointer(rebasing: gather[0..<gathered])) else {
                throw SystemError(code: EPROTO, call: "SSL_write")
            }
            taken += sealed
            defer { gathered = 0 }
            return sealed == gathered
        }
        for index in 0..<count {
            let room = budget - taken - gathered
            guard room > 0, let base = vectors[index].iov_base else { break }
            let length = vectors[index].iov_len
            if length >= gather.count {
                guard try seal() else { return taken }
                let offered = min(length, budget - taken)
                guard let sealed = session.encrypt(UnsafeRawBufferPointer(start: base, count: offered)) else {
                    throw SystemError(code: EPROTO, call: "SSL_write")
                }
                taken += sealed
                if sealed < length { return taken }
                continue
            }
            if gathered + length > gather.count { guard try seal() else { return taken } }
            (gather.baseAddress! + gathered).copyMemory(from: base, byteCount: length)
            gathered += length
        }
        _ = try seal()
        return taken
    }

    /// Before the FIN of a TLS connection: close_notify, sent if the socket takes it (never waited for).
    func sendCloseNotify(on connection: Connection) {
        guard let session = connection.tls else { return }
        session.queueCloseNotify()
        _ = try? session.sendCiphertext(on: connection.fd, scratch: tlsScratch)
    }
}
