/// Inboxes on every door (docs/PROTOCOL.md §4, §7, §10): a committed direct message reaching its recipient,
/// the replay after the acked cursor at login, acks, and REST readers that long-poll. Every method here runs with
/// the hub's lock held; store completions come back through `resume(_:)`.
extension ChatService {
    /// A login's replay reads the inbox in pages of this many messages.
    static let replayPageSize = 1000
    /// How long a replay waits for a client with acks to confirm a page before it sends the next one anyway.
    static let replayAckPatience: Int64 = 5_000

    // MARK: Delivery of a committed message

    /// `message` is committed with its seq: to the recipient's replay if one runs (it follows the replay, in
    /// order), else live to the recipient's session, else it waits in the inbox. Returns whether it waits.
    func route(_ message: StoredMessage) -> Bool {
        // cluster: the node the recipient is on (and any node with REST readers waiting on them) hears of it.
        for node in otherNodes(for: message.to) { cluster?.link.send(.committed(message), to: node) }
        return deliverHere(message)
    }

    /// The part of `route` that concerns this node's sessions and readers; a message committed on another node
    /// comes here through the cluster.
    @discardableResult
    func deliverHere(_ message: StoredMessage) -> Bool {
        let user = message.to
        // Where it goes is decided before the inbox changes, so that a recipient without acks, who has received
        // the message once it is handed over, costs one lookup of the inbox for both of its counts.
        let replaying = inbox.isReplaying(user)
        let recipient = replaying ? nil : presence.session(of: user)
        // A replay may have brought it already.
        let handedNow = recipient.flatMap { message.seq > $0.handedUpTo ? $0 : nil }
        if let handedNow, !handedNow.acks {
            inbox.committed(message, receivedUnder: handedNow.cursorCeiling)
        } else {
            inbox.committed(message)
        }
        let woken = inbox.wake(user, seq: message.seq)
        for waiter in woken {
            readInbox(of: user, after: waiter.after, limit: waiter.limit, waiter.session, re: waiter.re)
        }
        if !woken.isEmpty { waitingChanged(on: user) }
        if replaying {
            inbox.holdForReplay(message)
            return false
        }
        guard recipient != nil else {
            if cluster?.presence.node(of: user) != nil { return false }  // delivered there
            metrics.offlineStored += 1
            return true
        }
        guard let handedNow else { return false }
        fanOut(.message(message, offline: false), to: handedNow)
        handedNow.handedUpTo = max(handedNow.handedUpTo, message.seq)
        return false
    }

    /// Messages up to `seq` went to `session`. A client without acks has received them now (version 1: handed
    /// to the connection); one with acks says so itself.
    private func received(by session: Session, _ user: String, upTo seq: Int64) {
        session.handedUpTo = max(session.handedUpTo, seq)
        if !session.acks { _ = inbox.acknowledge(user, upTo: seq, ceiling: session.cursorCeiling) }
    }

    // MARK: The replay at login

    func readReplayPage(of user: String, after seq: Int64,
                        then done: @escaping @Sendable (Result<[StoredMessage], any Error>) -> Void) {
        store.inbox(InboxQuery(user: user, after: seq, limit: Self.replayPageSize), done: done)
    }

    /// A page of `user`'s replay arrived for `session` (online by now): hand it over, then read on, or end the
    /// replay with what was committed meanwhile.
    func replayPageRead(_ user: String, _ session: Session, _ result: Result<[StoredMessage], any Error>) {
        guard session.onlineUser == user, let replay = inbox.replay(of: user, into: session) else { return }
        let page: [StoredMessage]
        switch result {
        case .success(let messages):
            page = messages
        case .failure(let error):
            // The messages stay in the inbox: they come at the next login. The session goes on meanwhile and gets
            // what arrives live, but its cursor must not move past the ones it never got: not by handing over, and
            // not by the client's acks either (a client acks the highest seq it has shown, gap or not).
            logger.error("inbox read failed", metadata: ["user": "\(user)", "error": "\(error)"])
            session.cursorCeiling = replay.delivered
            page = []
        }
        for message in page { reply(session, .message(message, offline: true)) }
        metrics.offlineDelivered += page.count
        if let last = page.last?.seq {
            inbox.replayed(user, upTo: last)
            received(by: session, user, upTo: last)
            if page.count == Self.replayPageSize {
                // A client with acks paces the replay: the next page follows its ack of this one.
                if session.acks { return inbox.awaitAck(user, upTo: last, since: clock.now()) }
                return readNextReplayPage(of: user, into: session, after: last)
            }
        }
        let late = inbox.finishReplay(of: user, into: session)
        for message in late { reply(session, .message(message, offline: false)) }
        if let last = late.last?.seq { received(by: session, user, upTo: last) }
        startRoomReplay(of: user, into: session)
    }

