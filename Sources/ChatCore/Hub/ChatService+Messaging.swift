/// Direct messages, broadcasts, history and the offline queue (SPEC.md §3–§4).
/// Every method here runs with `lock` held.
extension ChatService {
    func sendMessage(from user: String, to recipient: String, text: String, re: RequestID?, _ session: Session) {
        if let error = validateText(text) ?? throttleMessage(from: user) { return reply(session, .error(re: re, error)) }
        deliverDirect(from: user, to: recipient, text: text) { [self] result in
            switch result {
            case .success(let (id, stored)): reply(session, .ok(re: re, .init(id: id, stored: stored)))
            case .failure(let error): reply(session, .error(re: re, error))
            }
        }
    }

    /// The shared path for every door (sockets and REST): validate, commit, then deliver and acknowledge.
    /// `completion` runs with the lock held, after the commit (DESIGN.md principle 3: durable before acknowledged).
    func deliverDirect(from user: String, to recipient: String, text: String,
                       completion: @escaping @Sendable (Result<(Int64, Bool), ChatError>) -> Void) {
        guard recipient != user else { return completion(.failure(ChatError(.self, Texts.cannotMessageSelf))) }
        guard accounts[recipient] != nil else { return completion(.failure(ChatError(.invalidUser, Texts.invalidUser))) }
        // SPEC.md §4: the recipient blocked the sender → refused, nothing stored.
        guard !hasBlocked(recipient, user) else {
            return completion(.failure(ChatError(.blocked, Texts.recipientBlockedYou)))
        }
        let message = StoredMessage(id: nextMessageID, from: user, to: recipient, text: text, at: clock.now())
        nextMessageID += 1
        metrics.messages += 1
        let storedPending = online[recipient] == nil
        store.perform([.insertMessage(message, pending: storedPending)]) { [self] result in
            locked {
                switch result {
                case .failure(let error):
                    logger.error("message not stored", metadata: ["error": "\(error)"])
                    completion(.failure(ChatError(.internalError, "the message could not be stored; try again")))
                case .success:
                    let stored = routeCommitted(message, storedPending: storedPending)
                    completion(.success((message.id, stored)))
                }
            }
        }
    }

    /// Delivers a freshly committed message to wherever its recipient is *now*, keeping the store's pending flag
    /// true exactly while the message waits in the offline queue. Returns whether it went to the offline queue.
    private func routeCommitted(_ message: StoredMessage, storedPending: Bool) -> Bool {
        if let recipient = online[message.to] {
            fanOut(.message(message, offline: false), to: [recipient])
            if storedPending { store.perform([.markDelivered([message.id])]) { _ in } }
            return false
        }
        if let entering = sessions.values.first(where: { $0.state == .entering(user: message.to) }) {
            // Its offline fetch was queued after this insert iff the insert was stored as pending; otherwise the
            // fetch cannot contain it, so it is handed over right after welcome.
            if !storedPending { entering.lateMessages.append(message) }
            return false
        }
        if !storedPending { store.perform([.markPending(message.id)]) { _ in } }
        metrics.offlineStored += 1
        return true
    }

    func broadcast(from user: String, text: String, re: RequestID?, _ session: Session) {
        if let error = validateText(text) ?? throttleMessage(from: user) { return reply(session, .error(re: re, error)) }
        let (id, partial) = deliverBroadcast(from: user, text: text)
        reply(session, .ok(re: re, .init(id: id, partial: partial)))
    }

    /// Broadcasts are live only (SPEC.md §5): never stored, so nothing to wait for.
    func deliverBroadcast(from user: String, text: String) -> (id: Int64, partial: Bool) {
        let id = nextMessageID
        nextMessageID += 1
        metrics.broadcasts += 1
        var recipients: [Session] = []
        recipients.reserveCapacity(online.count)
        var partial = false
        for (name, session) in online where name != user {
            if hasBlocked(name, user) { partial = true } else { recipients.append(session) }
        }
        fanOut(.broadcast(id: id, from: user, text: text, at: clock.now()), to: recipients)
        return (id, partial)
    }

    func history(for user: String, with other: String?, before: Int64?, limit: Int, re: RequestID?, _ session: Session) {
        fetchHistory(for: user, with: other, before: before, limit: limit) { [self] result in
            switch result {
            case .success(let (messages, next)): reply(session, .history(re: re, messages: messages, next: next))
            case .failure(let error): reply(session, .error(re: re, error))
            }
        }
    }

    /// The caller's direct messages (with `other`, or with anyone), newest first; `next` pages further back.
    /// `completion` runs with the lock held.
    func fetchHistory(for user: String, with other: String?, before: Int64?, limit: Int,
                      completion: @escaping @Sendable (Result<([StoredMessage], Int64?), ChatError>) -> Void) {
        if let other, accounts[other] == nil {
            return completion(.failure(ChatError(.invalidUser, Texts.invalidUser)))
        }
        // One more than asked tells whether another page exists.
        let query = HistoryQuery(owner: user, with: other, before: before, limit: limit + 1)
        store.history(query) { [self] result in
            locked {
                switch result {
                case .success(let rows):
                    let page = Array(rows.prefix(limit))
                    completion(.success((page, rows.count > limit ? page.last?.id : nil)))
                case .failure(let error):
                    logger.error("history read failed", metadata: ["error": "\(error)"])
                    completion(.failure(ChatError(.internalError, "history is unavailable; try again")))
                }
            }
        }
    }

    func validateText(_ text: String) -> ChatError? {
        if text.isEmpty { return ChatError(.badRequest, "text must not be empty") }
        if text.utf8.count > configuration.maxTextBytes { return ChatError(.tooLarge, "text over \(configuration.maxTextBytes) bytes") }
        return nil
    }
}
