/// The one dispatch every door goes through, and the output helpers. Runs with the hub's lock held.
extension ChatService {
    /// One request from `session`: a socket client's, a typed line's, or a REST request's.
    func handle(_ request: ClientRequest, re: RequestID?, _ session: Session) {
        guard let user = session.onlineUser else {
            guard request.isAllowedBeforeLogin else {
                // A client may pipeline requests right behind its login: they wait (boundedly) for its outcome.
                if session.state != .anonymous, session.deferred.count < Session.maxDeferred {
                    session.deferred.append((request, re))
                } else {
                    reply(session, .error(re: re, ChatError(.notLoggedIn, "log in first")))
                }
                return
            }
            handleLogin(request, re: re, session)
            return
        }
        // SPEC.md §3: any well-formed, known command counts as activity, whatever its outcome.
        session.lastActivity = clock.now()
        switch request {
        case .lookup, .login, .register:
            reply(session, .error(re: re, ChatError(.alreadyLoggedIn, "already logged in as \(user)")))
        case .message(let to, let text): sendMessage(from: user, to: to, text: text, re: re, session)
        case .broadcast(let text): broadcast(from: user, text: text, re: re, session)
        case .whoelse: reply(session, .users(re: re, whoElse(for: user, since: nil)))
        case .whoelsesince(let seconds): reply(session, .users(re: re, whoElse(for: user, since: Int64(seconds) * 1000)))
        case .block(let other): setBlock(user, other, blocked: true, re: re, session)
        case .unblock(let other): setBlock(user, other, blocked: false, re: re, session)
        case .history(let with, let before, let limit): history(for: user, with: with, before: before, limit: limit, re: re, session)
        case .startprivate(let target): startPrivate(from: user, to: target, re: re, session)
        case .privatereply(let asker, let accept): answerPrivate(user, asker: asker, accept: accept, re: re, session)
        case .signal(let to, let data): relaySignal(from: user, to: to, data: data, re: re, session)
        case .activity: reply(session, .ok(re: re, .init()))
        case .logout: logOut(session, re: re)
        }
    }

    /// Sends one reply or event to one session, in its own dialect.
    func reply(_ session: Session, _ event: ServerEvent) {
        guard !session.isClosed else { return }
        switch session.door {
        case .json:
            output.deliver(event.encoded(), to: [session.id])
        case .text:
            guard let rendered = session.dialogue?.render(event) else { return }
            if !rendered.text.isEmpty { write(rendered.text, to: session) }
            if rendered.closes {
                // Text mode ends the connection on a lockout, as the terminal client exits (SPEC.md §2.3–2.4).
                end(session, notifyOthers: true)
                output.disconnect(session.id)
            }
        case .rest(let completion):
            afterUnlocking { completion(event) }
        }
    }

    /// Sends one event to many sessions, encoding it once per dialect (DESIGN.md principle 1).
    /// `coalesced`: nobody waits for this event (presence), so the transport may let it share a write with the
    /// recipients' other traffic (ChatOutput.deliverCoalesced).
    func fanOut(_ event: ServerEvent, to recipients: [Session], coalesced: Bool = false) {
        var jsonIDs: [ClientID] = []
        var textIDs: [ClientID] = []
        jsonIDs.reserveCapacity(recipients.count)
        for r in recipients where !r.isClosed {
            switch r.door {
            case .json: jsonIDs.append(r.id)
            case .text: textIDs.append(r.id)
            case .rest: break  // never online, so never a recipient
            }
        }
        func send(_ payload: [UInt8], _ ids: [ClientID]) {
            if coalesced { output.deliverCoalesced(payload, to: ids) } else { output.deliver(payload, to: ids) }
        }
        if !jsonIDs.isEmpty { send(event.encoded(), jsonIDs) }
        if !textIDs.isEmpty, let text = TextDialogue.renderEvent(event) { send(Array(text.utf8), textIDs) }
        metrics.deliveries += recipients.count
    }

    /// Writes ready-made text to a text session.
    func write(_ text: String, to session: Session) {
        output.deliver(Array(text.utf8), to: [session.id])
    }
}
