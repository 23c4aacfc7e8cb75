/// What a logged-in user does, on every door alike: direct messages, broadcasts, history, whoelse and
/// whoelsesince, block and unblock (docs/PROTOCOL.md §4.3, §7). Every method here runs with the hub's lock held;
/// store completions come back through `resume(_:)`.
extension ChatService {
    /// Validate, commit, then deliver and acknowledge: durable before acknowledged
    /// (docs/ARCHITECTURE.md §6 principle 3).
    func sendMessage(from user: String, to recipient: String, text: String, re: RequestID?, _ session: Session) {
        if let error = refuseText(text, from: user) { return reply(session, .error(re: re, error)) }
        guard recipient != user else { return reply(session, .error(re: re, ChatError(.self, Texts.cannotMessageSelf))) }
        guard accounts.exists(recipient) else {
            return reply(session, .error(re: re, ChatError(.invalidUser, Texts.invalidUser)))
        }
        // docs/PROTOCOL.md §4.3: the recipient blocked the sender → refused, nothing stored.
        guard !blocks.hasBlocked(recipient, user) else {
            return reply(session, .error(re: re, ChatError(.blocked, Texts.recipientBlockedYou)))
        }
        // cluster: the shared store numbers messages (0 asks it to), so ids are unique across nodes.
        let id: Int64 = cluster == nil ? nextMessageID : 0
        if cluster == nil { nextMessageID += 1 }
        let message = StoredMessage(id: id, from: user, to: recipient, text: text, at: clock.now())
        metrics.messages += 1
        let direct = DirectMessage(session: session, re: re)
        store.append(message) { [self] result in resume(.messageStored(direct, result)) }
    }

    /// The commit finished (the message has its seq): deliver it to wherever its recipient is *now*, then
    /// acknowledge the sender.
    func messageStored(_ direct: DirectMessage, _ result: Result<StoredMessage, any Error>) {
        switch result {
        case .failure(let error):
            logger.error("message not stored", metadata: ["error": "\(error)"])
            reply(direct.session, .error(re: direct.re,
                                         ChatError(.internalError, "the message could not be stored; try again")))
        case .success(let message):
            let waits = route(message)
            reply(direct.session, .ok(re: direct.re, .init(id: message.id, stored: waits)))
        }
    }

    /// Broadcasts are live only (docs/PROTOCOL.md §4.3): never stored, so nothing to wait for.
    func broadcast(from user: String, text: String, re: RequestID?, _ session: Session) {
        if let error = refuseText(text, from: user) { return reply(session, .error(re: re, error)) }
        guard let id = nextBroadcastID() else {
            return reply(session, .error(re: re, ChatError(.internalError, "broadcasts are unavailable; try again")))
        }
        metrics.broadcasts += 1
        var recipients: [Session] = []
        recipients.reserveCapacity(presence.onlineCount)
        var partial = false
        presence.forEachOnline { name, other in
            guard name != user else { return }
            if blocks.hasBlocked(name, user) { partial = true } else { recipients.append(other) }
        }
        let now = clock.now()
        if let cluster {
            // The other nodes deliver to their own sessions; whether anyone is left out is known here.
            if !partial { partial = cluster.presence.anyRemoteUser { blocks.hasBlocked($0, user) } }
            cluster.link.publish(.broadcast(id: id, from: user, text: text, at: now))
        }
        fanOut(.broadcast(id: id, from: user, text: text, at: now), to: recipients)
        reply(session, .ok(re: re, .init(id: id, partial: partial)))
    }

    /// The caller's direct messages (with `other`, or with anyone), newest first; `next` pages further back.
    func history(for user: String, with other: String?, before: Int64?, limit: Int, re: RequestID?, _ session: Session) {
        if let other, !accounts.exists(other) {
            return reply(session, .error(re: re, ChatError(.invalidUser, Texts.invalidUser)))
        }
        let page = HistoryPage(limit: limit, session: session, re: re)
        // One more than asked tells whether another page exists.
        store.history(HistoryQuery(owner: user, with: other, before: before, limit: limit + 1)) { [self] result in
            resume(.historyRead(page, result))
        }
    }

    func historyRead(_ page: HistoryPage, _ result: Result<[StoredMessage], any Error>) {
        switch result {
        case .success(let rows):
            let messages = Array(rows.prefix(page.limit))
            let next = rows.count > page.limit ? messages.last?.id : nil
            reply(page.session, .history(re: page.re, messages: messages, next: next))
        case .failure(let error):
            logger.error("history read failed", metadata: ["error": "\(error)"])
            reply(page.session, .error(re: page.re, ChatError(.internalError, "history is unavailable; try again")))
        }
    }

    /// A `message` or `broadcast` text: empty is refused, then the sender's message budget (any door). There is
    /// no text limit of its own: the request's size limit (64 KiB on the socket doors) bounds it.
    func refuseText(_ text: String, from user: String) -> ChatError? {
        if text.isEmpty { return ChatError(.badRequest, "text must not be empty") }
        if let retry = loginGuard.admitMessage(from: user, now: clock.now()) {
            metrics.rateLimitedMessages += 1
            return Self.rateLimited("messages", retryAfter: retry)
        }
        return nil
    }

    /// Other online users (or, with `window`, everyone online at any moment within it), leaving out users who
    /// blocked `user`. The window reaches back to server start at most: login history only holds logouts since then.
    func whoElse(for user: String, since window: Int64?) -> [String] {
        var names = presence.users(onlineOrSeenSince: window.map { clock.now() - $0 })
        names.remove(user)
        return names.filter { !blocks.hasBlocked($0, user) }.sorted()
    }

    /// Validates and applies a block change in memory at once (so the very next message obeys it), then makes it
    /// durable; the reply waits for the store.
    func setBlock(_ user: String, _ other: String, blocked: Bool, re: RequestID?, _ session: Session) {
        if let error = blockRefusal(user, other, blocked: blocked) { return reply(session, .error(re: re, error)) }
        blocks.setBlocked(user, other, blocked)
        let change = BlockChange(blocker: user, other: other, blocked: blocked, session: session, re: re)
        store.perform([.setBlock(blocker: user, blocked: other, isBlocked: blocked)]) { [self] result in
            if case .failure(let error) = result { resume(.blockStored(change, error: error)) }
            else { resume(.blockStored(change, error: nil)) }
        }
    }

    private func blockRefusal(_ user: String, _ other: String, blocked: Bool) -> ChatError? {
        if other == user { return ChatError(.self, blocked ? Texts.cannotBlockSelf : Texts.cannotUnblockSelf) }
        guard accounts.exists(other) else { return ChatError(.invalidUser, Texts.invalidUser) }
        let already = blocks.hasBlocked(user, other)
        if blocked && already { return ChatError(.alreadyBlocked, Texts.alreadyBlocked(other)) }
        if !blocked && !already { return ChatError(.notBlocked, Texts.wasNotBlocked(other)) }
        return nil
    }

    func blockStored(_ change: BlockChange, error: (any Error)?) {
        guard error == nil else {
            // Undo so memory matches the store again.
            blocks.setBlocked(change.blocker, change.other, !change.blocked)
            return reply(change.session, .error(re: change.re,
                                                ChatError(.internalError, "the block could not be saved; try again")))
        }
        tellCluster(.block(blocker: change.blocker, blocked: change.other, isBlocked: change.blocked))
        reply(change.session, .ok(re: change.re, .init()))
    }
}