    func readNextReplayPage(of user: String, into session: Session, after seq: Int64) {
        readReplayPage(of: user, after: seq) { [self] result in resume(.replayPageRead(user, session, result)) }
    }

    /// Replays waiting on a client that has not acked for too long (or on an ack that came meanwhile).
    func resumeReplays(overdueAt now: Int64) {
        for replay in inbox.replaysToResume(olderThan: now - Self.replayAckPatience) {
            readNextReplayPage(of: replay.user, into: replay.session, after: replay.after)
        }
    }

    // MARK: Acks

    func acknowledge(_ user: String, upTo seq: Int64, re: RequestID?, _ session: Session) {
        switch inbox.acknowledge(user, upTo: seq, ceiling: session.cursorCeiling) {
        case .beyondInbox(let last):
            reply(session, .error(re: re, ChatError(.badRequest, "ack beyond the inbox: last seq is \(last)")))
        case .advanced:
            if let replay = inbox.replayToResume(afterAckOf: user) {
                readNextReplayPage(of: user, into: replay.session, after: replay.after)
            }
            if re != nil || session.isREST { reply(session, .ok(re: re, .init())) }
        case .unchanged:
            // An ack asks for no answer; one that carries an id (or comes over REST) gets `ok`.
            if re != nil || session.isREST { reply(session, .ok(re: re, .init())) }
        }
    }

    /// Hands the coalesced cursor moves to the store: called by the sweep (every 250 ms) and at shutdown, so a
    /// flood of acks costs one small write per user per sweep. The ack itself is answered at once: an ack that a
    /// crash loses only means its messages come again, and clients drop a seq they have shown.
    func flushCursors() {
        guard inbox.hasUnsavedCursors else { return }
        // A user listed since the last flush may have been written at logout already: no empty commit for that.
        let writes = inbox.takeCursorWrites()
        guard !writes.isEmpty else { return }
        store.perform(writes) { [logger] result in
            // Not fatal: the messages stay after the stored cursor and come again at the next login.
            if case .failure(let error) = result {
                logger.error("cursor not saved", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: REST readers

    /// `GET /api/inbox`: the page after `after` (default: the cursor) at once if there is one, else after up to
    /// `wait` seconds, holding nothing but an entry in the waiting list meanwhile.
    func readInbox(of user: String, after: Int64?, limit: Int, wait: Int, re: RequestID?, _ session: Session) {
        let after = after ?? inbox.head(of: user).acked
        if inbox.head(of: user).last > after || wait <= 0 {
            return readInbox(of: user, after: after, limit: limit, session, re: re)
        }
        inbox.wait(user, .init(session: session, after: after, limit: limit,
                               deadline: clock.now() + Milliseconds.of(seconds: wait), re: re))
        waitingChanged(on: user)
    }

    private func readInbox(of user: String, after: Int64, limit: Int, _ session: Session, re: RequestID?) {
        let read = InboxRead(user: user, session: session, re: re)
        store.inbox(InboxQuery(user: user, after: after, limit: limit)) { [self] result in
            resume(.inboxRead(read, result))
        }
    }

    func inboxRead(_ read: InboxRead, _ result: Result<[StoredMessage], any Error>) {
        switch result {
        case .success(let messages):
            reply(read.session, .inbox(re: read.re, messages: messages, last: inbox.head(of: read.user).last))
        case .failure(let error):
            logger.error("inbox read failed", metadata: ["error": "\(error)"])
            reply(read.session, .error(re: read.re, ChatError(.internalError, "the inbox is unavailable; try again")))
        }
    }

    /// A reader's wait ended without news.
    func answerWaiter(_ waiter: Inboxes.Waiter, with messages: [StoredMessage]) {
        let user = waiter.session.onlineUser ?? ""
        reply(waiter.session, .inbox(re: waiter.re, messages: messages, last: inbox.head(of: user).last))
        waitingChanged(on: user)
    }

    /// Revokes a token: it stops working at once, and readers waiting with it get their (empty) answer.
    func revoke(digest: String) {
        _ = accounts.removeToken(digest: digest)
        store.perform([.deleteToken(digest: digest)]) { _ in }
        tellCluster(.revoked(digest: digest))
        for waiter in inbox.expire(token: digest) { answerWaiter(waiter, with: []) }
        for waiter in rooms.expire(token: digest) { answerRoomWaiter(waiter) }
    }
}

/// A page of an inbox being read for a REST reader.
struct InboxRead {
    let user: String
    let session: Session
    let re: RequestID?
}
