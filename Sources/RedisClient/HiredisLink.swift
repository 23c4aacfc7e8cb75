import CHiredis
import Logging

/// One connection to Redis, driven by hiredis's async API on the client's own epoll set, and the reconnecting
/// that keeps it there. The client has two: one for commands, one in subscribed mode for pub/sub (a RESP2
/// connection that has subscribed can run nothing else).
///
/// Who owns what: hiredis owns the socket's bytes (output buffer, parser, reply callbacks) and the
/// `redisAsyncContext`, which it frees itself when the connection fails. This link owns readiness: hiredis asks,
/// through the `ev` hooks, to be told when the socket can be read or written, and the link asks the poller. The
/// hooks' `data` pointer is this link, unretained: the link outlives every context it creates (the engine frees
/// any live context before the links go away), which also makes hiredis 0.14 calling `cleanup` twice harmless.
///
/// hiredis 0.14 has no timers, so the link keeps its deadlines itself (connect, command) and the engine's wait
/// wakes up for the nearest one.
///
/// Confined to the client thread.
final class HiredisLink {
    enum Phase {
        /// No connection; the next attempt is due at `retryAt` (monotonic ns).
        case idle(retryAt: UInt64)
        /// Connecting and running the handshake, which must finish by `deadline`.
        case connecting(deadline: UInt64)
        case ready
    }

    let role: String
    let token: UInt64
    private let url: RedisURL
    private let connectionName: String
    private let settings: RedisClient.Options
    private let poller: Poller
    private let logger: Logger
    /// Channel handlers, for the subscriber link; shared with the engine, which changes it.
    private let subscriptions: SubscriptionTable?

    private(set) var phase = Phase.idle(retryAt: 0)
    private(set) var context: UnsafeMutablePointer<redisAsyncContext>?
    private var descriptor: Int32 = -1
    private var interest: PollInterest = []
    private var pending = PendingReplies()
    private var batches: [SubscribeBatch] = []
    /// Handshake replies (and, on the subscriber link, channel confirmations) still due before the link is ready.
    private var handshakeRemaining = 0
    private var backoff: UInt64
    /// Set from inside a hiredis callback when the link must go; acted on by `settle` once hiredis has returned.
    private var dropReason: String?
    /// Why the last context ended, as hiredis or the link put it; read by `settle` for the log and `lastError`.
    private var lossReason: String?
    /// What a reply lost with the connection reads as: `.disconnected`, or `.stopped` while the client stops.
    var lostReplyError = RedisError.disconnected

    init(role: String, token: UInt64, url: RedisURL, connectionName: String, settings: RedisClient.Options,
         poller: Poller, logger: Logger, subscriptions: SubscriptionTable?) {
        self.role = role
        self.token = token
        self.url = url
        self.connectionName = connectionName
        self.settings = settings
        self.poller = poller
        self.logger = logger
        self.subscriptions = subscriptions
        backoff = settings.initialBackoff.nanoseconds
    }

    var isReady: Bool { if case .ready = phase { true } else { false } }

    /// The moment this link next needs attention without any I/O: a retry, a connect deadline, a reply overdue.
    var nextDeadline: UInt64? {
        switch phase {
        case .idle(let retryAt): return retryAt
        case .connecting(let deadline): return deadline
        case .ready:
            let timeout = settings.commandTimeout.nanoseconds
            let oldest = [pending.first?.sentAt, batches.first?.sentAt].compactMap { $0 }.min()
            return oldest.map { $0 + timeout }
        }
    }

    // MARK: Connecting

