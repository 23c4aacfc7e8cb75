/// Room messages (docs/PROTOCOL.md §12): `say`, stored before its `ok` and fanned out encoded once; what a member
/// missed, replayed at login after the direct messages; acks by room cursor; history; and REST readers that
/// long-poll a room. Every method here runs with the hub's lock held.
extension ChatService {
    // MARK: Say

    func say(_ text: String, in name: String, from user: String, re: RequestID?, _ session: Session) {
        if let error = refuseText(text, from: user) { return reply(session, .error(re: re, error)) }
        guard let room = rooms.room(name), room.members[user] != nil else { return reply(session, notMember(name, re)) }
        // cluster: the shared store numbers messages (0 asks it to), so ids are unique across nodes.
        let id: Int64 = cluster == nil ? nextMessageID : 0
        if cluster == nil { nextMessageID += 1 }
        metrics.roomMessages += 1
        let pending = RoomSay(session: session, re: re)
        store.appendRoom(RoomMessage(id: id, room: name, from: user, text: text, at: clock.now())) { [self] result in
            resume(.roomMessageStored(pending, result))
        }
    }

    /// The message is durable with its seq: to every member online now (but the sender and members who blocked
    /// the sender), then the sender's `ok`, which says whether anyone was left out.
    func roomMessageStored(_ pending: RoomSay, _ result: Result<RoomMessage, any Error>) {
        switch result {
        case .failure(let error):
            logger.error("room message not stored", metadata: ["error": "\(error)"])
            reply(pending.session, .error(re: pending.re, ChatError(.internalError, "the message could not be stored; try again")))
        case .success(let message):
            cluster?.link.publish(.roomMessage(message))
            let partial = deliverRoomMessageHere(message)
                || (cluster?.presence.anyRemoteUser { rooms.room(message.room)?.members[$0] != nil && blocks.hasBlocked($0, message.from) } ?? false)
            reply(pending.session, .ok(re: pending.re, .init(id: message.id, partial: partial, seq: message.seq)))
        }
    }

    /// A committed room message reaching this node's members and readers (from here or, in a cluster, from the
    /// node it was said on). Returns whether a member was left out because they blocked the sender.
    @discardableResult
    func deliverRoomMessageHere(_ message: RoomMessage) -> Bool {
        guard let room = rooms.room(message.room) else { return false }
        room.lastSeq = max(room.lastSeq, message.seq)
        room.deliveredSeq = max(room.deliveredSeq, message.seq)
        for waiter in rooms.wake(room.name, seq: message.seq) {
            readRoom(room.name, after: waiter.after, limit: waiter.limit, waiter.session, re: waiter.re)
        }
        let blockers = blocks.blockers(of: message.from)
        let partial = blockers.contains { $0 != message.from && room.members[$0] != nil }
        if room.audience == nil { room.audience = RoomAudience(of: room, presence: presence) }
        let audience = room.audience!
        for session in audience.replaying {
            // It follows the replay, in order; past the bound it is left to history, like anything beyond the
            // replay's share of a room.
            guard let user = session.onlineUser, user != message.from, !blockers.contains(user),
                  (session.roomReplay?.held.count ?? .max) < RoomReplay.maxHeld else { continue }
            session.roomReplay?.held.append(message)
        }
        // Nothing per recipient beyond the fan-out itself: a live session has been handed every message of its
        // rooms, so where it stands is the room's last seq, taken when its cursors are written
        // (`settleRoomCursors`), not counted message by message.
        let to = audience.recipients(of: message, senderID: presence.session(of: message.from)?.id, blockers: blockers)
        fanOut(.roomMessage(message, offline: false), json: to.json, text: to.text)
        return partial
    }

    /// A session without acks has received everything of its rooms handed to it so far, which, once its replay is
    /// over, is everything this node has delivered of each room (a message a member's block held back counts as
    /// seen, as the replay skips it too). Called before cursors are written: at the periodic flush and at the session's
    /// end. A session with acks moves its cursors itself.
    func settleRoomCursors(of user: String, _ session: Session) {
        guard !session.acks, session.roomReplay == nil, !session.roomCursorsPinned else { return }
        rooms.advanceToDelivered(user)
    }

    /// Room messages up to `seq` went to `session` by its replay: a client without acks has received them now.
    private func roomReceived(by session: Session, _ room: String, upTo seq: Int64) {
        session.roomHandedUpTo[room] = max(session.roomHandedUpTo[room, default: 0], seq)
        if !session.acks, !session.roomCursorsPinned, let user = session.onlineUser { rooms.advance(user, in: room, to: seq) }
    }

    // MARK: The replay at login

    /// From `welcome` until the room replay is over (through the direct messages), live room messages for the
    /// session wait, so a member sees a room's messages in order and the replay starts from cursors no live
    /// delivery has moved.
    func holdRoomMessages(of user: String, for session: Session) {
        if session.roomReplay == nil && !rooms.rooms(of: user).isEmpty { holdRoomMessages(true, of: user, session) }
    }

