import ChatCore
import Gateway
import ParleySupport

/// The REST error model (docs/PROTOCOL.md §10): every failure is `{"error":{"code","message"}}` with the
/// status docs/PROTOCOL.md §6 names for its code. `attemptsLeft` and `retryAfter` ride along inside `error` when
/// the hub set them, exactly as the socket doors carry them on their `error` replies.
enum RESTError {
    /// RFC 9110 §11.6.1: every 401 names the schemes that would work. Both are offered because both are accepted.
    static let challenge = #"Bearer realm="parley", Basic realm="parley""#

    /// The HTTP status for a hub error code.
    ///
    /// `too_large` is a socket line over its limit, which a REST request cannot send; were it ever to reach REST,
    /// it would be bad input (400): 413 is reserved for bodies over 1 MiB, as docs/PROTOCOL.md §10 words it.
    static func status(for code: ErrorCode) -> Int {
        switch code {
        case .badRequest, .tooLarge, .invalidUsername, .invalidPassword, .invalidRoom: 400
        case .notLoggedIn, .badToken, .noSuchUser, .badPassword: 401
        case .self, .blocked, .banned, .notOwner: 403
        case .invalidUser, .notBlocked, .notMember: 404
        case .userExists, .alreadyBlocked, .alreadyMember, .roomFull, .tooManyRooms: 409
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

/// Reading what a REST request carries: a JSON object body, query parameters and percent-encoded path
/// segments. Every reader fails with a ready-made response (400, 413 or 415) instead of throwing, so a handler
/// is a straight line of `guard`s, and no input of any shape can make it trap.
enum RESTInput {
    /// docs/PROTOCOL.md §10: bodies over 1 MiB get 413. The gateway's parser enforces the same number before the
    /// body is buffered; checking again here keeps the router safe when it is driven directly (tests, other front
    /// ends).
    static let maxBodyBytes = 1024 * 1024

    /// The body as a JSON object, or the response that refuses it.
    static func jsonObject(_ request: HTTPRequest) -> Result<JSONValue, Refusal> {
        if request.body.count > maxBodyBytes { return .failure(Refusal(RESTError.bodyTooLarge(limit: maxBodyBytes))) }
        guard isJSON(request.headers) else { return .failure(Refusal(RESTError.unsupportedMediaType())) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(request.body)
        } catch {
            return .failure(Refusal(RESTError.badRequest("malformed JSON: \(error.reason) at byte \(error.offset)")))
        }
        guard case .object = value else {
            return .failure(Refusal(RESTError.badRequest("the body must be a JSON object")))
        }
        return .success(value)
    }

    /// A required string field of a JSON object body.
    static func string(_ object: JSONValue, _ name: String) -> Result<String, Refusal> {
        guard let field = object[name], field != .null else {
            return .failure(Refusal(RESTError.badRequest("\(name) is required")))
        }
        guard let text = field.stringValue else {
            return .failure(Refusal(RESTError.badRequest("\(name) must be a string")))
        }
        return .success(text)
    }

    /// Whether `Content-Type` says JSON: `application/json`, optionally with `charset=utf-8` (RFC 8259 §11 defines
    /// no charset parameter, but clients send it, and UTF-8 is the only encoding JSON allows anyway).
    static func isJSON(_ headers: HTTPHeaders) -> Bool {
        guard headers.count(of: "Content-Type") == 1, let value = headers["Content-Type"] else { return false }
        var parts = value.split(separator: ";", omittingEmptySubsequences: false).map(trim)
        let mediaType = parts.removeFirst()
        guard HTTPHeaders.equalsIgnoringCase(String(mediaType), "application/json") else { return false }
        for parameter in parts {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(trim)
            guard pair.count == 2, HTTPHeaders.equalsIgnoringCase(String(pair[0]), "charset") else { return false }
            let charset = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2
                ? pair[1].dropFirst().dropLast() : pair[1]
            guard HTTPHeaders.equalsIgnoringCase(String(charset), "utf-8") else { return false }
        }
        return true
    }

    private static func trim(_ text: Substring) -> Substring {
        var slice = text
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return slice
    }

    // MARK: - Query

    /// Query parameters, decoded as `application/x-www-form-urlencoded` (what browsers, curl `--data-urlencode -G`
    /// and HTTP libraries send: `+` is a space, which no username contains anyway). A name given twice is refused:
    /// silently picking one would make `with=a&with=b` mean something the caller may not have meant.
    static func query(_ request: HTTPRequest) -> Result<[String: String], Refusal> {
        var fields: [String: String] = [:]
        guard let query = request.query, !query.isEmpty else { return .success(fields) }
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(parts[0], plusIsSpace: true),
                  let value = percentDecoded(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
                return .failure(Refusal(RESTError.badRequest("the query is not valid percent-encoded UTF-8")))
            }
            // Unknown names are ignored (a client may send more than a route reads), but a value without any
            // name is a malformed query, not an extra parameter.
            guard !name.isEmpty else {
                return .failure(Refusal(RESTError.badRequest("a query parameter has no name")))
            }
            guard fields.updateValue(value, forKey: name) == nil else {
                return .failure(Refusal(RESTError.badRequest("\(name) is given more than once")))
            }
        }
        return .success(fields)
    }

    /// An optional integer query parameter within `range`: plain decimal digits, nothing else.
    static func integer(_ fields: [String: String], _ name: String, in range: ClosedRange<Int64>)
        -> Result<Int64?, Refusal> {
        guard let text = fields[name] else { return .success(nil) }
        // At most 18 digits always fits an Int64, so the conversion below cannot overflow.
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int64(text), range.contains(value) else {
            return .failure(Refusal(RESTError.badRequest(
                "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")))
        }
        return .success(value)
    }

    /// Decodes `%XX` escapes (and `+` as a space in queries); nil for a bad escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        PercentDecoding.decoded(text, plusIsSpace: plusIsSpace)
    }
}

/// A request the router refuses, carrying the response that says why.
struct Refusal: Error {
    let response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }
}

extension HTTPResponse {
    /// A JSON response from bytes already encoded (by `JSONWriter`), with no detour through `String`.
    static func jsonBody(status: Int, _ body: [UInt8], headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// A plain-text response (health, metrics).
    static func text(status: Int = 200, _ body: String,
                     contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(body.utf8))
    }
}
