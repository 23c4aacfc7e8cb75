/// Consent handshakes and accepted pairs for peer-to-peer private chat (docs/PROTOCOL.md §9.2).
/// The server only introduces the peers; private text never passes through it. Confined to the hub's serialisation.
struct PrivateChats {
    struct Pair: Hashable {
        let asker: String
        let target: String
    }

    /// Unanswered requests and when they expire (bounded: one per ordered pair of online users).
    private(set) var pending: [Pair: Int64] = [:]
    /// Accepted pairs, unordered; `signal` relaying is allowed only between these.
    private(set) var accepted: Set<Pair> = []

    mutating func ask(_ pair: Pair, expiresAt: Int64) -> Bool {
        guard pending[pair] == nil else { return false }
        pending[pair] = expiresAt
        return true
    }

    mutating func answer(_ pair: Pair) -> Bool {
        pending.removeValue(forKey: pair) != nil
    }

    mutating func accept(_ pair: Pair) {
        accepted.insert(normalized(pair))
    }

    func isAccepted(_ a: String, _ b: String) -> Bool {
        accepted.contains(normalized(Pair(asker: a, target: b)))
    }

    mutating func expired(now: Int64) -> [Pair] {
        let gone = pending.filter { $0.value <= now }.map(\.key)
        for pair in gone { pending[pair] = nil }
        return gone
    }

    /// Forgets everything involving `user` (logout or timeout); returns the pending requests it asked.
    mutating func remove(_ user: String) -> [Pair] {
        let asked = pending.keys.filter { $0.asker == user || $0.target == user }
        for pair in asked { pending[pair] = nil }
        accepted = accepted.filter { $0.asker != user && $0.target != user }
        return asked
    }

    private func normalized(_ pair: Pair) -> Pair {
        pair.asker < pair.target ? pair : Pair(asker: pair.target, target: pair.asker)
    }
}

extension ChatService {
    func startPrivate(from user: String, to target: String, re: RequestID?, _ session: Session) {
        let request = ClientRequest.startprivate(user: target)
        func fail(_ code: ErrorCode) {
            let error = ChatError(code, "")
            reply(session, .error(re: re, ChatError(code, Texts.line(for: error, request: request))))
        }
        // docs/PROTOCOL.md §9.2: checked in this order, and in all these cases the target is never asked.
        if target == user { return fail(.self) }
        guard accounts.exists(target) else { return fail(.invalidUser) }
        let other = presence.session(of: target)
        // cluster: a target on another node is reached through it; its capability comes with its presence.
        let remoteNode = other == nil ? cluster?.presence.node(of: target) : nil
        guard other != nil || remoteNode != nil else { return fail(.offline) }
        if blocks.hasBlocked(target, user) { return fail(.blocked) }
        switch (session.peer, other?.peer ?? cluster?.presence.peer(of: target) ?? .none) {
        case (.tcp, .tcp), (.webRTC, .webRTC): break
        default: return fail(.noP2P)
        }
        let pair = PrivateChats.Pair(asker: user, target: target)
        let expiresAt = clock.now() + configuration.privateRequestTimeout
        if privateChats.ask(pair, expiresAt: expiresAt) {
            if let other { reply(other, .privateRequest(from: user)) }
            else if let remoteNode {
                cluster?.link.send(.privateRequest(asker: user, target: target, expiresAt: expiresAt), to: remoteNode)
            }
        }
        reply(session, .ok(re: re, .init()))
    }

    func answerPrivate(_ user: String, asker: String, accept: Bool, re: RequestID?, _ session: Session) {
        let pair = PrivateChats.Pair(asker: asker, target: user)
        let askerSession = presence.session(of: asker)
        let askerNode = askerSession == nil ? cluster?.presence.node(of: asker) : nil
        guard privateChats.answer(pair), askerSession != nil || askerNode != nil else {
            return reply(session, .error(re: re, ChatError(.noRequest, "no pending private request from \(asker)")))
        }
        reply(session, .ok(re: re, .init()))
        let token = accept ? Tokens.generate() : ""
        if accept {
            privateChats.accept(pair)
            // docs/PROTOCOL.md §9.2: the accepter hears first, so its listener knows the token before the asker connects.
            reply(session, .privatePending(user: asker, token: token))
        }
        let port: Int
        if case .tcp(let p) = session.peer { port = p } else { port = 0 }
        let host = session.peerHost ?? ""
        if let askerSession {
            reply(askerSession, accept ? .privateAccepted(user: user, host: host, port: port, token: token)
                                       : .privateDeclined(user: user))
        } else if let askerNode {
            cluster?.link.send(.privateAnswer(asker: asker, target: user, accepted: accept, host: host, port: port,
                                              token: token), to: askerNode)
        }
    }

    func relaySignal(from user: String, to target: String, data: JSONValue, re: RequestID?, _ session: Session) {
        let other = presence.session(of: target)
        let remoteNode = other == nil ? cluster?.presence.node(of: target) : nil
        guard privateChats.isAccepted(user, target), other != nil || remoteNode != nil else {
            return reply(session, .error(re: re, ChatError(.noSession, Texts.noPrivateSession(target))))
        }
        if let other { reply(other, .signal(from: user, data: data)) }
        else if let remoteNode { cluster?.link.send(.signal(from: user, to: target, data: data), to: remoteNode) }
        reply(session, .ok(re: re, .init()))
    }

    func expirePrivateRequests(now: Int64) {
        for pair in privateChats.expired(now: now) {
            if let asker = presence.session(of: pair.asker) { reply(asker, .privateDeclined(user: pair.target)) }
        }
    }

    func endPrivateChats(of user: String) {
        for pair in privateChats.remove(user) where pair.target == user {
            if let asker = presence.session(of: pair.asker) { reply(asker, .privateDeclined(user: user)) }
        }
    }
}