    /// Starts or stops holding `session`'s live room messages for its replay. The rooms' audiences follow: a
    /// session that replays is fed by its replay, not by the fan-out.
    private func holdRoomMessages(_ hold: Bool, of user: String, _ session: Session) {
        session.roomReplay = hold ? RoomReplay() : nil
        rooms.audienceChanged(of: user)
    }

    /// After the direct messages: the newest missed messages of every room the user is in (at most
    /// `replayPerRoom` each; older ones are left to history), in one read.
    func startRoomReplay(of user: String, into session: Session) {
        guard !rooms.rooms(of: user).isEmpty else { return finishRoomReplay(of: user, into: session) }
        if session.roomReplay == nil { holdRoomMessages(true, of: user, session) }
        if cluster != nil {
            // The user's last session may have been on another node: its cursors are in the store, not here.
            store.roomCursors(of: user) { [self] result in resume(.roomCursorsRead(user, session, result, then: nil, nil)) }
            return
        }
        readMissedRoomMessages(of: user, into: session)
    }

    /// cluster: the user's room cursors as stored, folded in; then the login's room replay (`then` nil) or a
    /// REST request that reads from the cursor.
    func roomCursorsRead(_ user: String, _ session: Session, _ result: Result<[String: Int64], any Error>,
                         then request: ClientRequest?, _ re: RequestID?) {
        guard session.onlineUser == user else { return }
        switch result {
        case .success(let cursors):
            for (room, seq) in cursors { rooms.merge(user, in: room, stored: seq) }
        case .failure(let error):
            logger.error("room cursors read failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        if let request { return handleRoomRequest(request, from: user, re: re, session, checked: true) }
        guard session.roomReplay != nil else { return }
        readMissedRoomMessages(of: user, into: session)
    }

    private func readMissedRoomMessages(of user: String, into session: Session) {
        let followed = rooms.rooms(of: user).filter { cluster != nil || $0.lastSeq > rooms.cursor(of: user, in: $0.name) }
        guard !followed.isEmpty else { return finishRoomReplay(of: user, into: session) }
        let queries = followed.map {
            RoomLogQuery(room: $0.name, .latestAfter(rooms.cursor(of: user, in: $0.name)), limit: configuration.rooms.replayPerRoom)
        }
        store.roomLogs(queries) { [self] result in resume(.roomReplayRead(user, session, result)) }
    }

    func roomReplayRead(_ user: String, _ session: Session, _ result: Result<[[RoomMessage]], any Error>) {
        guard session.onlineUser == user, session.roomReplay != nil else { return }
        switch result {
        case .success(let pages):
            for page in pages {
                guard let last = page.last, rooms.room(last.room)?.members[user] != nil else { continue }
                let shown = page.filter { $0.from != user && !blocks.hasBlocked(user, $0.from) }
                for message in shown { reply(session, .roomMessage(message, offline: true)) }
                // Everything up to the page's end is seen, the skipped ones (own, blocked, older) included.
                roomReceived(by: session, last.room, upTo: last.seq)
            }
        case .failure(let error):
            // Nothing moves this session's room cursors from now on: the missed messages come again at the next
            // login. The session goes on and gets what is said live.
            logger.error("room replay read failed", metadata: ["user": "\(user)", "error": "\(error)"])
            session.roomCursorsPinned = true
        }
        finishRoomReplay(of: user, into: session)
    }

    /// The room messages held while the replay ran, in order, but the ones the replay brought; from here on they
    /// go out live.
    private func finishRoomReplay(of user: String, into session: Session) {
        guard let held = session.roomReplay?.held else { return }
        // Live from here on, after what the replay held back.
        holdRoomMessages(false, of: user, session)
        for message in held where message.seq > session.roomHandedUpTo[message.room, default: 0] {
            guard rooms.room(message.room)?.members[user] != nil else { continue }
            reply(session, .roomMessage(message, offline: false))
            roomReceived(by: session, message.room, upTo: message.seq)
        }
    }

    // MARK: Acks

    func acknowledge(_ user: String, in name: String, upTo seq: Int64, re: RequestID?, _ session: Session) {
        guard let room = rooms.room(name), room.members[user] != nil else { return reply(session, notMember(name, re)) }
        guard seq <= room.lastSeq else {
            return reply(session, .error(re: re, ChatError(.badRequest, "ack beyond #\(name): last seq is \(room.lastSeq)")))
        }
        rooms.advance(user, in: name, to: seq)
        if cluster != nil && session.isREST {
            // The next call may go to another node, which reads the cursor from the store: it is there first.
            let ack = RoomSay(session: session, re: re)
            return store.perform(rooms.takeCursorWrites(of: user)) { [self] result in
                resume(.roomAckStored(ack, result.failure))
            }
        }
        if re != nil || session.isREST { reply(session, .ok(re: re, .init())) }
    }

    func roomAckStored(_ ack: RoomSay, _ error: (any Error)?) {
        if let error {
            logger.error("room cursor not saved", metadata: ["error": "\(error)"])
            return reply(ack.session, .error(re: ack.re, ChatError(.internalError, "the ack could not be saved; try again")))
        }
        reply(ack.session, .ok(re: ack.re, .init()))
    }

    /// How often the sweep hands room cursor moves to the store. A room message to a 1000-member room moves
    /// 1000 cursors; written every 250 ms like the inbox's, that would be thousands of upserts a second for a
    /// busy room. Memory is the truth while the server runs (and a cluster node writes a user's cursors when
    /// their session ends), so the store only matters after a crash, when at most this much of each room
    /// comes again (capped per room like any replay).
    static let roomCursorFlushInterval: Int64 = 2_000

    /// The coalesced room cursor moves, to the store: from the sweep every `roomCursorFlushInterval`, and at
    /// shutdown (`now` nil).
    func flushRoomCursors(now: Int64? = nil) {
        if let now {
            guard now - lastRoomCursorFlush >= Self.roomCursorFlushInterval else { return }
            lastRoomCursorFlush = now
        }
        presence.forEachOnline { user, session in settleRoomCursors(of: user, session) }
        guard rooms.hasUnsavedCursors else { return }
        let writes = rooms.takeCursorWrites()
        guard !writes.isEmpty else { return }  // all of them written since with their sessions' ends
        store.perform(writes) { [logger] result in
            if case .failure(let error) = result { logger.error("room cursor not saved", metadata: ["error": "\(error)"]) }
        }
    }

    // MARK: History and REST readers

    func roomHistory(_ name: String, for user: String, before: Int64?, limit: Int, re: RequestID?, _ session: Session) {
        guard rooms.room(name)?.members[user] != nil else { return reply(session, notMember(name, re)) }
        let read = RoomRead(room: name, limit: limit, history: true, session: session, re: re)
        // One more than asked tells whether another page exists.
        store.roomLogs([RoomLogQuery(room: name, .before(before), limit: limit + 1)]) { [self] result in
            resume(.roomLogRead(read, result))
        }
    }

    /// `GET /api/rooms/{room}/messages`: the room after `after` (default: the caller's cursor) at once if there
    /// is something, else after up to `wait` seconds, holding nothing but an entry in the waiting list meanwhile.
    func readRoom(_ name: String, for user: String, after: Int64?, limit: Int, wait: Int, re: RequestID?, _ session: Session) {
        guard let room = rooms.room(name), room.members[user] != nil else { return reply(session, notMember(name, re)) }
        let after = after ?? rooms.cursor(of: user, in: name)
        if room.lastSeq > after || wait <= 0 { return readRoom(name, after: after, limit: limit, session, re: re) }
        rooms.wait(.init(session: session, room: name, after: after, limit: limit,
                         deadline: clock.now() + Milliseconds.of(seconds: wait), re: re))
    }

    private func readRoom(_ name: String, after: Int64, limit: Int, _ session: Session, re: RequestID?) {
        let read = RoomRead(room: name, limit: limit, history: false, session: session, re: re)
        store.roomLogs([RoomLogQuery(room: name, .after(after), limit: limit)]) { [self] result in
            resume(.roomLogRead(read, result))
        }
    }

    func roomLogRead(_ read: RoomRead, _ result: Result<[[RoomMessage]], any Error>) {
        switch result {
        case .success(let pages):
            let rows = pages.first ?? []
            if read.history {
                let messages = Array(rows.prefix(read.limit))
                let next = rows.count > read.limit ? messages.last?.id : nil
                reply(read.session, .roomHistory(re: read.re, room: read.room, messages: messages, next: next))
            } else {
                let last = max(rooms.room(read.room)?.lastSeq ?? 0, rows.last?.seq ?? 0)
                reply(read.session, .roomPage(re: read.re, room: read.room, messages: rows, last: last))
            }
        case .failure(let error):
            logger.error("room read failed", metadata: ["room": "\(read.room)", "error": "\(error)"])
            reply(read.session, .error(re: read.re, ChatError(.internalError, "the room is unavailable; try again")))
        }
    }

    /// A room reader's wait ended without news (deadline, revoked token, the server stopping).
    func answerRoomWaiter(_ waiter: RoomDirectory.Waiter) {
        let last = rooms.room(waiter.room)?.lastSeq ?? 0
        reply(waiter.session, .roomPage(re: waiter.re, room: waiter.room, messages: [], last: last))
    }
}

/// A `say` being committed, and who waits for its `ok`.
struct RoomSay {
    let session: Session
    let re: RequestID?
}

/// A login's room replay under way: live room messages for the session wait here and follow it.
struct RoomReplay {
    /// Live room messages are held up to this many (a login paced by a long direct inbox can take a while).
    static let maxHeld = 10_000
    var held: [RoomMessage] = []
}

/// A read of one room for a history page (one more row than `limit`) or a REST reader.
struct RoomRead {
    let room: String
    let limit: Int
    let history: Bool
    let session: Session
    let re: RequestID?
}
