/// The ways into the hub, and out of it: the one dispatch every door's requests go through (`handle`), typed
/// lines turned into requests by their session's dialogue, the one re-entry for work that finished elsewhere
/// (`resume`, which takes the lock), and the output helpers. Everything else here runs with the lock held.
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
        // Any well-formed, known command counts as activity, whatever its outcome; an ack is the client's
        // bookkeeping, not the person's doing, so it keeps nobody logged in.
        switch request {
        case .ack, .roomAck: break
        default: session.lastActivity = clock.now()
        }
        switch request {
        case .lookup, .login, .register:
            reply(session, .error(re: re, ChatError(.alreadyLoggedIn, "already logged in as \(user)")))
        case .message(let to, let text): sendMessage(from: user, to: to, text: text, re: re, session)
        case .broadcast(let text): broadcast(from: user, text: text, re: re, session)
        case .whoelse: reply(session, .users(re: re, whoElse(for: user, since: nil)))
        case .whoelsesince(let seconds): reply(session, .users(re: re, whoElse(for: user, since: Milliseconds.of(seconds: seconds))))
        case .block(let other): setBlock(user, other, blocked: true, re: re, session)
        case .unblock(let other): setBlock(user, other, blocked: false, re: re, session)
        case .history(let with, let before, let limit): history(for: user, with: with, before: before, limit: limit, re: re, session)
        case .startprivate(let target): startPrivate(from: user, to: target, re: re, session)
        case .privatereply(let asker, let accept): answerPrivate(user, asker: asker, accept: accept, re: re, session)
        case .signal(let to, let data): relaySignal(from: user, to: to, data: data, re: re, session)
        case .activity: reply(session, .ok(re: re, .init()))
        case .ack(let seq):
            // cluster: a REST reader may ack on any node; the head there may lag the store's.
            if cluster != nil && session.isREST { return refreshHead(of: user, then: .ack(session, seq, re)) }
            acknowledge(user, upTo: seq, re: re, session)
        case .inbox(let after, let limit, let wait):
            if cluster != nil { return refreshHead(of: user, then: .inbox(session, after, limit, wait, re)) }
            readInbox(of: user, after: after, limit: limit, wait: wait, re: re, session)
        case .logout: logOut(session, re: re)
        case .join, .leave, .say, .rooms, .members, .kick, .ban, .unban, .roomAck, .roomHistory, .roomRead:
            handleRoomRequest(request, from: user, re: re, session)
        }
    }

    /// The one way back in for work that finished on the hasher's or the store's threads.
    func resume(_ step: HubStep) {
        serialized {
            switch step {
            case .passwordChecked(let check, let matches): passwordChecked(check, matches: matches)
            case .registrationHashed(let registration, let encoded): registrationHashed(registration, encoded: encoded)
            case .registrationStored(let registration, let new, let error): registrationStored(registration, new, error: error)
            case .claimed(let entry, let purpose, let outcome): claimed(entry, purpose, outcome)
            case .headRead(let user, let result, let next): headRead(user, result, next)
            case .accountRead(let user, let result, let next): accountRead(user, result, next)
            case .tokenRead(let digest, let result, let next): tokenRead(digest, result, next)
            case .offlineFetched(let entry, let result): goOnline(entry, offline: result)
            case .replayPageRead(let user, let session, let result): replayPageRead(user, session, result)
            case .inboxRead(let read, let result): inboxRead(read, result)
            case .messageStored(let direct, let result): messageStored(direct, result)
            case .blockStored(let change, let error): blockStored(change, error: error)
            case .historyRead(let page, let result): historyRead(page, result)
            case .roomChangeStored(let change, let error): roomChangeStored(change, error)
            case .roomMessageStored(let pending, let result): roomMessageStored(pending, result)
            case .roomReplayRead(let user, let session, let result): roomReplayRead(user, session, result)
            case .roomLogRead(let read, let result): roomLogRead(read, result)
            case .roomReread(let reread, let result): roomReread(reread, result)
            case .roomCursorsRead(let user, let session, let result, let request, let re):
                roomCursorsRead(user, session, result, then: request, re)
            case .roomAckStored(let ack, let error): roomAckStored(ack, error)
            case .roomLookedUp(let name, let result, let next): roomLookedUp(name, result, next)
            }
        }
    }

    /// A typed line from a text-mode client: the session's dialogue decides what it means (updated in place),
    /// and the hub carries it out through the same dispatch JSON clients use.
    func handleTextLine(_ line: String, _ session: Session) {
        guard let action = session.dialogue?.interpret(line, accountExists: { accounts.exists($0) }) else { return }
        switch action {
        case .write(let text):
            write(text, to: session)
        case .send(let request, let id):
            handle(request, re: id, session)
        case .answer(let text):
            session.lastActivity = clock.now()
            write(text, to: session)
        case .none:
            break
        }
    }

    /// Sends one reply or event to one session, in its own dialect.
    func reply(_ session: Session, _ event: ServerEvent) {
        guard !session.isClosed else { return }
        switch session.door {
        case .json:
            output.deliver(event.encodedForWire(), to: session.id)
        case .text:
            guard let rendered = session.dialogue?.render(event) else { return }
            if !rendered.text.isEmpty { write(rendered.text, to: session) }
            if rendered.closes {
                // Text mode ends the connection on a lockout, as the terminal client exits (docs/PROTOCOL.md §8.1).
                end(session, notifyOthers: true)
                output.disconnect(session.id)
            }
        case .rest(let completion):
            afterUnlocking { completion(event) }
        }
    }

    /// Sends one event to many sessions, encoding it once per dialect (docs/ARCHITECTURE.md §6 principle 1).
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
        deliver(event, json: jsonIDs, text: textIDs, coalesced: coalesced)
        metrics.deliveries += recipients.count
    }

    /// The same for one recipient (a direct message's event), without the arrays.
    func fanOut(_ event: ServerEvent, to recipient: Session) {
        guard !recipient.isClosed else { return }
        switch recipient.door {
        case .json: output.deliver(event.encodedForWire(), to: recipient.id)
        case .text: if let text = TextDialogue.renderEvent(event) { output.deliver(Array(text.utf8), to: recipient.id) }
        case .rest: break  // never online, so never a recipient
        }
        metrics.deliveries += 1
    }

    /// The same, for recipients already sorted by dialogue (a room's audience).
    func fanOut(_ event: ServerEvent, json jsonIDs: [ClientID], text textIDs: [ClientID]) {
        deliver(event, json: jsonIDs, text: textIDs, coalesced: false)
        metrics.deliveries += jsonIDs.count + textIDs.count
    }

    /// One encoding per dialogue, handed to the transport for all of its recipients.
    private func deliver(_ event: ServerEvent, json jsonIDs: [ClientID], text textIDs: [ClientID], coalesced: Bool) {
        func send(_ payload: [UInt8], _ ids: [ClientID]) {
            if coalesced { output.deliverCoalesced(payload, to: ids) } else { output.deliver(payload, to: ids) }
        }
        if !jsonIDs.isEmpty { send(event.encoded(), jsonIDs) }
        if !textIDs.isEmpty, let text = TextDialogue.renderEvent(event) { send(Array(text.utf8), textIDs) }
    }

    /// Writes ready-made text to a text session.
    func write(_ text: String, to session: Session) {
        output.deliver(Array(text.utf8), to: session.id)
    }
}

