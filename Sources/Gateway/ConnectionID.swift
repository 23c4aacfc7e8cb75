/// Identifies one connection for its whole life. Never reused while the process runs: the owning
/// loop's index sits in the top 8 bits, a per-loop sequence number in the rest, so any thread can
/// tell which loop owns a connection without a lookup.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(loop: Int, sequence: UInt64) {
        precondition(loop >= 0 && loop < 256, "at most 256 event loops")
        rawValue = UInt64(loop) << 56 | (sequence & 0x00FF_FFFF_FFFF_FFFF)
    }

    /// Index of the event loop that owns this connection.
    public var loop: Int { Int(rawValue >> 56) }

    public var description: String { "conn#\(loop).\(rawValue & 0x00FF_FFFF_FFFF_FFFF)" }
}
