/// What the store keeps of group rooms (docs/PROTOCOL.md §12): the rooms with their owner, members and bans, each
/// room's messages numbered 1, 2, 3, … per room, and each member's acknowledged cursor in each room.
///
/// A room is a conversation many inboxes follow: its messages are stored once, in the room's own stream, and a
/// member's place in it is a cursor beside the direct inbox's (same table, one row per user and stream), so
/// nothing is copied per member however large the room.

/// One room message, as stored.
public struct RoomMessage: Sendable, Equatable, Codable {
    /// Global message id, from the same sequence as direct messages (0 in an append asks the store to number it,
    /// as a cluster's shared store does).
    public var id: Int64
    public var room: String
    /// The message's place in its room: 1, 2, 3, … gap-free. 0 in a message handed to `appendRoom`.
    public var seq: Int64
    public var from: String
    public var text: String
    /// Milliseconds since the Unix epoch.
    public var at: Int64

    public init(id: Int64, room: String, seq: Int64 = 0, from: String, text: String, at: Int64) {
        self.id = id
        self.room = room
        self.seq = seq
        self.from = from
        self.text = text
        self.at = at
    }
}

/// One member of a room and when they joined (the owner's successor is the longest-standing member).
public struct RoomMember: Sendable, Equatable, Hashable {
    public var user: String
    /// Milliseconds since the Unix epoch.
    public var joinedAt: Int64

    public init(user: String, joinedAt: Int64) {
        self.user = user
        self.joinedAt = joinedAt
    }
}

/// One room as stored.
public struct RoomRecord: Sendable, Equatable {
    public var name: String
    /// Nil while the room is empty: the next to join owns it.
    public var owner: String?
    /// Milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// The last seq given out in the room, 0 for a room without messages.
    public var lastSeq: Int64
    /// By join time, then name (what every store returns, so records compare equal).
    public var members: [RoomMember]
    public var banned: Set<String>

    public init(name: String, owner: String?, createdAt: Int64, lastSeq: Int64 = 0, members: [RoomMember] = [],
                banned: Set<String> = []) {
        self.name = name
        self.owner = owner
        self.createdAt = createdAt
        self.lastSeq = lastSeq
        self.members = members
        self.banned = banned
    }
}

/// A read of one room's messages.
public struct RoomLogQuery: Sendable, Equatable {
    public enum Range: Sendable, Equatable {
        /// The messages with `seq > after`, oldest first: the first `limit` of them (a reader paging forward).
        case after(Int64)
        /// The messages with `seq > after`, oldest first, but only the newest `limit` of them (what a member
        /// who was away is shown at login; older ones are left to history).
        case latestAfter(Int64)
        /// The messages with `id < before` (nil: the newest), newest first (history paging, by message id as
        /// for direct messages).
        case before(Int64?)
    }

    /// The largest page a store returns, whatever `limit` asks for.
    public static let maxLimit = 1000

    public var room: String
    public var range: Range
    public var limit: Int

    public init(room: String, _ range: Range, limit: Int) {
        self.room = room
        self.range = range
        self.limit = limit
    }

    /// `limit` within 0…maxLimit.
    public var effectiveLimit: Int { max(0, min(limit, Self.maxLimit)) }
}
