/// Everything the server sends on the JSON protocol: replies (carrying `re`) and events (docs/PROTOCOL.md §4, §5).
public enum ServerEvent: Sendable, Equatable {
    /// Optional fields of an `ok` reply; only the ones set are written.
    public struct OK: Sendable, Equatable {
        public var exists: Bool?
        public var id: Int64?
        public var stored: Bool?
        public var partial: Bool?
        /// Rooms: `join` names the room, whether it was created and its owner; `say` gives the room seq.
        public var room: String?
        public var created: Bool?
        public var owner: String?
        public var seq: Int64?

        public init(exists: Bool? = nil, id: Int64? = nil, stored: Bool? = nil, partial: Bool? = nil,
                    room: String? = nil, created: Bool? = nil, owner: String? = nil, seq: Int64? = nil) {
            self.exists = exists
            self.id = id
            self.stored = stored
            self.partial = partial
            self.room = room
            self.created = created
            self.owner = owner
            self.seq = seq
        }
    }

    /// One line of a `rooms` reply.
    public struct RoomSummary: Sendable, Equatable {
        public var room: String
        public var members: Int
        public var owner: String?

        public init(room: String, members: Int, owner: String?) {
            self.room = room
            self.members = members
            self.owner = owner
        }
    }

    /// Why a member left a room, as `room_leave` says.
    public enum LeaveReason: String, Sendable, Equatable {
        case left, removed, banned
    }

    case ok(re: RequestID?, OK)
    case users(re: RequestID?, [String])
    case history(re: RequestID?, messages: [StoredMessage], next: Int64?)
    /// A page of the caller's inbox (REST): oldest first; `last` is the inbox's newest seq.
    case inbox(re: RequestID?, messages: [StoredMessage], last: Int64)
    case welcome(re: RequestID?, user: String, token: String, created: Bool)
    case error(re: RequestID?, ChatError)
    case message(StoredMessage, offline: Bool)
    case broadcast(id: Int64, from: String, text: String, at: Int64)
    case presence(user: String, online: Bool)
    case privateRequest(from: String)
    case privateAccepted(user: String, host: String, port: Int, token: String)
    case privatePending(user: String, token: String)
    case privateDeclined(user: String)
    case signal(from: String, data: JSONValue)
    case timeout
    /// The reply to `logout` (it carries `re` like any reply); the server closes after it.
    case bye(re: RequestID?)
    // Rooms (docs/PROTOCOL.md §12)
    case rooms(re: RequestID?, [RoomSummary])
    /// The reply to `members`: a `users` reply that also lists who is online now.
    case members(re: RequestID?, users: [String], online: [String])
    /// The reply to `history` with a room: newest first, `next` pages further back (by id).
    case roomHistory(re: RequestID?, room: String, messages: [RoomMessage], next: Int64?)
    /// A page of a room for a REST reader: oldest first; `last` is the room's newest seq.
    case roomPage(re: RequestID?, room: String, messages: [RoomMessage], last: Int64)
    case roomMessage(RoomMessage, offline: Bool)
    case roomJoin(room: String, user: String)
    /// `by`: set when the event tells the removed or banned member about itself.
    case roomLeave(room: String, user: String, reason: LeaveReason, by: String?)

