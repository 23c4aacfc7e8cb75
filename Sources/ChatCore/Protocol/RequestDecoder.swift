/// Turns one JSON request (a line or a WebSocket message) into a `RequestEnvelope`, or a `bad_request` error
/// that still carries the request's `id` when one could be read, so the client can match the failure.
public enum RequestDecoder {
    /// docs/PROTOCOL.md §2: `history` returns at most 200 messages, 50 unless asked.
    public static let maxHistoryLimit = 200
    public static let defaultHistoryLimit = 50

    public struct Failure: Error, Sendable, Equatable {
        public var id: RequestID?
        public var error: ChatError
    }

    /// The hub's entry: a message as the gateway hands it over. Not generic, so that nothing on the way to the
    /// parser runs unspecialised.
    public static func decode(_ bytes: ArraySlice<UInt8>) -> Result<RequestEnvelope, Failure> {
        bytes.withUnsafeBufferPointer(decode(buffer:))
    }

    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> Result<RequestEnvelope, Failure>
    where Bytes.Element == UInt8 {
        bytes.withBytesInOneBuffer(decode(buffer:))
    }

    private static func decode(buffer: UnsafeBufferPointer<UInt8>) -> Result<RequestEnvelope, Failure> {
        let parsed: JSONFields?
        do {
            parsed = try JSONParser.fields(in: buffer)
        } catch {
            return .failure(Failure(id: nil, error: ChatError(.badRequest, "malformed JSON: \(error.reason)")))
        }
        guard let fields = parsed else {
            return .failure(Failure(id: nil, error: ChatError(.badRequest, "a request must be a JSON object")))
        }
        var id: RequestID?
        let idField = fields.value("id")
        switch idField {
        case .string(let s)?: id = .string(s)
        case .number?:
            guard let n = idField?.integerValue else {
                return .failure(Failure(id: nil, error: ChatError(.badRequest, "id must be a string or an integer")))
            }
            id = .number(n)
        case nil, .null?: id = nil
        default:
            return .failure(Failure(id: nil, error: ChatError(.badRequest, "id must be a string or an integer")))
        }
        do {
            return .success(RequestEnvelope(id: id, request: try request(from: fields)))
        } catch {
            return .failure(Failure(id: id, error: error))
        }
    }

    private static func request(from fields: JSONFields) throws(ChatError) -> ClientRequest {
        guard let type = fields.value("type")?.stringValue else { throw ChatError(.badRequest, "missing field type") }
        switch type {
        case "lookup":
            return .lookup(user: try string("user", in: fields))
        case "login":
            let user = try string("user", in: fields)
            let credential: LoginCredential
            if let token = fields.value("token")?.stringValue {
                credential = .token(token)
            } else {
                credential = .password(try string("password", in: fields))
            }
            return .login(user: user, credential: credential, peer: try peer(in: fields), acks: try acks(in: fields))
        case "register":
            return .register(user: try string("user", in: fields), password: try string("password", in: fields),
                             peer: try peer(in: fields), acks: try acks(in: fields))
        case "message":
            return .message(to: try string("to", in: fields), text: try string("text", in: fields))
        case "broadcast":
            return .broadcast(text: try string("text", in: fields))
        case "whoelse":
            return .whoelse
        case "whoelsesince":
            guard let seconds = fields.value("seconds")?.integerValue, seconds >= 0, seconds <= Int64(Int32.max) else {
                throw ChatError(.badRequest, "seconds must be a non-negative integer")
            }
            return .whoelsesince(seconds: Int(seconds))
        case "block":
            return .block(user: try string("user", in: fields))
        case "unblock":
            return .unblock(user: try string("user", in: fields))
        case "startprivate":
            return .startprivate(user: try string("user", in: fields))
        case "privatereply":
            guard let accept = fields.value("accept")?.boolValue else { throw ChatError(.badRequest, "accept must be a boolean") }
            return .privatereply(user: try string("user", in: fields), accept: accept)
        case "activity":
            return .activity
        case "history":
            if let room = fields.value("room"), room != .null { return try roomHistory(room, in: fields) }
            return try history(in: fields)
        case "signal":
            guard let data = fields.value("data"), case .object = data else {
                throw ChatError(.badRequest, "data must be an object")
            }
            return .signal(to: try string("to", in: fields), data: data)
        case "ack":
            guard let seq = fields.value("seq")?.integerValue, seq >= 0 else {
                throw ChatError(.badRequest, "seq must be a non-negative integer")
            }
            if let room = fields.value("room"), room != .null {
                guard let name = room.stringValue else { throw ChatError(.badRequest, "room must be a string") }
                return .roomAck(room: name, seq: seq)
            }
            return .ack(seq: seq)
        case "logout":
            return .logout
        case "join", "leave", "say", "rooms", "members", "kick", "ban", "unban":
            return try roomRequest(type, in: fields)
        default:
            throw ChatError(.badRequest, "unknown request type")
        }
    }

    static func string(_ field: StaticString, in fields: JSONFields) throws(ChatError) -> String {
        guard let s = fields.value(field)?.stringValue else { throw ChatError(.badRequest, "missing or non-string field \(field)") }
        return s
    }

    private static func peer(in fields: JSONFields) throws(ChatError) -> PeerCapability {
        if let port = fields.value("p2pPort"), port != .null {
            guard let n = port.integerValue, (1...65_535).contains(n) else {
                throw ChatError(.badRequest, "p2pPort must be a port number")
            }
            return .tcp(port: Int(n))
        }
        if fields.value("webrtc")?.boolValue == true { return .webRTC }
        return .none
    }

    /// `"acks": true` asks for acknowledged delivery; absent, null or false is version 1's behaviour.
    private static func acks(in fields: JSONFields) throws(ChatError) -> Bool {
        guard let flag = fields.value("acks"), flag != .null else { return false }
        guard let on = flag.boolValue else { throw ChatError(.badRequest, "acks must be a boolean") }
        return on
    }

    private static func history(in fields: JSONFields) throws(ChatError) -> ClientRequest {
        var with: String?
        if let w = fields.value("with"), w != .null {
            guard let s = w.stringValue else { throw ChatError(.badRequest, "with must be a string") }
            with = s
        }
        let (before, limit) = try historyPaging(in: fields)
        return .history(with: with, before: before, limit: limit)
    }

    /// `before` and `limit` of a `history` request, with or without a room.
    static func historyPaging(in fields: JSONFields) throws(ChatError) -> (before: Int64?, limit: Int) {
        var before: Int64?
        if let b = fields.value("before"), b != .null {
            guard let n = b.integerValue, n > 0 else { throw ChatError(.badRequest, "before must be a message id") }
            before = n
        }
        var limit = defaultHistoryLimit
        if let l = fields.value("limit"), l != .null {
            guard let n = l.integerValue, n >= 1, n <= Int64(maxHistoryLimit) else {
                throw ChatError(.badRequest, "limit must be between 1 and \(maxHistoryLimit)")
            }
            limit = Int(n)
        }
        return (before, limit)
    }
}
