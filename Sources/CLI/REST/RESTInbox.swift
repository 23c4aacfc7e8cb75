import ChatCore
import Gateway

/// The REST inbox (docs/PROTOCOL.md §10): a bot or script reads its direct messages by inbox position and
/// acknowledges them, the way an acking socket client does, without ever being "online".
///
/// A long poll holds nothing of ours: the router hands the hub the request with a completion that answers the
/// HTTP responder, and returns. While the hub has nothing to give, the request is only an entry in the hub's
/// waiting list and a connection whose deadline the gateway has paused; no thread and no loop time is spent.
/// The hub ends the wait itself: with the first message after `after`, at the deadline (its sweep), when the
/// bearer token is revoked, or at shutdown.
extension RESTRouter {
    /// docs/PROTOCOL.md §10: a page holds 1–200 messages, 50 unless asked otherwise (the history page's bounds).
    static let maxInboxLimit = Int64(RequestDecoder.maxHistoryLimit)
    static let defaultInboxLimit = RequestDecoder.defaultHistoryLimit
    /// The longest a poll may wait, in seconds; longer waits would outlive common proxies' idle timeouts.
    static let maxInboxWait: Int64 = 60

    /// `GET /api/inbox?after=SEQ&limit=N&wait=S`: 200 `{"messages":[{"id","seq","from","text","at"}],"last"}`,
    /// oldest first. `after` defaults to the acknowledged cursor; `last` is the newest seq in the inbox, so a
    /// caller knows where it stands even from an empty page.
    func inbox(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            let poll: LongPoll
            switch Self.longPoll(request) {
            case .failure(let refusal): return respond.respond(refusal.response)
            case .success(let found): poll = found
            }
            let query = ClientRequest.inbox(after: poll.after, limit: poll.limit, wait: poll.wait)
            // The token rides along so that revoking it ends the wait (docs/PROTOCOL.md §10: the poll ends early).
            var token: String?
            if case .success(.bearer(let bearer)) = RESTAuth.credentials(in: request.headers) { token = bearer }
            chat.handle(query, from: user, peerHost: request.peer?.host, bearerToken: token) { event in
                guard case .inbox(_, let messages, let last) = event else { return respond.respond(Self.refusal(event)) }
                var w = JSONWriter(capacity: 32 + messages.count * 96)
                // The recipient is the caller, so each message carries its seq instead of `to`.
                w.field("messages", raw: ServerEvent.encodeMessages(messages, withSeq: true))
                w.field("last", last)
                respond.respond(.jsonBody(status: 200, w.finish()))
            }
        }
    }

    /// The query of a long poll (`GET /api/inbox`, `GET /api/rooms/{room}/messages`): `after` (nil: from the
    /// cursor), `limit` 1–200 (default 50), `wait` 0–60 s (default 0), or the 400 that refuses it.
    static func longPoll(_ request: HTTPRequest) -> Result<LongPoll, Refusal> {
        RESTInput.query(request).flatMap { fields in
            switch (RESTInput.integer(fields, "after", in: 0...maxMessageID),
                    RESTInput.integer(fields, "limit", in: 1...maxInboxLimit),
                    RESTInput.integer(fields, "wait", in: 0...maxInboxWait)) {
            case (.failure(let refusal), _, _), (_, .failure(let refusal), _), (_, _, .failure(let refusal)):
                return .failure(refusal)
            case (.success(let after), .success(let limit), .success(let wait)):
                return .success(LongPoll(after: after, limit: limit.map(Int.init) ?? defaultInboxLimit,
                                         wait: wait.map(Int.init) ?? 0))
            }
        }
    }

    /// `POST /api/inbox/ack` `{"seq":N}`: 204 once everything up to N counts as received; a seq at or below the
    /// cursor changes nothing and is still 204; one beyond the inbox is 400 `bad_request`.
    func acknowledgeInbox(_ request: HTTPRequest, _ respond: HTTPResponder) {
        authenticated(request, respond) { [chat] user in
            switch RESTInput.jsonObject(request).flatMap({ RESTInput.sequenceNumber($0, "seq") }) {
            case .failure(let refusal):
                respond.respond(refusal.response)
            case .success(let seq):
                chat.handle(.ack(seq: seq), from: user, peerHost: request.peer?.host) { event in
                    guard case .ok = event else { return respond.respond(Self.refusal(event)) }
                    respond.respond(HTTPResponse(status: 204))
                }
            }
        }
    }
}

extension RESTInput {
    /// A required inbox position in a JSON object body: a whole number from 0 up to JSON's exact integers.
    static func sequenceNumber(_ object: JSONValue, _ name: String) -> Result<Int64, Refusal> {
        guard let field = object[name], field != .null else {
            return .failure(Refusal(RESTError.badRequest("\(name) is required")))
        }
        guard let value = field.integerValue, value >= 0, value <= RESTRouter.maxMessageID else {
            return .failure(Refusal(RESTError.badRequest(
                "\(name) must be a whole number from 0 to \(RESTRouter.maxMessageID)")))
        }
        return .success(value)
    }
}

/// A long poll's query, checked.
struct LongPoll {
    let after: Int64?
    let limit: Int
    let wait: Int
}
