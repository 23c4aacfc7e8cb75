/// Identifies one connection for its whole life: the owning loop's index in the top 8 bits (so any thread can
/// tell which loop owns a connection without a lookup), the connection's slot in that loop's table in the next 24
/// (so the loop finds it by indexing an array, not by hashing), and a per-loop sequence number in the low 32. A
/// slot is reused once its connection is gone, so an id of the past finds nothing unless the slot now holds a
/// connection whose sequence matches in all 32 bits: 2^32 accepted connections on that loop later.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(loop: Int, slot: Int, sequence: UInt64) {
        precondition(loop >= 0 && loop < 256, "at most 256 event loops")
        precondition(slot >= 0 && slot < 1 << 24, "at most 2^24 connections per loop")
        rawValue = UInt64(loop) << 56 | UInt64(slot) << 32 | (sequence & 0xFFFF_FFFF)
    }

    /// Index of the event loop that owns this connection.
    public var loop: Int { Int(rawValue >> 56) }

    /// The connection's slot in its loop's table.
    var slot: Int { Int((rawValue >> 32) & 0xFF_FFFF) }

    public var description: String { "conn#\(loop).\(rawValue & 0xFFFF_FFFF)" }
}
