/// What one node of a cluster tells the others (docs/SCALING.md). Every node keeps a replica of what the hub
/// reads while deciding (who is online where, accounts and tokens, blocks, lockout counts, login history), so
/// the hub's lookups stay synchronous; notices keep the replicas in step and carry what must reach a user on
/// another node.
///
/// A notice may be lost (the bus is soft state): the store stays the truth for everything durable, and a node
/// whose bus link comes back re-reads what it may have missed (ChatService+Cluster.swift).
public enum ClusterNotice: Sendable, Equatable {
    // MARK: To every node

    /// `user` went online on `node`, with the P2P capability of that session.
    case online(user: String, node: String, peer: PeerCapability, at: Int64)
    /// `user` left `node` (logout, timeout, drop, or the node died) at `at`: login history and an `out` line.
    case offline(user: String, node: String, at: Int64)
    /// A broadcast decided on another node; every node fans it out to its own sessions, block-filtered.
    case broadcast(id: Int64, from: String, text: String, at: Int64)
    case account(name: String, passwordHash: String)
    case token(TokenRecord)
    case revoked(digest: String)
    case block(blocker: String, blocked: String, isBlocked: Bool)
    /// A wrong password for `user` somewhere: it counts toward the lockout on every node.
    case loginFailed(user: String, at: Int64)
    /// A right password: the consecutive-failure count starts again everywhere.
    case loginSucceeded(user: String)
    /// `node` has REST readers long-polling `user`'s inbox (or no longer has), so it hears of new messages.
    case waiting(user: String, node: String, isWaiting: Bool)
    /// `node` is alive and has these users online (sent every few seconds; a node not heard from is dead).
    case heartbeat(node: String, users: [String])
    /// A room changed (docs/PROTOCOL.md §12): every node applies the change to its replica and tells its own
    /// online members.
    case roomChanged(RoomNotice)
    /// A committed room message; every node delivers it to its own online members, block-filtered.
    case roomMessage(RoomMessage)

    // MARK: To the node holding a user

    /// A committed direct message for a user online (or long-polled) on the receiving node.
    case committed(StoredMessage)
    /// `asker` asks `target`, who is on the receiving node, for a private chat (until `expiresAt`).
    case privateRequest(asker: String, target: String, expiresAt: Int64)
    /// `target` answered `asker`'s request; for an acceptance, where the asker connects and with which token.
    case privateAnswer(asker: String, target: String, accepted: Bool, host: String, port: Int, token: String)
    /// A WebRTC `signal` between an accepted pair, for `to` on the receiving node.
    case signal(from: String, to: String, data: JSONValue)
}

/// What happened to a room, as a `roomChanged` notice says.
public enum RoomChangeKind: String, Sendable, Equatable {
    case joined, left, removed, banned, unbanned
}

/// One change to a room, as the node that made it tells the others: enough to apply it to a replica without
/// reading the store (a room is created by its first `joined`, with `created` set).
public struct RoomNotice: Sendable, Equatable {
    public var room: String
    /// Who joined, left, or was removed, banned or unbanned.
    public var user: String
    public var change: RoomChangeKind
    /// Who did it: the owner for moderation, the member themself otherwise.
    public var by: String
    /// The room's owner after the change (nil: the room is empty and ownerless).
    public var owner: String?
    /// When: a join's time is the member's join time (the owner's succession goes by it).
    public var at: Int64
    /// The join created the room.
    public var created: Bool

    public init(room: String, user: String, change: RoomChangeKind, by: String, owner: String?, at: Int64, created: Bool = false) {
        self.room = room
        self.user = user
        self.change = change
        self.by = by
        self.owner = owner
        self.at = at
        self.created = created
    }

    /// Whether a replica whose owner is `current` takes this notice's owner. Only two changes move ownership: a
    /// join into an empty room (the joiner owns it, whoever owned it before has left) and the owner's leave (the
    /// successor owns it). Notices from different nodes can arrive in another order than they were stored in,
    /// and the owner a late notice carries is the one of its moment: a join stored before the owner left must not
    /// hand the room back, nor the leave of an owner before a join that made someone else owner.
    func movesOwnership(from current: String?) -> Bool {
        switch change {
        case .joined: owner == user
        case .left: current == user || current == nil
        case .removed, .banned, .unbanned: current == nil
        }
    }
}