    /// Starts a connection attempt and queues the handshake behind it; hiredis sends it once connected.
    /// Returns a failure reason when the attempt could not even start (the link is then idle with a retry set).
    func connect(now: UInt64) -> String? {
        guard let context = redisAsyncConnect(url.host, Int32(url.port)) else { return lost("out of memory", now: now) }
        if context.pointee.err != 0 {
            let reason = String(cString: context.pointee.errstr)
            redisAsyncFree(context)
            return lost(reason, now: now)
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        context.pointee.data = me
        context.pointee.ev.data = me
        context.pointee.ev.addRead = { HiredisLink.from($0).want(.read, true) }
        context.pointee.ev.delRead = { HiredisLink.from($0).want(.read, false) }
        context.pointee.ev.addWrite = { HiredisLink.from($0).want(.write, true) }
        context.pointee.ev.delWrite = { HiredisLink.from($0).want(.write, false) }
        context.pointee.ev.cleanup = { HiredisLink.from($0).contextEnded() }
        self.context = context
        descriptor = context.pointee.c.fd
        dropReason = nil
        lossReason = nil
        phase = .connecting(deadline: now + settings.connectTimeout.nanoseconds)
        // Keepalive probes notice a peer that vanished without a FIN while this end has nothing to send.
        _ = redisEnableKeepAlive(&context.pointee.c)
        // A failed connect reports its reason here, before hiredis frees the context.
        _ = redisAsyncSetConnectCallback(context) { context, status in
            guard status != REDIS_OK, let context else { return }
            HiredisLink.from(context.pointee.data).lossReason = String(cString: context.pointee.errstr)
        }
        _ = redisAsyncSetDisconnectCallback(context) { context, status in
            guard status != REDIS_OK, let context else { return }
            HiredisLink.from(context.pointee.data).lossReason = String(cString: context.pointee.errstr)
        }
        handshakeRemaining = 0
        // AUTH first: a server with a password answers everything else before it with NOAUTH.
        if let authentication = url.authentication { sendHandshake(authentication.map { RedisArgument($0) }, now: now) }
        sendHandshake(["CLIENT", "SETNAME", RedisArgument(connectionName)], now: now)
        if let subscriptions {
            let channels = subscriptions.channels
            if !channels.isEmpty {
                _ = sendSubscribe(channels, now: now)
                handshakeRemaining += channels.count
            }
        } else if url.database != 0 {
            sendHandshake(["SELECT", RedisArgument(url.database)], now: now)
        }
        return nil
    }

    private func sendHandshake(_ arguments: [RedisArgument], now: UInt64) {
        if send(EncodedCommand(arguments), kind: .handshake, now: now) { handshakeRemaining += 1 }
    }

    /// One handshake reply (or channel confirmation) has come back good; the last one makes the link ready.
    private func handshakeStepDone() {
        handshakeRemaining -= 1
        if handshakeRemaining == 0, case .connecting = phase {
            phase = .ready
            backoff = settings.initialBackoff.nanoseconds
        }
    }

    // MARK: Sending

    /// Hands one command to hiredis, which appends it to its output buffer and asks for writability; every command
    /// queued before the socket is next writable leaves in the same write. False when there is no connection.
    @discardableResult
    func send(_ command: EncodedCommand, kind: PendingKind, now: UInt64) -> Bool {
        guard let context, dropReason == nil else { return false }
        let status = argv(command) { count, arguments, lengths in
            redisAsyncCommandArgv(context, { context, reply, _ in
                guard let context else { return }
                HiredisLink.from(context.pointee.data).replied(reply?.assumingMemoryBound(to: redisReply.self))
            }, nil, count, arguments, lengths)
        }
        guard status == REDIS_OK else { return false }
        pending.append(PendingReply(kind: kind, sentAt: now))
        return true
    }

    /// Sends SUBSCRIBE for `channels` (subscriber link only). Its confirmations and messages arrive through
    /// hiredis's per-channel callbacks, not the reply FIFO.
    func sendSubscribe(_ channels: [String], now: UInt64) -> Bool {
        guard let context, dropReason == nil, !channels.isEmpty else { return false }
        let command = EncodedCommand(["SUBSCRIBE"] + channels.map { RedisArgument($0) })
        let status = argv(command) { count, arguments, lengths in
            redisAsyncCommandArgv(context, { context, reply, _ in
                guard let context else { return }
                HiredisLink.from(context.pointee.data).published(reply?.assumingMemoryBound(to: redisReply.self))
            }, nil, count, arguments, lengths)
        }
        return status == REDIS_OK
    }

    /// Subscribes `channels` on a live link and calls `done` once Redis has confirmed them all.
    func subscribe(_ channels: [String], now: UInt64, done: (@Sendable (Result<Void, RedisError>) -> Void)?) -> Bool {
        guard sendSubscribe(channels, now: now) else { return false }
        batches.append(SubscribeBatch(remaining: channels.count, sentAt: now, done: done))
        return true
    }

    /// Sends UNSUBSCRIBE; hiredis routes each confirmation to the channel's callback, which ignores it.
    func unsubscribe(_ channels: [String]) {
        guard let context, dropReason == nil, !channels.isEmpty else { return }
        let command = EncodedCommand(["UNSUBSCRIBE"] + channels.map { RedisArgument($0) })
        _ = argv(command) { redisAsyncCommandArgv(context, nil, nil, $0, $1, $2) }
    }

    /// Lays `command` out as hiredis's argv: pointers into the one contiguous buffer, and each length, so bytes
    /// are taken as they are (NUL included) and nothing is formatted through printf.
    private func argv(_ command: EncodedCommand,
                      _ call: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32) -> Int32 {
        command.bytes.withUnsafeBytes { bytes in
            withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: command.lengths.count) { arguments in
                var offset = 0
                for (index, length) in command.lengths.enumerated() {
                    arguments[index] = (bytes.baseAddress! + offset).assumingMemoryBound(to: CChar.self)
                    offset += length
                }
                return command.lengths.withUnsafeBufferPointer { lengths in
                    call(Int32(command.lengths.count), arguments.baseAddress!, lengths.baseAddress!)
                }
            }
        }
    }

    // MARK: Replies (called by hiredis, inside redisAsyncHandleRead or redisAsyncFree)

