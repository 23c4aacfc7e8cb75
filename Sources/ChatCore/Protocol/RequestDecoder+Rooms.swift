/// The room requests of docs/PROTOCOL.md §12. Names are taken as sent: whether a name is a valid room name is the
/// hub's decision (`invalid_room`), so a client learns it the same way on every door.
extension RequestDecoder {
    static func roomRequest(_ type: String, in fields: JSONFields) throws(ChatError) -> ClientRequest {
        if type == "rooms" { return .rooms }
        let room = try string("room", in: fields)
        switch type {
        case "join": return .join(room: room)
        case "leave": return .leave(room: room)
        case "say": return .say(room: room, text: try string("text", in: fields))
        case "members": return .members(room: room)
        case "kick": return .kick(room: room, user: try string("user", in: fields))
        case "ban": return .ban(room: room, user: try string("user", in: fields))
        case "unban": return .unban(room: room, user: try string("user", in: fields))
        default: throw ChatError(.badRequest, "unknown request type")
        }
    }

    static func roomHistory(_ room: JSONValue, in fields: JSONFields) throws(ChatError) -> ClientRequest {
        guard let name = room.stringValue else { throw ChatError(.badRequest, "room must be a string") }
        if let with = fields.value("with"), with != .null { throw ChatError(.badRequest, "history takes room or with, not both") }
        let (before, limit) = try historyPaging(in: fields)
        return .roomHistory(room: name, before: before, limit: limit)
    }
}
