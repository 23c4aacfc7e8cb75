/// The JSON of the room replies and events (docs/PROTOCOL.md §12).
extension ServerEvent {
    func encodeRoomEvent(into w: inout JSONWriter) {
        switch self {
        case .rooms(let re, let rooms):
            w.field("type", "rooms")
            if let re { w.field("re", re) }
            w.field("rooms", raw: Self.encodeRoomSummaries(rooms))
        case .members(let re, let users, let online):
            w.field("type", "users")
            if let re { w.field("re", re) }
            w.field("users", users)
            w.field("online", online)
        case .roomHistory(let re, let room, let messages, let next):
            w.field("type", "history")
            if let re { w.field("re", re) }
            w.field("room", room)
            w.field("messages", raw: Self.encodeRoomMessages(messages))
            if let next { w.field("next", next) } else { w.fieldNull("next") }
        case .roomPage(let re, let room, let messages, let last):
            w.field("type", "room_messages")
            if let re { w.field("re", re) }
            w.field("room", room)
            w.field("messages", raw: Self.encodeRoomMessages(messages))
            w.field("last", last)
        case .roomMessage(let m, let offline):
            w.field("type", "room_message")
            w.field("room", m.room)
            w.field("id", m.id)
            w.field("seq", m.seq)
            w.field("from", m.from)
            w.field("text", m.text)
            w.field("at", m.at)
            if offline { w.field("offline", true) }
        case .roomJoin(let room, let user):
            w.field("type", "room_join")
            w.field("room", room)
            w.field("user", user)
        case .roomLeave(let room, let user, let reason, let by):
            w.field("type", "room_leave")
            w.field("room", room)
            w.field("user", user)
            w.field("reason", reason.rawValue)
            if let by { w.field("by", by) }
        default:
            break
        }
    }

    /// A JSON array of `{"room","members","owner"}`, as the `rooms` reply and `GET /api/rooms` list them (owner
    /// null only for an empty room, which nobody lists, but the shape keeps the field).
    public static func encodeRoomSummaries(_ rooms: [RoomSummary]) -> [UInt8] {
        var list: [UInt8] = [UInt8(ascii: "[")]
        for (i, room) in rooms.enumerated() {
            if i > 0 { list.append(UInt8(ascii: ",")) }
            var item = JSONWriter()
            item.field("room", room.room)
            item.field("members", room.members)
            if let owner = room.owner { item.field("owner", owner) } else { item.fieldNull("owner") }
            list.append(contentsOf: item.finish())
        }
        list.append(UInt8(ascii: "]"))
        return list
    }

    /// A JSON array of room messages (history pages and REST reads): each with its room seq.
    public static func encodeRoomMessages(_ messages: [RoomMessage]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (i, m) in messages.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var w = JSONWriter()
            w.field("id", m.id)
            w.field("seq", m.seq)
            w.field("from", m.from)
            w.field("text", m.text)
            w.field("at", m.at)
            out.append(contentsOf: w.finish())
        }
        out.append(UInt8(ascii: "]"))
        return out
    }
}
