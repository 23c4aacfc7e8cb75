/// whoelse, whoelsesince, block and unblock (SPEC.md §4). Every method here runs with `lock` held.
extension ChatService {
    /// Other online users (or, with `window`, everyone online at any moment within it), leaving out users who
    /// blocked `user`. The window reaches back to server start at most: `lastSeen` only holds logouts since then.
    func whoElse(for user: String, since window: Int64?) -> [String] {
        var names = Set(online.keys)
        if let window {
            let cutoff = clock.now() - window
            for (name, at) in lastSeen where at >= cutoff { names.insert(name) }
        }
        names.remove(user)
        return names.filter { !hasBlocked($0, user) }.sorted()
    }

    func setBlock(_ user: String, _ other: String, blocked: Bool, re: RequestID?, _ session: Session) {
        switch changeBlock(user, other, blocked: blocked, completion: { [self] result in
            switch result {
            case .success: reply(session, .ok(re: re, .init()))
            case .failure(let error): reply(session, .error(re: re, error))
            }
        }) {
        case .some(let error): reply(session, .error(re: re, error))
        case .none: break
        }
    }

    /// Validates and applies a block change in memory at once (so the very next message obeys it), persists it,
    /// and calls `completion` with the lock held once it is durable. Returns the validation error, if any.
    func changeBlock(_ user: String, _ other: String, blocked: Bool,
                     completion: @escaping @Sendable (Result<Void, ChatError>) -> Void) -> ChatError? {
        if other == user {
            return ChatError(.self, blocked ? Texts.cannotBlockSelf : Texts.cannotUnblockSelf)
        }
        guard accounts[other] != nil else { return ChatError(.invalidUser, Texts.invalidUser) }
        let already = hasBlocked(user, other)
        if blocked && already { return ChatError(.alreadyBlocked, Texts.alreadyBlocked(other)) }
        if !blocked && !already { return ChatError(.notBlocked, Texts.wasNotBlocked(other)) }
        if blocked { blocks[user, default: []].insert(other) } else { blocks[user]?.remove(other) }
        store.perform([.setBlock(blocker: user, blocked: other, isBlocked: blocked)]) { [self] result in
            locked {
                switch result {
                case .success: completion(.success(()))
                case .failure:
                    // Undo so memory matches the store again.
                    if blocked { blocks[user]?.remove(other) } else { blocks[user, default: []].insert(other) }
                    completion(.failure(ChatError(.internalError, "the block could not be saved; try again")))
                }
            }
        }
        return nil
    }

    /// Who `user` has blocked, for `GET /api/blocks`.
    public func blockedUsers(of user: String) -> [String] {
        locked { (blocks[user] ?? []).sorted() }
    }
}