extension ClusterNotice {
    /// The wire form: one JSON object, `"t"` naming the case.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: 96)
        switch self {
        case .online(let user, let node, let peer, let at):
            w.field("t", "online"); w.field("user", user); w.field("node", node); w.field("at", at)
            switch peer {
            case .none: break
            case .tcp(let port): w.field("tcp", port)
            case .webRTC: w.field("webrtc", true)
            }
        case .offline(let user, let node, let at):
            w.field("t", "offline"); w.field("user", user); w.field("node", node); w.field("at", at)
        case .broadcast(let id, let from, let text, let at):
            w.field("t", "broadcast"); w.field("id", id); w.field("from", from); w.field("text", text); w.field("at", at)
        case .account(let name, let hash):
            w.field("t", "account"); w.field("user", name); w.field("hash", hash)
        case .token(let record):
            w.field("t", "token"); w.field("digest", record.digest); w.field("user", record.user)
            w.field("expires", record.expiresAt)
        case .revoked(let digest):
            w.field("t", "revoked"); w.field("digest", digest)
        case .block(let blocker, let blocked, let isBlocked):
            w.field("t", "block"); w.field("user", blocker); w.field("other", blocked); w.field("on", isBlocked)
        case .loginFailed(let user, let at):
            w.field("t", "login_failed"); w.field("user", user); w.field("at", at)
        case .loginSucceeded(let user):
            w.field("t", "login_ok"); w.field("user", user)
        case .waiting(let user, let node, let isWaiting):
            w.field("t", "waiting"); w.field("user", user); w.field("node", node); w.field("on", isWaiting)
        case .heartbeat(let node, let users):
            w.field("t", "heartbeat"); w.field("node", node); w.field("users", users)
        case .roomChanged(let n):
            w.field("t", "room_changed"); w.field("room", n.room); w.field("user", n.user)
            w.field("change", n.change.rawValue); w.field("by", n.by); w.field("at", n.at)
            if let owner = n.owner { w.field("owner", owner) }
            if n.created { w.field("created", true) }
        case .roomMessage(let m):
            w.field("t", "room_message"); w.field("room", m.room); w.field("id", m.id); w.field("seq", m.seq)
            w.field("from", m.from); w.field("text", m.text); w.field("at", m.at)
        case .committed(let m):
            w.field("t", "committed"); w.field("id", m.id); w.field("seq", m.seq); w.field("from", m.from)
            w.field("to", m.to); w.field("text", m.text); w.field("at", m.at)
        case .privateRequest(let asker, let target, let expiresAt):
            w.field("t", "private_request"); w.field("asker", asker); w.field("target", target)
            w.field("expires", expiresAt)
        case .privateAnswer(let asker, let target, let accepted, let host, let port, let token):
            w.field("t", "private_answer"); w.field("asker", asker); w.field("target", target)
            w.field("accepted", accepted); w.field("host", host); w.field("port", port); w.field("token", token)
        case .signal(let from, let to, let data):
            w.field("t", "signal"); w.field("from", from); w.field("to", to); w.field("data", data)
        }
        return w.finish()
    }

    /// Reads a notice from its wire form; nil for anything malformed or unknown (a newer node's notice is
    /// ignored, not fatal).
    public static func decode<Bytes: Collection>(_ bytes: Bytes) -> ClusterNotice? where Bytes.Element == UInt8 {
        guard let value = try? JSONParser.parse(bytes), let kind = value["t"]?.stringValue else { return nil }
        let fields = Fields(value)
        switch kind {
        case "online":
            let peer: PeerCapability = fields.int("tcp").map { .tcp(port: Int($0)) }
                ?? (value["webrtc"]?.boolValue == true ? .webRTC : .none)
            guard let user = fields.string("user"), let node = fields.string("node"), let at = fields.int("at")
            else { return nil }
            return .online(user: user, node: node, peer: peer, at: at)
        case "offline":
            guard let user = fields.string("user"), let node = fields.string("node"), let at = fields.int("at")
            else { return nil }
            return .offline(user: user, node: node, at: at)
        case "broadcast":
            guard let id = fields.int("id"), let from = fields.string("from"), let text = fields.string("text"),
                  let at = fields.int("at") else { return nil }
            return .broadcast(id: id, from: from, text: text, at: at)
        case "account":
            guard let user = fields.string("user"), let hash = fields.string("hash") else { return nil }
            return .account(name: user, passwordHash: hash)
        case "token":
            guard let digest = fields.string("digest"), let user = fields.string("user"),
                  let expires = fields.int("expires") else { return nil }
            return .token(TokenRecord(digest: digest, user: user, expiresAt: expires))
        case "revoked":
            return fields.string("digest").map { .revoked(digest: $0) }
        case "block":
            guard let user = fields.string("user"), let other = fields.string("other"), let on = fields.bool("on")
            else { return nil }
            return .block(blocker: user, blocked: other, isBlocked: on)
        case "login_failed":
            guard let user = fields.string("user"), let at = fields.int("at") else { return nil }
            return .loginFailed(user: user, at: at)
        case "login_ok":
            return fields.string("user").map { .loginSucceeded(user: $0) }
        case "waiting":
            guard let user = fields.string("user"), let node = fields.string("node"), let on = fields.bool("on")
            else { return nil }
            return .waiting(user: user, node: node, isWaiting: on)
        case "heartbeat":
            guard let node = fields.string("node"), case .array(let items)? = value["users"] else { return nil }
            return .heartbeat(node: node, users: items.compactMap(\.stringValue))
        case "committed":
            guard let id = fields.int("id"), let seq = fields.int("seq"), let from = fields.string("from"),
                  let to = fields.string("to"), let text = fields.string("text"), let at = fields.int("at")
            else { return nil }
            return .committed(StoredMessage(id: id, seq: seq, from: from, to: to, text: text, at: at))
        case "room_changed":
            guard let room = fields.string("room"), let user = fields.string("user"), let by = fields.string("by"),
                  let change = fields.string("change").flatMap(RoomChangeKind.init(rawValue:)), let at = fields.int("at")
            else { return nil }
            return .roomChanged(RoomNotice(room: room, user: user, change: change, by: by, owner: fields.string("owner"),
                                           at: at, created: fields.bool("created") ?? false))
        case "room_message":
            guard let room = fields.string("room"), let id = fields.int("id"), let seq = fields.int("seq"),
                  let from = fields.string("from"), let text = fields.string("text"), let at = fields.int("at")
            else { return nil }
            return .roomMessage(RoomMessage(id: id, room: room, seq: seq, from: from, text: text, at: at))
        case "private_request":
            guard let asker = fields.string("asker"), let target = fields.string("target"),
                  let expires = fields.int("expires") else { return nil }
            return .privateRequest(asker: asker, target: target, expiresAt: expires)
        case "private_answer":
            guard let asker = fields.string("asker"), let target = fields.string("target"),
                  let accepted = fields.bool("accepted"), let host = fields.string("host"),
                  let port = fields.int("port"), let token = fields.string("token") else { return nil }
            return .privateAnswer(asker: asker, target: target, accepted: accepted, host: host, port: Int(port),
                                  token: token)
        case "signal":
            guard let from = fields.string("from"), let to = fields.string("to"), let data = value["data"]
            else { return nil }
            return .signal(from: from, to: to, data: data)
        default:
            return nil
        }
    }

    /// Typed field access on a parsed notice.
    private struct Fields {
        let value: JSONValue
        init(_ value: JSONValue) { self.value = value }
        func string(_ key: String) -> String? { value[key]?.stringValue }
        func int(_ key: String) -> Int64? { value[key]?.integerValue }
        func bool(_ key: String) -> Bool? { value[key]?.boolValue }
    }
}