/// Work that finished away from the hub (a password hash, a store write or read) and comes back to it. Every
/// hasher and store completion re-enters through `ChatService.resume(_:)`, so hub logic never runs in nested
/// closures: each step below is a plain method that decides what happens next.
enum HubStep: @unchecked Sendable {
    case passwordChecked(PasswordCheck, matches: Bool)
    case registrationHashed(Registration, encoded: String)
    case registrationStored(Registration, NewAccount, error: (any Error)?)
    case claimed(Entry, ClaimPurpose, ClaimOutcome)
    case headRead(String, Result<InboxHead, any Error>, AfterHeadRead)
    case accountRead(String, Result<AccountRecord?, any Error>, AfterAccountRead)
    case tokenRead(String, Result<TokenRecord?, any Error>, AfterTokenRead)
    case offlineFetched(Entry, Result<[StoredMessage], any Error>)
    case replayPageRead(String, Session, Result<[StoredMessage], any Error>)
    case inboxRead(InboxRead, Result<[StoredMessage], any Error>)
    case messageStored(DirectMessage, Result<StoredMessage, any Error>)
    case blockStored(BlockChange, error: (any Error)?)
    case historyRead(HistoryPage, Result<[StoredMessage], any Error>)
    case roomChangeStored(RoomChange, (any Error)?)
    case roomMessageStored(RoomSay, Result<RoomMessage, any Error>)
    case roomReplayRead(String, Session, Result<[[RoomMessage]], any Error>)
    case roomLogRead(RoomRead, Result<[[RoomMessage]], any Error>)
    case roomReread(RoomReread, Result<RoomRecord?, any Error>)
    case roomCursorsRead(String, Session, Result<[String: Int64], any Error>, then: ClientRequest?, RequestID?)
    case roomAckStored(RoomSay, (any Error)?)
    case roomLookedUp(String, Result<RoomRecord?, any Error>, AfterRoomRead)
}

/// A password check in flight, and who is waiting for it.
struct PasswordCheck {
    enum Purpose {
        /// A `login` request on `session`; success continues to going online (or, over REST, to a new token).
        case login(Session, re: RequestID?)
        /// REST credentials: the completion gets the user or the refusal, after the hub's lock is released.
        case credentials(@Sendable (Result<String, ChatError>) -> Void)
    }

    let user: String
    let password: String
    let peerHost: String?
    let purpose: Purpose
}

/// A registration in flight on `session` (socket or REST).
struct Registration {
    let user: String
    let password: String
    let session: Session
    let re: RequestID?
}

/// What a registration writes: the account and its first token.
struct NewAccount {
    let account: AccountRecord
    let token: String
    let record: TokenRecord
}

/// A login whose credentials were accepted, waiting for its offline queue.
struct Entry {
    let user: String
    let session: Session
    let re: RequestID?
    let token: String
}

/// What a cluster-wide claim was made for: a login goes on to its replay, a new account straight online.
enum ClaimPurpose {
    case login
    case registration
}

/// A direct message being committed, and who waits for its `ok`.
struct DirectMessage {
    let session: Session
    let re: RequestID?
}

/// A block or unblock being made durable (already applied in memory).
struct BlockChange {
    let blocker: String
    let other: String
    let blocked: Bool
    let session: Session
    let re: RequestID?
}

/// A history page being read; one more row than `limit` is asked for, to tell whether another page exists.
struct HistoryPage {
    let limit: Int
    let session: Session
    let re: RequestID?
}
