private import COpenSSL
import ParleySupport

/// The server side of the opening handshake (RFC 6455 §4.2): checks an upgrade request and
/// returns either the 101 response to send before switching the connection to frames, or the
/// HTTP error to send before closing it.
public struct WebSocketHandshake: Sendable {
    /// The answer to one upgrade request.
    public enum Result: Sendable, Equatable {
        /// Send this 101 response, then hand the connection (and the parser's leftover bytes)
        /// to a `WebSocketSession`.
        case accept(HTTPResponse)
        /// Send this error response (400, 403, 405 or 426), then close the connection.
        case reject(HTTPResponse)
    }

    /// The GUID every accept value is derived with (§1.3, §4.2.2).
    static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Origins allowed besides the request's own host, compared ignoring ASCII case, e.g.
    /// `https://chat.example.com`. A missing Origin is always allowed: non-browser clients
    /// (and conformance tools) send none, and Origin only protects browsers (§10.2).
    public var allowedOrigins: [String]

    /// Creates a handshake policy.
    public init(allowedOrigins: [String] = []) {
        self.allowedOrigins = allowedOrigins
    }

    /// Checks `request` against §4.2.1 and the Origin policy.
    public func evaluate(_ request: HTTPRequest) -> Result {
        // §4.2.1 item 1: the method MUST be GET, at least HTTP/1.1.
        guard request.method == .get else {
            var response = HTTPResponse.methodNotAllowed(allowed: [.get])
            response.closeConnection = true
            return .reject(response)
        }
        guard request.version.major == 1 && request.version.minor >= 1 else {
            return reject(400, "A WebSocket handshake needs HTTP/1.1")
        }
        let headers = request.headers
        // §4.2.1 items 2–4: Host (the parser insists on one), `Upgrade: websocket`, and
        // `Connection` with the `Upgrade` token.
        guard let host = headers["Host"], headers.count(of: "Host") == 1 else {
            return reject(400, "Missing Host")
        }
        guard headers.containsToken("websocket", in: "Upgrade") else {
            return reject(400, "Missing Upgrade: websocket")
        }
        guard headers.containsToken("Upgrade", in: "Connection") else {
            return reject(400, "Missing Connection: Upgrade")
        }
        // §4.2.1 item 6 and §4.2.2: any version but 13 gets 426 naming the one we speak.
        guard headers.values(for: "Sec-WebSocket-Version") == ["13"] else {
            var response = HTTPResponse.jsonError(
                status: 426, code: "upgrade_required", message: "Only WebSocket version 13 is supported",
                headers: ["Sec-WebSocket-Version": "13"])
            response.closeConnection = true
            return .reject(response)
        }
        // §4.2.1 item 5: the key is the base64 encoding of 16 bytes.
        let keys = headers.values(for: "Sec-WebSocket-Key")
        guard keys.count == 1, let key = keys.first, Self.isValidKey(key) else {
            return reject(400, "Sec-WebSocket-Key must be 16 bytes in base64")
        }
        // §4.2.2 item 1 and §10.2: refuse browsers on other sites (cross-site WebSocket hijacking).
        if let origin = headers["Origin"], !isAllowed(origin: origin, host: host) {
            var response = HTTPResponse.jsonError(status: 403, code: "forbidden_origin",
                                                  message: "Origin not allowed")
            response.closeConnection = true
            return .reject(response)
        }
        // §4.2.2 item 5: no subprotocol or extension is selected, so neither header is sent.
        let headersOut: HTTPHeaders = [
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": Self.acceptValue(forKey: key),
        ]
        return .accept(HTTPResponse(status: 101, headers: headersOut))
    }

    /// The `Sec-WebSocket-Accept` value: base64(SHA-1(key + GUID)) (§4.2.2 item 5.4).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + acceptGUID).utf8)
        var digest = [UInt8](repeating: 0, count: 20)  // SHA_DIGEST_LENGTH
        input.withUnsafeBufferPointer { source in
            digest.withUnsafeMutableBufferPointer { output in
                _ = SHA1(source.baseAddress, source.count, output.baseAddress)
            }
        }
        return Base64.encode(digest)
    }

    /// Whether `origin` is the request's own host over http or https, or an allowed origin.
    func isAllowed(origin: String, host: String) -> Bool {
        if HTTPHeaders.equalsIgnoringCase(origin, "http://" + host)
            || HTTPHeaders.equalsIgnoringCase(origin, "https://" + host) {
            return true
        }
        return allowedOrigins.contains { HTTPHeaders.equalsIgnoringCase($0, origin) }
    }

    /// 22 base64 characters and `==`: exactly what encoding 16 bytes produces (RFC 4648 §4).
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else {
            return false
        }
        return Base64.decode(bytes)?.count == 16
    }

    private func reject(_ status: Int, _ message: String) -> Result {
        var response = HTTPResponse.jsonError(status: status, code: "bad_handshake", message: message)
        response.closeConnection = true
        return .reject(response)
    }
}
