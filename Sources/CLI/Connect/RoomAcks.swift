/// Which room messages the screen has shown, room by room, so one delivered twice (a replay at login racing a
/// live one, or one sent again because its ack never reached the server) is printed once. Each room numbers
/// its messages on its own (`seq`, docs/PROTOCOL.md §12), so each room has its own `ShownMessages`.
struct ShownRoomMessages {
    private var rooms: [String: ShownMessages] = [:]

    /// True the first time `seq` of `room` is offered. A message without a seq (no server sends one) is shown.
    mutating func firstShowing(room: String, seq: Int64?) -> Bool {
        guard let seq else { return true }
        return rooms[room, default: ShownMessages()].firstShowing(seq: seq, id: nil)
    }

    /// The highest seq shown in each room that has shown one.
    var highestSeqs: [String: Int64] { rooms.compactMapValues(\.highestSeq) }

    /// The user is no longer in `room` (left, removed or banned): nothing of it is to be acknowledged any more,
    /// and a later join starts at the room's present, above anything remembered here.
    mutating func forget(_ room: String) {
        rooms[room] = nil
    }
}

/// When to acknowledge each room's cursor: the inbox's rule (`AckSchedule`: at most one ack per 100 ms, a
/// trailing one for what was held back) applied room by room, so a busy room does not hold another's ack back.
/// Pure: the caller passes what was shown and the time, and sends the acks.
struct RoomAckSchedule {
    private var schedules: [String: AckSchedule] = [:]

    /// The earliest held-back ack of any room; nil when none waits.
    var deadline: ContinuousClock.Instant? { schedules.values.compactMap(\.deadline).min() }

    /// After a batch of input, or at `deadline`: the acks to send now, in room order.
    mutating func due(highestShown: [String: Int64], now: ContinuousClock.Instant) -> [(room: String, seq: Int64)] {
        next(highestShown) { $0.due(highestShown: $1, now: now) }
    }

    /// Before logging out: every room's unacknowledged part, spacing or not.
    mutating func final(highestShown: [String: Int64], now: ContinuousClock.Instant) -> [(room: String, seq: Int64)] {
        next(highestShown) { $0.final(highestShown: $1, now: now) }
    }

    private mutating func next(_ highestShown: [String: Int64],
                               _ step: (inout AckSchedule, Int64) -> Int64?) -> [(room: String, seq: Int64)] {
        // A room no longer shown was left: the server would refuse its ack (`not_member`).
        for room in schedules.keys where highestShown[room] == nil { schedules[room] = nil }
        var acks: [(room: String, seq: Int64)] = []
        for (room, highest) in highestShown.sorted(by: { $0.key < $1.key }) {
            if let seq = step(&schedules[room, default: AckSchedule()], highest) { acks.append((room, seq)) }
        }
        return acks
    }
}
