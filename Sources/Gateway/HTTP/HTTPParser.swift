private import CLLHTTP

/// Limits the HTTP parser enforces itself (llhttp has none). Each maps to the status RFC 9110
/// names for it; the defaults are the numbers.
public struct HTTPParserConfiguration: Sendable, Equatable {
    /// Default for `maxHeadBytes`: request line + header lines + CRLFs, 16 KiB.
    public static let defaultMaxHeadBytes = 16 * 1024
    /// Default for `maxTargetBytes`: the request-target, 8 KiB.
    public static let defaultMaxTargetBytes = 8 * 1024
    /// Default for `maxBodyBytes`: 1 MiB after chunked decoding.
    public static let defaultMaxBodyBytes = 1024 * 1024
    /// Default for `maxHeaderCount`.
    public static let defaultMaxHeaderCount = 100

    /// Larger heads get 431 (RFC 6585 §5).
    public var maxHeadBytes: Int
    /// Longer targets get 414 (RFC 9110 §15.5.15).
    public var maxTargetBytes: Int
    /// Larger bodies get 413 (RFC 9110 §15.5.14), as soon as a Content-Length announces one.
    /// Chunked framing (size lines, extensions, trailers) may add up to `maxHeadBytes` more.
    public var maxBodyBytes: Int
    /// More header lines get 431.
    public var maxHeaderCount: Int

    public init(
        maxHeadBytes: Int = defaultMaxHeadBytes,
        maxTargetBytes: Int = defaultMaxTargetBytes,
        maxBodyBytes: Int = defaultMaxBodyBytes,
        maxHeaderCount: Int = defaultMaxHeaderCount
    ) {
        self.maxHeadBytes = maxHeadBytes
        self.maxTargetBytes = maxTargetBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderCount = maxHeaderCount
    }
}

/// Why a request was refused. Every case is answered with `status` and then the connection
/// closes: after a framing error the parser cannot know where the next request starts.
public enum HTTPParseError: Error, Sendable, Equatable {
    /// Syntax or smuggling shapes (CL+TE, duplicate Content-Length, obs-fold, bare LF, …): 400.
    case malformed(String)
    /// RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with two Host lines: 400.
    case invalidHost(String)
    /// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request means its framing is faulty: 400.
    case transferEncodingInHTTP10
    /// Any version other than HTTP/1.0 and HTTP/1.1 (e.g. `HTTP/2.0` in a request line): 505.
    case versionNotSupported
    /// Head over `maxHeadBytes` or `maxHeaderCount`: 431.
    case headTooLarge
    /// Target over `maxTargetBytes`: 414.
    case targetTooLong
    /// Body (announced or received) over `maxBodyBytes`: 413.
    case bodyTooLarge

    /// The response status for this error.
    public var status: Int {
        switch self {
        case .malformed, .invalidHost, .transferEncodingInHTTP10: 400
        case .versionNotSupported: 505
        case .headTooLarge: 431
        case .targetTooLong: 414
        case .bodyTooLarge: 413
        }
    }

    /// The machine-readable code in the JSON error body.
    public var code: String {
        switch self {
        case .malformed, .invalidHost, .transferEncodingInHTTP10: "bad_request"
        case .versionNotSupported: "http_version_not_supported"
        case .headTooLarge: "header_fields_too_large"
        case .targetTooLong: "uri_too_long"
        case .bodyTooLarge: "content_too_large"
        }
    }

    /// A short human-readable explanation for the JSON error body and logs.
    public var message: String {
        switch self {
        case .malformed(let detail): "Malformed request: \(detail)"
        case .invalidHost(let detail): "Invalid Host: \(detail)"
        case .transferEncodingInHTTP10: "Transfer-Encoding is not allowed in HTTP/1.0"
        case .versionNotSupported: "Only HTTP/1.0 and HTTP/1.1 are supported"
        case .headTooLarge: "Request head too large"
        case .targetTooLong: "Request target too long"
        case .bodyTooLarge: "Request body too large"
        }
    }
}

