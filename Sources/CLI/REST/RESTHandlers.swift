import ChatCore
import Gateway

/// `POST /api/login`, `/api/register` and `/api/logout`: tokens in and out. Password checks are the hub's, so
/// a wrong password here counts toward the same per-account lockout as on the socket doors (docs/PROTOCOL.md §3).
extension RESTRouter {
    /// 200 `{"user","token"}`; 401 `no_such_user` / `bad_password` (+`attemptsLeft`), 423 `locked`, 429 `busy`.
    func login(_ request: HTTPRequest, _ respond: HTTPResponder) {
        guard case .success(let (user, password)) = userAndPassword(request, respond) else { return }
        let metrics = self.metrics
        let login = ClientRequest.login(user: user, credential: .password(password), peer: .none)
        chat.handle(login, from: nil, peerHost: request.peer?.host) { event in
            if case .welcome(_, let user, let token, _) = event {
                metrics.tokenLoginSucceeded()
                return respond.respond(.jsonBody(status: 200, Self.userAndToken(user, token)))
            }
            respond.respond(Self.refusal(event))
        }
    }

    /// 201 `{"user","token"}`; 400 `invalid_username` / `invalid_password`, 409 `user_exists`, 429 `busy`.
    /// Nobody goes online: registering over REST is creating an account, not a login to a session.
    func register(_ request: HTTPRequest, _ respond: HTTPResponder) {
        guard case .success(let (user, password)) = userAndPassword(request, respond) else { return }
        let register = ClientRequest.register(user: user, password: password, peer: .none)
        chat.handle(register, from: nil, peerHost: request.peer?.host) { event in
            if case .welcome(_, let user, let token, _) = event {
                return respond.respond(.jsonBody(status: 201, Self.userAndToken(user, token)))
            }
            respond.respond(Self.refusal(event))
        }
    }

    /// 204. A bearer token is revoked (the same token a socket session got with `welcome`, if that is where it
    /// came from: docs/PROTOCOL.md §3 says logout revokes it). Basic credentials hold no token, so after they are
    /// checked there is nothing to revoke and the answer is the same 204.
    func logout(_ request: HTTPRequest, _ respond: HTTPResponder) {
        if case .success(.bearer(let token)) = RESTAuth.credentials(in: request.headers) {
            // Revoking is the token directory's business alone: an expired token not yet swept is still revoked.
            respond.respond(chat.revokeToken(token)
                ? HTTPResponse(status: 204)
                : RESTError.response(ChatError(.badToken, "the token is unknown, expired or revoked")))
            return
        }
        authenticated(request, respond) { _ in respond.respond(HTTPResponse(status: 204)) }
    }

    /// The `{"user","password"}` body of login and register; on failure the refusal has been sent.
    private func userAndPassword(_ request: HTTPRequest,
                                 _ respond: HTTPResponder) -> Result<(String, String), Refusal> {
        let result = RESTInput.jsonObject(request).flatMap { body in
            RESTInput.string(body, "user").flatMap { user in
                RESTInput.string(body, "password").map { (user, $0) }
            }
        }
        if case .failure(let refusal) = result { respond.respond(refusal.response) }
        return result
    }

    private static func userAndToken(_ user: String, _ token: String) -> [UInt8] {
        var w = JSONWriter()
        w.field("user", user)
        w.field("token", token)
        return w.finish()
    }

    /// The response for a hub reply that is not the success the endpoint waits for: its error, or (a reply no
    /// REST request can cause) a 503 saying so rather than a guess.
    static func refusal(_ event: ServerEvent) -> HTTPResponse {
        if case .error(_, let error) = event { return RESTError.response(error) }
        return RESTError.response(ChatError(.internalError, "unexpected reply; try again"))
    }
}

/// The authenticated endpoints: who is online, history, messages, broadcasts and blocks. Each one resolves the
/// caller first (401 before anything else, so nothing about the request is judged for a stranger), then takes
/// the same hub path as the socket doors: same block rules, same error codes, same durability.
extension RESTRouter {
    /// 68 years reach back further than any login history, so any larger window means the same; the cap keeps
    /// the hub's millisecond arithmetic far from overflow.
    static let maxSinceSeconds: Int64 = 2_147_483_647
    /// Message ids are JSON numbers, exact up to 2^53 - 1.
    static let maxMessageID: Int64 = 9_007_199_254_740_991

    /// `GET /api/whoelse` and `GET /api/whoelsesince?seconds=N`: 200 `{"users":[…]}`.
    func whoElse(_ request: HTTPRequest, _ respond: HTTPResponder, since: Bool) {
        authenticated(request, respond) { [chat] user in
            var seconds: Int?
            if since {
                let parsed = RESTInput.query(request).flatMap {
                    RESTInput.integer($0, "seconds", in: 0...Self.maxSinceSeconds)
                }
                switch parsed {
                case .failure(let refusal): return respond.respond(refusal.response)
                case .success(nil): return respond.respond(RESTError.badRequest("seconds is required"))
                case .success(let value?): seconds = Int(value)
                }
            }
            chat.handle(seconds.map { .whoelsesince(seconds: $0) } ?? .whoelse, from: user) { event in
                guard case .users(_, let names) = event else { return respond.respond(Self.refusal(event)) }
                respond.respond(Self.users(names))
            }
        }
    }

