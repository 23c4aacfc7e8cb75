import ChatCore
import Gateway

/// The REST error model (PROTOCOL.md "REST"): every failure is `{"error":{"code","message"}}` with the
/// status PROTOCOL.md names for its code. `attemptsLeft` and `retryAfter` ride along inside `error` when the
/// hub set them, exactly as the socket doors carry them on their `error` replies.
enum RESTError {
    /// RFC 9110 §11.6.1: every 401 names the schemes that would work. Both are offered because both are accepted.
    static let challenge = #"Bearer realm="parley", Basic realm="parley""#

    /// The HTTP status for a hub error code.
    ///
    /// `too_large` here means a `text` over the hub's limit inside a body that is itself within the HTTP limit,
    /// so it is bad input (400); 413 is reserved for bodies over 1 MiB, as PROTOCOL.md words it.
    static func status(for code: ErrorCode) -> Int {
        switch code {
        case .badRequest, .tooLarge, .invalidUsername, .invalidPassword: 400
        case .notLoggedIn, .badToken, .noSuchUser, .badPassword: 401
        case .self, .blocked: 403
        case .invalidUser, .notBlocked: 404
        case .userExists, .alreadyBlocked: 409
        case .locked: 423
        case .rateLimited, .busy: 429
        // Socket-only situations (sessions, P2P) cannot reach REST; if one ever does, it is a conflict with the
        // caller's state rather than a server fault.
        case .alreadyLoggedIn, .alreadyOnline, .offline, .noP2P, .noRequest, .noSession: 409
        // A store failure is transient: the client may retry, and nothing was acknowledged.
        case .internalError: 503
        }
    }

    /// The response for a hub error, with the headers its status requires.
    static func response(_ error: ChatError) -> HTTPResponse {
        let status = status(for: error.code)
        var headers = HTTPHeaders()
        if status == 401 { headers.add(name: "WWW-Authenticate", value: challenge) }
        if status == 423 || status == 429 || status == 503 {
            // RFC 9110 §10.2.3: whole seconds. A lockout always knows its end; a busy hasher says 1.
            headers.add(name: "Retry-After", value: String(max(error.retryAfter ?? 1, 1)))
        }
        var w = JSONWriter()
        w.field("code", error.code.rawValue)
        w.field("message", error.message)
        if let left = error.attemptsLeft { w.field("attemptsLeft", left) }
        if let retry = error.retryAfter { w.field("retryAfter", retry) }
        let inner = w.finish()
        var outer = JSONWriter(capacity: inner.count + 16)
        outer.field("error", raw: inner)
        return .jsonBody(status: status, outer.finish(), headers: headers)
    }

    /// Errors that arise in the router itself, before the hub is asked.
    static func badRequest(_ message: String) -> HTTPResponse {
        response(ChatError(.badRequest, message))
    }

    /// 401 without usable credentials: the caller never said who it is, or said it in a form we cannot read.
    static func unauthorized(_ message: String) -> HTTPResponse {
        response(ChatError(.notLoggedIn, message))
    }

    /// 413: the body is over the HTTP limit. The gateway normally refuses such a body before we see it; the code is
    /// the one its parser uses, so a client sees one code for one condition whichever layer caught it.
    static func bodyTooLarge(limit: Int) -> HTTPResponse {
        HTTPResponse.jsonError(status: 413, code: "content_too_large", message: "the body is over \(limit) bytes")
    }

    /// 415: the body is not declared as JSON.
    static func unsupportedMediaType() -> HTTPResponse {
        HTTPResponse.jsonError(status: 415, code: "unsupported_media_type",
                               message: "send the body as Content-Type: application/json")
    }

    /// 404 for a path under /api that names no endpoint.
    static func notFound() -> HTTPResponse {
        HTTPResponse.notFound()
    }
}
