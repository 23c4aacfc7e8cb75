/// How the text mode words rooms (docs/PROTOCOL.md §12): the `ok` of each room command, the `rooms` and
/// `members` lists, and the events other members' actions cause. The terminal client prints the same lines.
extension TextDialogue {
    /// The line of a room command's `ok`; nil for a command that succeeds silently (`say` that reached everyone).
    static func roomOKLine(_ ok: ServerEvent.OK, for request: ClientRequest) -> String? {
        switch request {
        case .join(let room):
            let name = ok.room ?? room
            return ok.created == true ? Texts.youCreated(name) : Texts.youJoined(name)
        case .leave(let room): return Texts.youLeft(room)
        case .say: return ok.partial == true ? Texts.someRecipientsMissed : nil
        case .kick(let room, let user): return Texts.wasRemoved(user, room)
        case .ban(let room, let user): return Texts.isBanned(user, room)
        case .unban(let room, let user): return Texts.isUnbanned(user, room)
        default: return nil
        }
    }

    /// One `#room (n members)` line per room, or the line saying there are none.
    static func roomListLines(_ rooms: [ServerEvent.RoomSummary]) -> [String] {
        rooms.isEmpty ? [Texts.inNoRooms] : rooms.map { Texts.roomCount($0.room, members: $0.members) }
    }

    /// A room event as a line. A `room_leave` with `by` is about the reader itself: it was removed or banned.
    static func roomEventLine(_ event: ServerEvent) -> String? {
        switch event {
        case .roomMessage(let m, _):
            return Texts.roomLine(room: m.room, from: m.from, text: m.text)
        case .roomJoin(let room, let user):
            return Texts.memberJoined(user, room)
        case .roomLeave(let room, _, .banned, let by?):
            return Texts.youWereBanned(room, by: by)
        case .roomLeave(let room, _, _, let by?):
            return Texts.youWereRemoved(room, by: by)
        case .roomLeave(let room, let user, _, nil):
            return Texts.memberLeft(user, room)
        default:
            return nil
        }
    }
}
