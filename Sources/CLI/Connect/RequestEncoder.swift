import ChatCore

/// Writes a `ClientRequest` as the one-line JSON object of docs/PROTOCOL.md §4, with the client's request id.
/// The server's `RequestDecoder` reads exactly these fields; the end-to-end tests run the two against each other.
/// The terminal client logs in with `acks` (it acks what it shows); a version-1 server ignores the field like any
/// it does not know.
enum RequestEncoder {
    static func encode(_ request: ClientRequest, id: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.field("type", request.typeName)
        w.field("id", id)
        switch request {
        case .lookup(let user):
            w.field("user", user)
        case .login(let user, let credential, let peer, let acks):
            w.field("user", user)
            switch credential {
            case .password(let password): w.field("password", password)
            case .token(let token): w.field("token", token)
            }
            encode(peer, into: &w)
            if acks { w.field("acks", true) }
        case .register(let user, let password, let peer, let acks):
            w.field("user", user)
            w.field("password", password)
            encode(peer, into: &w)
            if acks { w.field("acks", true) }
        case .message(let to, let text):
            w.field("to", to)
            w.field("text", text)
        case .broadcast(let text):
            w.field("text", text)
        case .whoelse, .activity, .logout:
            break
        case .whoelsesince(let seconds):
            w.field("seconds", seconds)
        case .block(let user), .unblock(let user), .startprivate(let user):
            w.field("user", user)
        case .privatereply(let user, let accept):
            w.field("user", user)
            w.field("accept", accept)
        case .history(let with, let before, let limit):
            if let with { w.field("with", with) }
            if let before { w.field("before", before) }
            w.field("limit", limit)
        case .signal(let to, let data):
            w.field("to", to)
            w.field("data", data)
        case .ack(let seq):
            w.field("seq", seq)
        case .inbox, .roomRead:
            break  // REST only: never sent on a socket
        case .rooms:
            break
        case .join(let room), .leave(let room), .members(let room):
            w.field("room", room)
        case .say(let room, let text):
            w.field("room", room)
            w.field("text", text)
        case .kick(let room, let user), .ban(let room, let user), .unban(let room, let user):
            w.field("room", room)
            w.field("user", user)
        case .roomAck(let room, let seq):
            w.field("room", room)
            w.field("seq", seq)
        case .roomHistory(let room, let before, let limit):
            w.field("room", room)
            if let before { w.field("before", before) }
            w.field("limit", limit)
        }
        return w.finish()
    }

    /// `{"type":"ack","seq":N}`, without an id: the client needs no answer.
    static func encodeAck(upTo seq: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.field("type", "ack")
        w.field("seq", seq)
        return w.finish()
    }

    /// `{"type":"ack","room":R,"seq":N}`, without an id: a room's cursor, as for the inbox.
    static func encodeRoomAck(_ room: String, upTo seq: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.field("type", "ack")
        w.field("room", room)
        w.field("seq", seq)
        return w.finish()
    }

    private static func encode(_ peer: PeerCapability, into w: inout JSONWriter) {
        switch peer {
        case .none: break
        case .tcp(let port): w.field("p2pPort", port)
        case .webRTC: w.field("webrtc", true)
        }
    }
}
