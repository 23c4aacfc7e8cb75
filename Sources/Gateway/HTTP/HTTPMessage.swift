#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP request method (RFC 9110 §9), kept as the token the client sent.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let get = HTTPMethod(rawValue: "GET")
    public static let head = HTTPMethod(rawValue: "HEAD")
    public static let post = HTTPMethod(rawValue: "POST")
    public static let put = HTTPMethod(rawValue: "PUT")
    public static let patch = HTTPMethod(rawValue: "PATCH")
    public static let delete = HTTPMethod(rawValue: "DELETE")
    public static let options = HTTPMethod(rawValue: "OPTIONS")
    public static let connect = HTTPMethod(rawValue: "CONNECT")

    public var description: String { rawValue }
}

/// The protocol version from a request line (RFC 9112 §2.3).
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One complete request as produced by `HTTPParser`: head fields plus the whole body.
public struct HTTPRequest: Sendable, Equatable {
    public var method: HTTPMethod
    /// The request-target exactly as sent (origin-form `/path?query` for ordinary requests).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// The decoded body (chunked framing already removed), at most the parser's body limit.
    public var body: [UInt8]
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// The client's address, set by the gateway before the request reaches an `HTTPApplication` (per-address
    /// limits); nil for a request that did not come off a socket.
    public var peer: PeerAddress?

    public init(
        method: HTTPMethod, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [], keepAlive: Bool = true
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

    /// The target without its query (`/api/x?y=1` → `/api/x`).
    public var path: Substring {
        target.firstIndex(of: "?").map { target[..<$0] } ?? target[...]
    }

    /// The query after `?`, if any.
    public var query: Substring? {
        target.firstIndex(of: "?").map { target[target.index(after: $0)...] }
    }

    /// Whether this request asks to switch to WebSocket (RFC 6455 §4.1 `Upgrade: websocket`);
    /// `WebSocketHandshake` decides whether the rest of the handshake is acceptable.
    public var isWebSocketUpgrade: Bool {
        headers.containsToken("websocket", in: "Upgrade")
    }
}

/// A response to serialize: status, headers and a complete body.
///
/// Serialization adds what every response needs (RFC 9110 §6.6.1 Date, §8.6 Content-Length,
/// RFC 9112 §9.6 Connection), so handlers only set what is specific to them.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Set for responses after which the connection must close whatever the request said
    /// (parse errors, refused WebSocket handshakes).
    public var closeConnection: Bool

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
                closeConnection: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.closeConnection = closeConnection
    }

    /// A JSON body response with `Content-Type: application/json`.
    public static func json(status: Int, _ json: String, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: headers, body: Array(json.utf8))
    }

    /// The error shape shared by every HTTP error: `{"error":{"code":…,"message":…}}`.
    public static func jsonError(
        status: Int, code: String, message: String, headers: HTTPHeaders = HTTPHeaders()
    ) -> HTTPResponse {
        let body = #"{"error":{"code":"# + JSONText.quoted(code) + #","message":"#
            + JSONText.quoted(message) + "}}"
        return json(status: status, body, headers: headers)
    }

    /// 404 for an unknown path.
    public static func notFound() -> HTTPResponse {
        jsonError(status: 404, code: "not_found", message: "No such resource")
    }

    /// 405 with the `Allow` list RFC 9110 §15.5.6 requires.
    public static func methodNotAllowed(allowed: [HTTPMethod]) -> HTTPResponse {
        jsonError(status: 405, code: "method_not_allowed", message: "Method not allowed",
                  headers: ["Allow": allowed.map(\.rawValue).joined(separator: ", ")])
    }

    /// The response for a request the parser refused; the connection closes after it.
    public init(parseError: HTTPParseError) {
        self = .jsonError(status: parseError.status, code: parseError.code, message: parseError.message)
        closeConnection = true
    }

    /// Serializes for `request`: keep-alive follows the request unless this response closes,
    /// and a HEAD request gets the same head (same Content-Length) without the body.
    public func serialize(for request: HTTPRequest, date: String) -> [UInt8] {
        serialize(keepAlive: request.keepAlive && !closeConnection,
                  isHeadRequest: request.method == .head, date: date)
    }

    /// Serializes status line, headers and body.
    /// - Parameters:
    ///   - keepAlive: `false` writes `Connection: close`; the caller closes after writing.
    ///   - isHeadRequest: RFC 9110 §9.3.2: same header fields as GET, no content.
    ///   - date: an IMF-fixdate from `HTTPDate` (callers may cache it for the current second).
    public func serialize(keepAlive: Bool, isHeadRequest: Bool = false, date: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + headers.count * 32 + (isHeadRequest ? 0 : body.count))
        out.append(contentsOf: "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(status))\r\n".utf8)
        let informational = status < 200
        // RFC 9110 §8.6: no Content-Length in 1xx or 204 responses, and they carry no content.
        let hasContentLength = !informational && status != 204
        for field in headers {
            if HTTPHeaders.equalsIgnoringCase(field.name, "Content-Length") { continue }
            if HTTPHeaders.equalsIgnoringCase(field.name, "Date") { continue }
            if !informational, HTTPHeaders.equalsIgnoringCase(field.name, "Connection") { continue }
            Self.appendField(field.name, field.value, to: &out)
        }
        Self.appendField("Date", date, to: &out)
        if hasContentLength { Self.appendField("Content-Length", String(body.count), to: &out) }
        // A 101 carries its own `Connection: Upgrade` (RFC 6455 §4.2.2); everything else says
        // explicitly whether the connection stays open (RFC 9112 §9.6).
        if !informational {
            Self.appendField("Connection", keepAlive && !closeConnection ? "keep-alive" : "close", to: &out)
        }
        out.append(contentsOf: "\r\n".utf8)
        if hasContentLength && !isHeadRequest { out.append(contentsOf: body) }
        return out
    }

    private static func appendField(_ name: String, _ value: String, to out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: ": ".utf8)
        // A CR or LF in a value would let a handler inject header lines (RFC 9110 §5.5); drop them.
        out.append(contentsOf: value.utf8.lazy.filter { $0 != 0x0D && $0 != 0x0A && $0 != 0 })
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The reason phrase for a status code (RFC 9110 §15); clients must not rely on it.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 426: "Upgrade Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }
}