    private func replied(_ reply: UnsafePointer<redisReply>?) {
        guard let entry = pending.popFirst() else { return }
        let result: Result<RedisReply, RedisError>
        if let reply {
            result = .success(RedisReply(reply))
        } else {
            result = .failure(entry.timedOut ? .timeout : lostReplyError)
        }
        switch entry.kind {
        case .command(let done):
            done(result)
        case .handshake:
            switch result {
            case .success(.error(let message)): dropReason = dropReason ?? "the handshake was refused: \(message)"
            case .success: handshakeStepDone()
            case .failure: break
            }
        }
    }

    /// A pub/sub push: a confirmation of SUBSCRIBE, a message, or an unsubscribe confirmation.
    private func published(_ reply: UnsafePointer<redisReply>?) {
        guard let reply, case .array(let parts) = RedisReply(reply), parts.count >= 3,
              let kind = parts[0].string, let channel = parts[1].string else { return }
        switch kind.lowercased() {
        case "message":
            if case .bulk(let payload) = parts[2] { subscriptions?.handler(for: channel)?(channel, payload) }
        case "subscribe":
            if handshakeRemaining > 0, case .connecting = phase {
                handshakeStepDone()
            } else if !batches.isEmpty {
                batches[0].remaining -= 1
                if batches[0].remaining == 0 { batches.removeFirst().done?(.success(())) }
            }
        default:
            break
        }
    }

    // MARK: Readiness (hooks called by hiredis; events delivered by the engine)

    private func want(_ bit: PollInterest, _ on: Bool) {
        guard context != nil else { return } // after cleanup hiredis may still tidy up; the fd is about to close
        let next = on ? interest.union(bit) : interest.subtracting(bit)
        poller.set(descriptor, from: interest, to: next, token: token)
        interest = next
    }

    /// hiredis's `cleanup` hook: the context is being freed and its socket closed. Forget both before that.
    private func contextEnded() {
        guard context != nil else { return }
        poller.set(descriptor, from: interest, to: [], token: token)
        interest = []
        descriptor = -1
        context = nil
    }

    /// Passes readiness to hiredis. Reading may end the context (EOF, an error), so writing checks again.
    func handle(_ event: PollEvent) {
        if event.readable, interest.contains(.read), let context { redisAsyncHandleRead(context) }
        if event.writable, interest.contains(.write), let context { redisAsyncHandleWrite(context) }
    }

    // MARK: Timeouts, drops and retries (called by the engine outside any hiredis callback)

    /// Acts on what the last events and callbacks left behind. Returns the loss reason when the link lost its
    /// connection (or failed to get one) just now; nil otherwise.
    func settle(now: UInt64) -> String? {
        switch phase {
        case .connecting(let deadline) where context != nil && now >= deadline:
            drop("no connection and handshake within \(settings.connectTimeout)")
        case .ready where context != nil:
            if let oldest = pending.first, now >= oldest.sentAt + settings.commandTimeout.nanoseconds {
                pending.markFirstTimedOut()
                drop("no reply within \(settings.commandTimeout)")
            } else if let oldest = batches.first, now >= oldest.sentAt + settings.commandTimeout.nanoseconds {
                drop("no subscribe confirmation within \(settings.commandTimeout)")
            }
        default:
            break
        }
        if let reason = dropReason, context != nil { drop(reason) }
        if context == nil, !isIdle {
            return lost(lossReason ?? dropReason ?? "the connection closed", now: now)
        }
        return nil
    }

    /// True when the link is idle and its retry is due.
    func retryDue(now: UInt64) -> Bool {
        if case .idle(let retryAt) = phase { now >= retryAt } else { false }
    }

    /// Frees the context now: hiredis calls every pending callback with no reply (`lostReplyError`, or
    /// `.timeout` for the one that timed out), then `cleanup`. Never called from inside a hiredis callback.
    func drop(_ reason: String) {
        guard let context else { return }
        lossReason = lossReason ?? reason
        redisAsyncFree(context)
    }

    private var isIdle: Bool { if case .idle = phase { true } else { false } }

    /// Records a lost or failed connection: fails the subscriptions still unconfirmed and sets the next retry,
    /// 100 ms after the first failure and twice as long after each further one, up to the maximum.
    private func lost(_ reason: String, now: UInt64) -> String {
        while !pending.isEmpty { replied(nil) } // only if hiredis did not already (it always does today)
        let waiting = batches
        batches.removeAll()
        for batch in waiting { batch.done?(.failure(lostReplyError)) }
        phase = .idle(retryAt: now + backoff)
        backoff = min(backoff * 2, settings.maxBackoff.nanoseconds)
        dropReason = nil
        lossReason = nil
        return reason
    }

    private static func from(_ pointer: UnsafeMutableRawPointer?) -> HiredisLink {
        Unmanaged<HiredisLink>.fromOpaque(pointer!).takeUnretainedValue()
    }
}