/// What the connection should do once the returned requests have been answered, in order.
public enum HTTPParseOutcome: Sendable, Equatable {
    /// Every byte was used; read more.
    case needMoreData
    /// The last request does not keep the connection alive (`Connection: close`, HTTP/1.0, or
    /// CONNECT): answer it and close. Bytes after it were discarded and later feeds are ignored.
    case close
    /// The last request is a WebSocket upgrade (llhttp's HPE_PAUSED_UPGRADE). HTTP parsing has
    /// stopped; `leftover` holds the bytes after that request, which may already contain frames
    /// and belong to the WebSocket session. If the handshake is refused, answer and close.
    case upgrade(leftover: [UInt8])
    /// The input is not acceptable: answer `HTTPResponse(parseError:)` after the returned
    /// requests, then close. Later feeds are ignored.
    case failed(HTTPParseError)
}

/// What one `HTTPParser.feed` call produced.
public struct HTTPParseResult: Sendable, Equatable {
    /// Complete requests in arrival order (pipelining: any number per feed).
    public var requests: [HTTPRequest]
    public var outcome: HTTPParseOutcome

    public init(requests: [HTTPRequest], outcome: HTTPParseOutcome) {
        self.requests = requests
        self.outcome = outcome
    }
}

// MARK: - Parser

/// Incremental HTTP/1.1 request parser on llhttp: feed bytes as they arrive, get complete
/// requests, an upgrade hand-off, or an error with its status.
///
/// How it drives llhttp: data callbacks append to byte buffers and the `_complete` callbacks
/// commit them; `on_headers_complete` and `on_message_complete` pause the parser, so `feed`
/// learns the exact byte where each head and each message ends. Head bytes also go through
/// `HTTPHeadScanner` (limits and the shapes llhttp lets through), and the finished head gets the
/// semantic checks llhttp leaves to servers (Host, version, Transfer-Encoding in HTTP/1.0).
/// No lenient flag is ever set. A parse error is final: after it the stream cannot be framed.
///
/// Loop-confined: touched only on its connection's event-loop thread. Not Sendable.
public final class HTTPParser {
    public let configuration: HTTPParserConfiguration

    private enum Phase { case head, body, stopped }

    private let state: UnsafeMutablePointer<llhttp_t>
    private let settings: UnsafeMutablePointer<llhttp_settings_t>
    private var phase = Phase.head
    private var scanner: HTTPHeadScanner

    // The message being assembled; buffers keep their capacity between requests.
    private var method: [UInt8] = []
    private var target: [UInt8] = []
    private var fieldName: [UInt8] = []
    private var fieldValue: [UInt8] = []
    private var headers = HTTPHeaders()
    private var body: [UInt8] = []
    private var framedBodyBytes = 0         // raw body-phase bytes: data, chunk lines, trailers
    private var head: HTTPRequest?

    // Signals from the callbacks to the `feed` loop, valid for one `llhttp_execute` call.
    private var headEnded = false
    private var messageEnded = false
    private var callbackError: HTTPParseError?
    private var callbackErrorEnd = 0
    private var executeBase: UnsafePointer<CChar>?

    /// Creates a parser for one connection.
    public init(configuration: HTTPParserConfiguration = HTTPParserConfiguration()) {
        self.configuration = configuration
        scanner = HTTPHeadScanner(limits: configuration)
        state = .allocate(capacity: 1)
        settings = .allocate(capacity: 1)
        llhttp_settings_init(settings)
        settings.pointee.on_method = { p, at, n in HTTPParser.from(p).appendMethod(at, n) }
        settings.pointee.on_url = { p, at, n in HTTPParser.from(p).appendTarget(at, n) }
        settings.pointee.on_header_field = { p, at, n in HTTPParser.from(p).appendField(name: true, at, n) }
        settings.pointee.on_header_value = { p, at, n in HTTPParser.from(p).appendField(name: false, at, n) }
        settings.pointee.on_header_value_complete = { p in HTTPParser.from(p).commitField() }
        settings.pointee.on_headers_complete = { p in HTTPParser.from(p).pauseAtHeadEnd() }
        settings.pointee.on_body = { p, at, n in HTTPParser.from(p).appendBody(at, n) }
        settings.pointee.on_message_complete = { p in HTTPParser.from(p).pauseAtMessageEnd() }
        llhttp_init(state, HTTP_REQUEST, settings)
        state.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        state.deallocate()
        settings.deallocate()
    }