/// Minimal JSON string quoting for error bodies (RFC 8259 §7).
enum JSONText {
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

// MARK: - Headers

/// Header fields of one HTTP message, in the order they arrived, with case-insensitive lookup.
///
/// RFC 9110 §5.1: field names are case-insensitive; RFC 9110 §5.3: the order of lines with the
/// same name matters, so fields are kept as a list, never merged into a dictionary.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// One field line: the name as received and the value with surrounding whitespace removed.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    private var fields: [Field]

    /// Creates an empty header list.
    public init() { fields = [] }

    /// Creates a header list from name/value pairs, keeping their order.
    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// Number of field lines (a name that appears twice counts twice).
    public var count: Int { fields.count }

    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// Appends a field line; an existing line with the same name is kept.
    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every line named `name` with a single line, appended at the end.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every line named `name`.
    public mutating func remove(name: String) {
        fields.removeAll { Self.equalsIgnoringCase($0.name, name) }
    }

    /// The value of the first line named `name`, if any.
    public subscript(name: String) -> String? {
        fields.first { Self.equalsIgnoringCase($0.name, name) }?.value
    }

    /// The values of every line named `name`, in arrival order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    /// How many lines are named `name` (duplicate detection, e.g. two `Host` lines).
    public func count(of name: String) -> Int {
        fields.reduce(0) { $0 + (Self.equalsIgnoringCase($1.name, name) ? 1 : 0) }
    }

    /// Whether any line is named `name`.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.equalsIgnoringCase($0.name, name) }
    }

    /// Whether the comma-separated lists in every `name` line contain `token`, ignoring case
    /// (RFC 9110 §5.6.1 lists, e.g. `Connection: keep-alive, Upgrade`).
    public func containsToken(_ token: String, in name: String) -> Bool {
        for field in fields where Self.equalsIgnoringCase(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ",")) {
                if Self.equalsIgnoringCase(Self.trimmed(element), token.utf8) { return true }
            }
        }
        return false
    }

    // MARK: - ASCII helpers (no allocation, no locale)

    /// ASCII case-insensitive comparison; header names and the tokens we compare are ASCII.
    public static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        equalsIgnoringCase(a.utf8, b.utf8)
    }

    static func equalsIgnoringCase(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { lowercased($0) == lowercased($1) }
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Drops optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends of a list element.
    private static func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return slice
    }
}

// MARK: - Date

/// Formats the `Date` header value (RFC 9110 §5.6.7 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
///
/// Pure arithmetic on Unix seconds: no locale, no formatter objects, no allocation beyond the
/// result, so the event loop can call it once per second and reuse the string.
public enum HTTPDate {
    private static let dayNames = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The IMF-fixdate for a count of seconds since 1970-01-01T00:00:00Z.
    public static func string(secondsSince1970 seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        let weekday = dayNames[Int(((days % 7) + 7) % 7)]
        return "\(weekday), \(twoDigits(day)) \(monthNames[month - 1]) \(fourDigits(year)) "
            + "\(twoDigits(secondOfDay / 3600)):\(twoDigits(secondOfDay / 60 % 60)):\(twoDigits(secondOfDay % 60)) GMT"
    }

    /// The IMF-fixdate for the current wall-clock second.
    public static func now() -> String {
        string(secondsSince1970: Int64(time(nil)))
    }

    /// Converts a day count to a proleptic Gregorian (year, month 1–12, day 1–31), using the
    /// 400-year era decomposition (eras start on 1 March so the leap day falls at the end).
    static func civilDate(daysSince1970: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = daysSince1970 + 719_468                 // days since 0000-03-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097                // 0…146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // from 1 March
        let monthIndex = (5 * dayOfYear + 2) / 153            // 0 = March … 11 = February
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : String(value)
    }

    private static func fourDigits(_ value: Int) -> String {
        let text = String(value)
        return text.count >= 4 ? text : String(repeating: "0", count: 4 - text.count) + text
    }
}
