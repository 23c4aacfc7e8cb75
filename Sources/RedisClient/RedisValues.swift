import CHiredis

/// One argument of a Redis command: bytes, not text, because keys and payloads are binary-safe in Redis and a
/// chat payload may hold any byte, NUL included.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    /// Integers go over the wire as decimal text, which is what Redis parses for counts, TTLs and scores.
    public init(_ number: Int) { bytes = Array(String(number).utf8) }
    public init(stringLiteral text: String) { self.init(text) }
    public init(integerLiteral number: Int) { self.init(number) }
}

/// A reply as Redis sent it (RESP2). An error reply is a reply, not a failure of the client: `WRONGTYPE` or
/// `NOSCRIPT` say something about the command, and the connection stays good.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// The text of a status or bulk reply (bulk bytes read as UTF-8), nil for any other kind.
    public var string: String? {
        switch self {
        case .status(let text): text
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The value of an integer reply, nil for any other kind.
    public var integer: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    /// The message of an error reply, nil for any other kind.
    public var errorMessage: String? {
        if case .error(let message) = self { message } else { nil }
    }

    /// Copies hiredis's reply tree into Swift values, because hiredis frees it as soon as the callback returns.
    init(_ reply: UnsafePointer<redisReply>) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STATUS: self = .status(Self.text(node))
        case REDIS_REPLY_ERROR: self = .error(Self.text(node))
        case REDIS_REPLY_INTEGER: self = .integer(Int64(node.integer))
        case REDIS_REPLY_NIL: self = .null
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(node.elements))
            for index in 0..<Int(node.elements) {
                if let element = node.element[index] { elements.append(RedisReply(element)) } else { elements.append(.null) }
            }
            self = .array(elements)
        default: // REDIS_REPLY_STRING; hiredis 0.14 knows no other kind
            self = .bulk(Self.bytes(node))
        }
    }

    private static func bytes(_ node: redisReply) -> [UInt8] {
        guard let start = node.str, node.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(node.len)))
    }

    private static func text(_ node: redisReply) -> String {
        String(decoding: bytes(node), as: UTF8.self)
    }
}

/// Why a command, subscription or connection did not succeed.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL given to `RedisClient.init` cannot be used; the text says what is wrong with it.
    case invalidURL(String)
    /// The client name given to `RedisClient.init` cannot be used as a Redis connection name.
    case invalidName(String)
    /// The connection was down when the command was sent, or went down before its reply came. Whether a command
    /// in flight was applied is unknown.
    case disconnected
    /// No reply came within the command timeout; the connection was dropped, since a server that skips a reply
    /// leaves every later reply unmatched.
    case timeout
    /// The client was stopped (or not started) before the reply came.
    case stopped
    /// The command or subscription cannot be sent as given (no command name, no channel).
    case invalidCommand(String)
    /// A connection attempt failed: refused, unreachable, timed out, or the server refused the handshake.
    case connectionFailed(String)

    public var description: String {
        switch self {
        case .invalidURL(let why): "invalid Redis URL: \(why)"
        case .invalidName(let why): "invalid Redis client name: \(why)"
        case .disconnected: "the connection to Redis is down"
        case .timeout: "Redis did not answer in time"
        case .stopped: "the Redis client is stopped"
        case .invalidCommand(let why): "invalid Redis command: \(why)"
        case .connectionFailed(let why): "cannot connect to Redis: \(why)"
        }
    }
}

/// What every command's completion receives.
public typealias RedisCompletion = @Sendable (Result<RedisReply, RedisError>) -> Void