    /// `GET /api/history?with=U&before=ID&limit=N`: the caller's own direct messages, newest first, with `next`
    /// (the `before` of the following page, or null). 404 if `with` names no account. With `room=R` instead of
    /// `with`, a room's messages (RESTRooms.swift).
    func history(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat, self] user in
            let fields: [String: String]
            switch RESTInput.query(request) {
            case .failure(let refusal): return respond.respond(refusal.response)
            case .success(let found): fields = found
            }
            if let with = fields["with"], with.isEmpty {
                return respond.respond(RESTError.badRequest("with must name a user (leave it out for everyone)"))
            }
            if let room = fields["room"] {
                // The socket `history` refuses both as well: a page is one conversation.
                if fields["with"] != nil { return respond.respond(RESTError.badRequest("history takes room or with, not both")) }
                if room.isEmpty { return respond.respond(RESTError.badRequest("room must name a room")) }
            }
            let before: Int64?
            let limit: Int64?
            switch (RESTInput.integer(fields, "before", in: 1...Self.maxMessageID),
                    RESTInput.integer(fields, "limit", in: 1...Int64(RequestDecoder.maxHistoryLimit))) {
            case (.failure(let refusal), _), (_, .failure(let refusal)): return respond.respond(refusal.response)
            case (.success(let b), .success(let l)): (before, limit) = (b, l)
            }
            let pageSize = limit.map(Int.init) ?? RequestDecoder.defaultHistoryLimit
            if let room = fields["room"] {
                return roomHistory(respond, user: user, room: room, before: before, limit: pageSize)
            }
            let query = ClientRequest.history(with: fields["with"], before: before, limit: pageSize)
            chat.handle(query, from: user) { event in
                guard case .history(_, let messages, let next) = event else { return respond.respond(Self.refusal(event)) }
                var w = JSONWriter(capacity: 64 + messages.count * 96)
                w.field("messages", raw: ServerEvent.encodeMessages(messages))
                if let next { w.field("next", next) } else { w.fieldNull("next") }
                respond.respond(.jsonBody(status: 200, w.finish()))
            }
        }
    }

    /// `POST /api/messages` `{"to","text"}`: 201 `{"id","stored"}` once the message is committed. An online
    /// recipient gets it at once on whatever door they use; an offline one at their next login.
    func postMessage(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            let fields = RESTInput.jsonObject(request).flatMap { body in
                RESTInput.string(body, "to").flatMap { to in RESTInput.string(body, "text").map { (to, $0) } }
            }
            guard case .success(let (to, text)) = fields else {
                if case .failure(let refusal) = fields { respond.respond(refusal.response) }
                return
            }
            chat.handle(.message(to: to, text: text), from: user) { event in
                guard case .ok(_, let sent) = event, let id = sent.id, let stored = sent.stored else {
                    return respond.respond(Self.refusal(event))
                }
                var w = JSONWriter()
                w.field("id", id)
                w.field("stored", stored)
                respond.respond(.jsonBody(status: 201, w.finish()))
            }
        }
    }

    /// `POST /api/broadcasts` `{"text"}`: 201 `{"id","partial"}`; `partial` is true when someone online who
    /// blocked the caller missed it. Broadcasts are live only, so there is nothing to wait for.
    func postBroadcast(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            switch RESTInput.jsonObject(request).flatMap({ RESTInput.string($0, "text") }) {
            case .failure(let refusal):
                respond.respond(refusal.response)
            case .success(let text):
                chat.handle(.broadcast(text: text), from: user) { event in
                    guard case .ok(_, let sent) = event, let id = sent.id, let partial = sent.partial else {
                        return respond.respond(Self.refusal(event))
                    }
                    var w = JSONWriter()
                    w.field("id", id)
                    w.field("partial", partial)
                    respond.respond(.jsonBody(status: 201, w.finish()))
                }
            }
        }
    }

    /// `GET /api/blocks`: 200 `{"users":[…]}`, the users the caller has blocked.
    func listBlocks(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            respond.respond(Self.users(chat.blockedUsers(of: user)))
        }
    }

    /// `PUT` / `DELETE /api/blocks/{user}`: 204 once the change is durable; 403 `self`, 404 `invalid_user` /
    /// `not_blocked`, 409 `already_blocked`.
    func setBlock(_ request: HTTPRequest, _ respond: HTTPResponder, other: String, blocked: Bool) {
        authenticated(request, respond) { [chat] user in
            chat.handle(blocked ? .block(user: other) : .unblock(user: other), from: user) { event in
                guard case .ok = event else { return respond.respond(Self.refusal(event)) }
                respond.respond(HTTPResponse(status: 204))
            }
        }
    }

    private static func users(_ names: [String]) -> HTTPResponse {
        var w = JSONWriter(capacity: 16 + names.count * 16)
        w.field("users", names)
        return .jsonBody(status: 200, w.finish())
    }
}
