import ChatCore
import Gateway

/// The paths under `/api/rooms/{room}`, each named by its template (the metrics label: names never become label
/// values).
enum RoomPath: String, Sendable {
    case room = "/api/rooms/{room}"
    case messages = "/api/rooms/{room}/messages"
    case ack = "/api/rooms/{room}/ack"
    case members = "/api/rooms/{room}/members"
    case member = "/api/rooms/{room}/members/{user}"
    case ban = "/api/rooms/{room}/bans/{user}"
}

extension RESTRoute {
    /// The route for a path under `/api/rooms/` (`rest` is what follows that prefix). The shape is decided on the
    /// raw segments first, so that a name that does not decode is a 400 counted under its route's template.
    static func matchRoom(_ rest: Substring) -> Match {
        let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard let first = segments.first, !segments.contains(where: \.isEmpty) else { return .unknown }
        let shape: RoomPath
        switch (segments.count, segments.count > 1 ? segments[1] : "") {
        case (1, _): shape = .room
        case (2, "messages"): shape = .messages
        case (2, "ack"): shape = .ack
        case (2, "members"): shape = .members
        case (3, "members"): shape = .member
        case (3, "bans"): shape = .ban
        default: return .unknown
        }
        // Path segments are percent-encoded without the form rule, as for `/api/blocks/{user}`.
        guard let room = RESTInput.percentDecoded(first, plusIsSpace: false) else {
            return .malformed("the room in the path is not valid percent-encoded UTF-8", label: shape.rawValue)
        }
        var user = ""
        if segments.count == 3 {
            guard let decoded = RESTInput.percentDecoded(segments[2], plusIsSpace: false) else {
                return .malformed("the user in the path is not valid percent-encoded UTF-8", label: shape.rawValue)
            }
            user = decoded
        }
        switch shape {
        case .room: return .route(.room(room))
        case .messages: return .route(.roomMessages(room))
        case .ack: return .route(.roomAck(room))
        case .members: return .route(.roomMembers(room))
        case .member: return .route(.roomMember(room: room, user: user))
        case .ban: return .route(.roomBan(room: room, user: user))
        }
    }
}

