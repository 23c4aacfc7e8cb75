/// Where each member stands in each room (the seq they acknowledged, or were handed without acks), and which of
/// those positions the store has not been given yet.
///
/// A busy room moves every member's cursor between two flushes: a thousand members, a thousand moves every
/// `ChatService.roomCursorFlushInterval`. So a move costs one lookup of the user and one of the room, and marks
/// the position unsaved by appending to a list, not by building a second map per user that each flush throws away.
/// A position remembers what the store has (`saved`): a flush writes each unsaved position once, at its latest seq,
/// and a position already written with its user's session end is skipped.
///
/// Confined to the hub's lock, like the rest of `RoomDirectory`.
struct RoomCursors {
    private struct Position {
        var seq: Int64
        /// The highest seq the store has (read from it, or handed to it in a write).
        var saved: Int64
        var isUnsaved: Bool { seq > saved }

        static let start = Position(seq: 0, saved: 0)

        mutating func merge(stored seq: Int64) {
            self.seq = max(self.seq, seq)
            saved = max(saved, seq)
        }

        /// The seq to write, if the store lacks it; from here on the store is taken to have it.
        mutating func save() -> Int64? {
            guard isUnsaved else { return nil }
            saved = seq
            return seq
        }
    }

    /// User → room → position.
    private var positions: [String: [String: Position]]
    /// Positions that went past what the store has, each listed when it did: once until a write, and again if it
    /// moves after its session's end wrote it (the flush skips a listing the store already has).
    private var unsaved: [(user: String, room: String)] = []

    init(stored: [String: [String: Int64]]) {
        positions = stored.mapValues { $0.mapValues { Position(seq: $0, saved: $0) } }
    }

    func seq(of user: String, in room: String) -> Int64 {
        positions[user]?[room]?.seq ?? 0
    }

    var hasUnsaved: Bool { !unsaved.isEmpty }

    /// Moves the cursor forward (never back); true if it moved.
    @discardableResult
    mutating func advance(_ user: String, in room: String, to seq: Int64) -> Bool {
        Self.move(&positions[user, default: [:]][room, default: .start], to: seq, listing: (user, room), in: &unsaved)
    }

    /// Moves `user`'s cursor in each of `rooms` up to its seq (a live session without acks has been handed all of
    /// them): the user's positions are looked up once for all.
    mutating func advance(_ user: String, toEach rooms: some Sequence<(room: String, seq: Int64)>) {
        Self.move(&positions[user, default: [:]], of: user, toEach: rooms, in: &unsaved)
    }

    private static func move(_ mine: inout [String: Position], of user: String,
                             toEach rooms: some Sequence<(room: String, seq: Int64)>,
                             in unsaved: inout [(user: String, room: String)]) {
        for (room, seq) in rooms { move(&mine[room, default: .start], to: seq, listing: (user, room), in: &unsaved) }
    }

    /// The one way a position moves: forward only, listed as unsaved when it first goes past what the store has.
    @discardableResult
    private static func move(_ position: inout Position, to seq: Int64, listing key: (user: String, room: String),
                             in unsaved: inout [(user: String, room: String)]) -> Bool {
        guard seq > position.seq else { return false }
        if !position.isUnsaved { unsaved.append(key) }
        position.seq = seq
        return true
    }

    /// A cursor read from the store (a cluster node at login): the further of the two is kept, and nothing is
    /// written back.
    mutating func merge(_ user: String, in room: String, stored seq: Int64) {
        positions[user, default: [:]][room, default: .start].merge(stored: seq)
    }

    /// The user's unsaved moves (written with the end of their session), taken out of the next flush.
    mutating func takeWrites(of user: String) -> [StoreWrite] {
        let rooms = positions[user]?.filter(\.value.isUnsaved).keys.sorted() ?? []
        return rooms.compactMap { room in
            positions[user]?[room]?.save().map { .advanceRoomCursor(user: user, room: room, to: $0) }
        }
    }

    /// Every unsaved move since the last call, as store writes, in the order the positions first moved.
    mutating func takeWrites() -> [StoreWrite] {
        var writes: [StoreWrite] = []
        writes.reserveCapacity(unsaved.count)
        for (user, room) in unsaved {
            // Listed more than once, or written with the session's end since: the store has it.
            guard let seq = positions[user]?[room]?.save() else { continue }
            writes.append(.advanceRoomCursor(user: user, room: room, to: seq))
        }
        unsaved.removeAll(keepingCapacity: true)
        return writes
    }
}
