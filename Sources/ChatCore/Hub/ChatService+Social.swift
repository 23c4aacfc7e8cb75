/// whoelse, whoelsesince, block and unblock (SPEC.md §4). Every method here runs with the hub's lock held.
extension ChatService {
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
        reply(change.session, .ok(re: change.re, .init()))
    }
}