/// Rooms on the REST door (docs/PROTOCOL.md §12): the caller's rooms, joining and leaving, saying, reading a room
/// by seq (a long poll, as the inbox) and acknowledging it, members, and the owner's kick, ban and unban.
///
/// Every route is the socket request of the same name through the hub, so the rules, the codes and the
/// durability are the socket doors': whether a name is a valid room, whether the caller is a member or the
/// owner, is the hub's decision, never the router's. The router only checks the shape of what it was sent.
extension RESTRouter {
    /// `GET /api/rooms`: 200 `{"rooms":[{"room","members","owner"}]}`, the rooms the caller is in.
    func listRooms(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            chat.handle(.rooms, from: user) { event in
                guard case .rooms(_, let rooms) = event else { return respond.respond(Self.refusal(event)) }
                let list = ServerEvent.encodeRoomSummaries(rooms)
                var w = JSONWriter(capacity: list.count + 16)
                w.field("rooms", raw: list)
                respond.respond(.jsonBody(status: 200, w.finish()))
            }
        }
    }

    /// `PUT /api/rooms/{room}` (join): 201 `{"room","created":true,"owner"}` for a room this call created, 200 with
    /// `created: false` for one that existed; 400 `invalid_room`, 403 `banned`, 409 `already_member`, `room_full`,
    /// `too_many_rooms`. `DELETE /api/rooms/{room}` (leave): 204; 404 `not_member`.
    func setMembership(_ request: HTTPRequest, _ respond: HTTPResponder, room: String, joining: Bool) {
        authenticated(request, respond) { [chat] user in
            chat.handle(joining ? .join(room: room) : .leave(room: room), from: user) { event in
                guard case .ok(_, let joined) = event else { return respond.respond(Self.refusal(event)) }
                guard joining else { return respond.respond(HTTPResponse(status: 204)) }
                guard let name = joined.room, let created = joined.created else {
                    return respond.respond(Self.refusal(event))
                }
                var w = JSONWriter()
                w.field("room", name)
                w.field("created", created)
                if let owner = joined.owner { w.field("owner", owner) } else { w.fieldNull("owner") }
                respond.respond(.jsonBody(status: created ? 201 : 200, w.finish()))
            }
        }
    }

    /// `POST /api/rooms/{room}/messages` `{"text"}`: 201 `{"id","seq","partial"}` once the message is stored;
    /// `partial` is true when a member who blocked the caller was left out. 404 `not_member`.
    func sayInRoom(_ request: HTTPRequest, _ respond: HTTPResponder, room: String) {
        authenticated(request, respond) { [chat] user in
            switch RESTInput.jsonObject(request).flatMap({ RESTInput.string($0, "text") }) {
            case .failure(let refusal):
                respond.respond(refusal.response)
            case .success(let text):
                chat.handle(.say(room: room, text: text), from: user) { event in
                    guard case .ok(_, let sent) = event, let id = sent.id, let seq = sent.seq,
                          let partial = sent.partial else {
                        return respond.respond(Self.refusal(event))
                    }
                    var w = JSONWriter()
                    w.field("id", id)
                    w.field("seq", seq)
                    w.field("partial", partial)
                    respond.respond(.jsonBody(status: 201, w.finish()))
                }
            }
        }
    }

    /// `GET /api/rooms/{room}/messages?after=SEQ&limit=N&wait=S`: 200 `{"room","messages":[{"id","seq","from",
    /// "text","at"}],"last"}`, oldest first, exactly as the inbox reads (same bounds, same long poll, ended early
    /// by revoking the token): `after` defaults to the caller's cursor in the room, `last` is the room's newest seq.
    func readRoom(_ request: HTTPRequest, _ respond: HTTPResponder, room: String) {
        authenticated(request, respond) { [chat] user in
            let poll: LongPoll
            switch Self.longPoll(request) {
            case .failure(let refusal): return respond.respond(refusal.response)
            case .success(let found): poll = found
            }
            let query = ClientRequest.roomRead(room: room, after: poll.after, limit: poll.limit, wait: poll.wait)
            var token: String?
            if case .success(.bearer(let bearer)) = RESTAuth.credentials(in: request.headers) { token = bearer }
            chat.handle(query, from: user, peerHost: request.peer?.host, bearerToken: token) { event in
                guard case .roomPage(_, let name, let messages, let last) = event else {
                    return respond.respond(Self.refusal(event))
                }
                var w = JSONWriter(capacity: 48 + messages.count * 96)
                w.field("room", name)
                w.field("messages", raw: ServerEvent.encodeRoomMessages(messages))
                w.field("last", last)
                respond.respond(.jsonBody(status: 200, w.finish()))
            }
        }
    }

    /// `POST /api/rooms/{room}/ack` `{"seq":N}`: 204 once the caller's cursor in the room is at least N (at or
    /// below it: no change, still 204); 400 `bad_request` beyond the room's newest seq, 404 `not_member`.
    func acknowledgeRoom(_ request: HTTPRequest, _ respond: HTTPResponder, room: String) {
        authenticated(request, respond) { [chat] user in
            switch RESTInput.jsonObject(request).flatMap({ RESTInput.sequenceNumber($0, "seq") }) {
            case .failure(let refusal):
                respond.respond(refusal.response)
            case .success(let seq):
                chat.handle(.roomAck(room: room, seq: seq), from: user, peerHost: request.peer?.host) { event in
                    guard case .ok = event else { return respond.respond(Self.refusal(event)) }
                    respond.respond(HTTPResponse(status: 204))
                }
            }
        }
    }

    /// `GET /api/rooms/{room}/members`: 200 `{"users":[…],"online":[…]}`, every member and those online now;
    /// 404 `not_member`.
    func listMembers(_ request: HTTPRequest, _ respond: HTTPResponder, room: String) {
        authenticated(request, respond) { [chat] user in
            chat.handle(.members(room: room), from: user) { event in
                guard case .members(_, let users, let online) = event else { return respond.respond(Self.refusal(event)) }
                var w = JSONWriter(capacity: 32 + (users.count + online.count) * 16)
                w.field("users", users)
                w.field("online", online)
                respond.respond(.jsonBody(status: 200, w.finish()))
            }
        }
    }

    /// `DELETE /api/rooms/{room}/members/{user}` (kick, by the owner): 204; 403 `not_owner` (also for a room that
    /// does not exist) or `self`, 404 `invalid_user` or `not_member` (the user is not in the room).
    func kick(_ request: HTTPRequest, _ respond: HTTPResponder, room: String, user target: String) {
        moderate(request, respond, .kick(room: room, user: target))
    }

    /// `PUT` / `DELETE /api/rooms/{room}/bans/{user}` (ban, unban, by the owner): 204, also when nothing changed
    /// (both are idempotent; a user who is not a member may be banned ahead); 403 `not_owner` or `self`, 404
    /// `invalid_user`.
    func setBan(_ request: HTTPRequest, _ respond: HTTPResponder, room: String, user target: String, banned: Bool) {
        moderate(request, respond, banned ? .ban(room: room, user: target) : .unban(room: room, user: target))
    }

    private func moderate(_ request: HTTPRequest, _ respond: HTTPResponder, _ action: ClientRequest) {
        authenticated(request, respond) { [chat] user in
            chat.handle(action, from: user) { event in
                guard case .ok = event else { return respond.respond(Self.refusal(event)) }
                respond.respond(HTTPResponse(status: 204))
            }
        }
    }

    /// `GET /api/history?room=R&before=ID&limit=N` (the paging already read by `history`): 200 `{"room",
    /// "messages":[{"id","seq","from","text","at"}],"next"}`, newest first; 404 `not_member`.
    func roomHistory(_ respond: HTTPResponder, user: String, room: String, before: Int64?, limit: Int) {
        chat.handle(.roomHistory(room: room, before: before, limit: limit), from: user) { event in
            guard case .roomHistory(_, let name, let messages, let next) = event else {
                return respond.respond(Self.refusal(event))
            }
            var w = JSONWriter(capacity: 64 + messages.count * 96)
            w.field("room", name)
            w.field("messages", raw: ServerEvent.encodeRoomMessages(messages))
            if let next { w.field("next", next) } else { w.fieldNull("next") }
            respond.respond(.jsonBody(status: 200, w.finish()))
        }
    }
}