    /// The event as one JSON object (no trailing newline; the transport frames it).
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: estimatedSize)
        write(into: &w)
        return w.finish()
    }

    /// The same bytes in a buffer the transport takes over without copying them.
    public func encodedForWire() -> WirePayload {
        var w = JSONWriter(capacity: estimatedSize)
        write(into: &w)
        return w.finishForWire()
    }

    private func write(into w: inout JSONWriter) {
        switch self {
        case .ok(let re, let ok):
            w.field("type", "ok")
            if let re { w.field("re", re) }
            if let exists = ok.exists { w.field("exists", exists) }
            if let id = ok.id { w.field("id", id) }
            if let stored = ok.stored { w.field("stored", stored) }
            if let partial = ok.partial { w.field("partial", partial) }
            if let room = ok.room { w.field("room", room) }
            if let created = ok.created { w.field("created", created) }
            if let owner = ok.owner { w.field("owner", owner) }
            if let seq = ok.seq { w.field("seq", seq) }
        case .users(let re, let users):
            w.field("type", "users")
            if let re { w.field("re", re) }
            w.field("users", users)
        case .history(let re, let messages, let next):
            w.field("type", "history")
            if let re { w.field("re", re) }
            w.field("messages", raw: Self.encodeMessages(messages))
            if let next { w.field("next", next) } else { w.fieldNull("next") }
        case .inbox(let re, let messages, let last):
            w.field("type", "inbox")
            if let re { w.field("re", re) }
            w.field("messages", raw: Self.encodeMessages(messages, withSeq: true))
            w.field("last", last)
        case .welcome(let re, let user, let token, let created):
            w.field("type", "welcome")
            if let re { w.field("re", re) }
            w.field("user", user)
            w.field("token", token)
            w.field("created", created)
        case .error(let re, let error):
            w.field("type", "error")
            if let re { w.field("re", re) }
            w.field("code", error.code.rawValue)
            w.field("message", error.message)
            if let left = error.attemptsLeft { w.field("attemptsLeft", left) }
            if let retry = error.retryAfter { w.field("retryAfter", retry) }
        case .message(let m, let offline):
            w.field("type", "message")
            w.field("id", m.id)
            w.field("seq", m.seq)
            w.field("from", m.from)
            w.field("text", m.text)
            w.field("at", m.at)
            if offline { w.field("offline", true) }
        case .broadcast(let id, let from, let text, let at):
            w.field("type", "broadcast")
            w.field("id", id)
            w.field("from", from)
            w.field("text", text)
            w.field("at", at)
        case .presence(let user, let online):
            w.field("type", "presence")
            w.field("user", user)
            w.field("state", online ? "in" : "out")
        case .privateRequest(let from):
            w.field("type", "private_request")
            w.field("from", from)
        case .privateAccepted(let user, let host, let port, let token):
            w.field("type", "private_accepted")
            w.field("user", user)
            w.field("host", host)
            w.field("port", port)
            w.field("token", token)
        case .privatePending(let user, let token):
            w.field("type", "private_pending")
            w.field("user", user)
            w.field("token", token)
        case .privateDeclined(let user):
            w.field("type", "private_declined")
            w.field("user", user)
        case .signal(let from, let data):
            w.field("type", "signal")
            w.field("from", from)
            w.field("data", data)
        case .timeout:
            w.field("type", "timeout")
        case .bye(let re):
            w.field("type", "bye")
            if let re { w.field("re", re) }
        case .rooms, .members, .roomHistory, .roomPage, .roomMessage, .roomJoin, .roomLeave:
            encodeRoomEvent(into: &w)
        }
    }

    /// Room for the whole event in one allocation: the fixed part of the largest common event, plus its texts.
    private var estimatedSize: Int {
        switch self {
        case .message(let m, _): 112 + m.from.utf8.count + m.text.utf8.count
        case .broadcast(_, let from, let text, _): 96 + from.utf8.count + text.utf8.count
        case .roomMessage(let m, _): 128 + m.room.utf8.count + m.from.utf8.count + m.text.utf8.count
        default: 128
        }
    }

    /// A JSON array of stored messages, as `history` replies and the REST API return them. History lists both
    /// directions, so it carries `to` and no seq (a seq is a place in one recipient's inbox); an inbox page
    /// carries each message's seq instead.
    public static func encodeMessages(_ messages: [StoredMessage], withSeq: Bool = false) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, m) in messages.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var w = JSONWriter()
            w.field("id", m.id)
            if withSeq { w.field("seq", m.seq) }
            w.field("from", m.from)
            if !withSeq { w.field("to", m.to) }
            w.field("text", m.text)
            w.field("at", m.at)
            out.append(contentsOf: w.finish())
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}