    /// True when no byte of a next request has arrived: the connection is idle between requests
    /// (keep-alive), not half-way through a head or body (which has its own, shorter deadline).
    public var isBetweenRequests: Bool {
        phase == .head && !scanner.hasStarted
    }

    /// Parses `bytes` (copied as needed; the caller may reuse its buffer afterwards).
    public func feed(_ bytes: [UInt8]) -> HTTPParseResult {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Parses the next bytes of the connection.
    public func feed(_ input: UnsafeRawBufferPointer) -> HTTPParseResult {
        guard phase != .stopped else { return HTTPParseResult(requests: [], outcome: .close) }
        var requests: [HTTPRequest] = []
        // An empty buffer still runs one execute: it lets a paused parser finish a message.
        let base = UnsafePointer<CChar>((input.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)
            .assumingMemoryBound(to: CChar.self))
        var offset = 0
        while true {
            headEnded = false
            messageEnded = false
            callbackError = nil
            callbackErrorEnd = 0
            executeBase = base
            let status = llhttp_execute(state, base + offset, input.count - offset)
            executeBase = nil
            var end = input.count
            if status != HPE_OK, let pos = llhttp_get_error_pos(state) {
                end = min(max(pos - base, offset), input.count)
            }
            if phase == .head {
                // Scan what llhttp consumed, and all of a span a callback refused, so the
                // scanner's earlier-positioned errors win however the input was split.
                let scanEnd = callbackError == nil ? end : min(max(end, callbackErrorEnd), input.count)
                if let error = scanHead(input, from: offset, to: scanEnd) {
                    return stop(requests, .failed(error))
                }
            } else if phase == .body {
                // Chunk-size lines, extensions and trailers are not kept, but they are bounded,
                // counted by position like the head so the split of the input cannot matter.
                framedBodyBytes += end - offset
                if framedBodyBytes > configuration.maxBodyBytes + configuration.maxHeadBytes {
                    return stop(requests, .failed(.bodyTooLarge))
                }
            }
            if let error = callbackError { return stop(requests, .failed(error)) }
            offset = end

            switch status {
            case HPE_OK:
                return HTTPParseResult(requests: requests, outcome: .needMoreData)
            case HPE_PAUSED where headEnded:
                llhttp_resume(state)
                if let error = finishHead() { return stop(requests, .failed(error)) }
                phase = .body
            case HPE_PAUSED where messageEnded:
                llhttp_resume(state)
                var request = makeRequest()
                phase = .head
                if llhttp_get_upgrade(state) != 0 {
                    if request.isWebSocketUpgrade && request.method == .get {
                        requests.append(request)
                        return stop(requests, .upgrade(leftover: Array(input[offset...])))
                    }
                    // RFC 9110 §9.3.6: CONNECT turns the connection into a tunnel we don't
                    // offer; the route refuses it and the connection closes.
                    if request.method == .connect { request.keepAlive = false }
                    // Other upgrades (h2c, …) are ignored (RFC 9110 §7.8): plain HTTP goes on.
                }
                requests.append(request)
                if !request.keepAlive { return stop(requests, .close) }
            case HPE_PAUSED_UPGRADE:
                // Only reached for upgrades `feed` chose to ignore just above.
                llhttp_resume_after_upgrade(state)
            default:
                let reason = llhttp_get_error_reason(state).map { String(cString: $0) }
                    ?? String(cString: llhttp_errno_name(status))
                return stop(requests, .failed(.malformed(reason)))
            }
        }
    }

    private func stop(_ requests: [HTTPRequest], _ outcome: HTTPParseOutcome) -> HTTPParseResult {
        phase = .stopped
        return HTTPParseResult(requests: requests, outcome: outcome)
    }

    private func scanHead(_ input: UnsafeRawBufferPointer, from start: Int, to end: Int) -> HTTPParseError? {
        guard end > start || headEnded else { return nil }
        switch scanner.scan(UnsafeRawBufferPointer(rebasing: input[start..<end])) {
        case .failed(let error):
            return error
        case .complete where !headEnded, .needMore where headEnded:
            // Defensive: the two parsers must agree on where the head ends.
            return .malformed("ambiguous end of head")
        case .complete, .needMore:
            return nil
        }
    }

    // MARK: - Head checks llhttp leaves to the server

    private func finishHead() -> HTTPParseError? {
        let version = HTTPVersion(major: Int(llhttp_get_http_major(state)),
                                  minor: Int(llhttp_get_http_minor(state)))
        // RFC 9112 §2.3: only 1.x is spoken on this wire; `HTTP/2.0` here is not HTTP/2.
        guard version == .http1_1 || version == .http1_0 else { return .versionNotSupported }
        // RFC 9112 §3.2: one Host line, and HTTP/1.1 requires it.
        let hosts = headers.count(of: "Host")
        if hosts > 1 { return .invalidHost("more than one Host line") }
        if hosts == 0 && version == .http1_1 { return .invalidHost("missing Host") }
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing cannot be trusted.
        if version == .http1_0 && headers.contains("Transfer-Encoding") { return .transferEncodingInHTTP10 }
        // Refuse an announced oversized body before any of it arrives.
        if headers.contains("Content-Length"),
           state.pointee.content_length > UInt64(configuration.maxBodyBytes) {
            return .bodyTooLarge
        }
        head = HTTPRequest(method: HTTPMethod(rawValue: String(decoding: method, as: UTF8.self)),
                           target: String(decoding: target, as: UTF8.self),
                           version: version, headers: headers)
        return nil
    }

    private func makeRequest() -> HTTPRequest {
        var request = head ?? HTTPRequest(method: .get, target: "/")
        request.body = body
        request.keepAlive = llhttp_should_keep_alive(state) != 0
        head = nil
        method.removeAll(keepingCapacity: true)
        target.removeAll(keepingCapacity: true)
        headers = HTTPHeaders()
        body = []
        framedBodyBytes = 0
        scanner.reset()
        return request
    }

    // MARK: - llhttp callbacks

    private static func from(_ parser: UnsafeMutablePointer<llhttp_t>?) -> HTTPParser {
        Unmanaged<HTTPParser>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
    }

    private static let ok: Int32 = 0
    private static let paused = Int32(HPE_PAUSED.rawValue)
    private static let userError = Int32(HPE_USER.rawValue)

    private func append(_ buffer: inout [UInt8], _ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        guard let at, count > 0 else { return Self.ok }
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: at, count: count))
        return Self.ok
    }

    /// Refuses from inside a callback; the scanner re-checks the whole span afterwards.
    private func refuse(_ error: HTTPParseError, _ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        callbackError = error
        if let at, let executeBase { callbackErrorEnd = at + count - executeBase }
        return Self.userError
    }

    private func appendMethod(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        if method.count + count > configuration.maxHeadBytes { return refuse(.headTooLarge, at, count) }
        return append(&method, at, count)
    }

    private func appendTarget(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        // Memory guard; the scanner reports the same limit at its exact byte.
        if target.count + count > configuration.maxTargetBytes { return refuse(.targetTooLong, at, count) }
        return append(&target, at, count)
    }

    private func appendField(name: Bool, _ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        // Trailer fields (RFC 9112 §7.1.2) are dropped; `feed` bounds them with the body.
        if phase == .body { return Self.ok }
        if fieldName.count + fieldValue.count + count > configuration.maxHeadBytes {
            return refuse(.headTooLarge, at, count)
        }
        return name ? append(&fieldName, at, count) : append(&fieldValue, at, count)
    }

    private func commitField() -> Int32 {
        defer {
            fieldName.removeAll(keepingCapacity: true)
            fieldValue.removeAll(keepingCapacity: true)
        }
        guard phase == .head else { return Self.ok }
        if headers.count >= configuration.maxHeaderCount { return refuse(.headTooLarge, nil, 0) }
        // llhttp drops leading whitespace; RFC 9110 §5.5 excludes trailing whitespace too.
        var value = fieldValue[...]
        while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
        headers.add(name: String(decoding: fieldName, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
        return Self.ok
    }

    private func pauseAtHeadEnd() -> Int32 {
        headEnded = true
        return Self.paused
    }

    private func appendBody(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        if body.count + count > configuration.maxBodyBytes { return refuse(.bodyTooLarge, at, count) }
        return append(&body, at, count)
    }

    private func pauseAtMessageEnd() -> Int32 {
        messageEnded = true
        return Self.paused
    }
}
