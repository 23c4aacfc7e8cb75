/// An encoded event in a buffer the transport can take over as it stands: the payload has `headroom` free bytes
/// in front of it (room for the largest WebSocket frame header) and one free byte after it (for a line end).
///
/// A direct message costs two events (the recipient's copy and the sender's `ok`). Built as an `Array` and handed
/// to the gateway, each one was allocated and copied three times: the writer's buffer, the array, and the
/// gateway's framed copy. Here the writer's buffer is the one that goes out: the transport writes its frame
/// header into the headroom and owns the buffer from then on.
public struct WirePayload: ~Copyable {
    /// Free bytes before the payload: a WebSocket header is at most 10 bytes (RFC 6455 §5.2).
    public static let headroom = 10
    /// Free bytes after the payload: a JSON-lines stream's "\n".
    public static let tailroom = 1

    /// The start of the allocation; the payload begins `headroom` bytes in.
    private let base: UnsafeMutableRawPointer
    public let count: Int

    /// Takes over `base` (allocated with `UnsafeMutableRawPointer.allocate`, holding `headroom + count +
    /// tailroom` bytes, the payload after the headroom).
    init(adopting base: UnsafeMutableRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    deinit { base.deallocate() }

    /// The payload's bytes, copied (tests, and outputs that keep arrays).
    public var bytes: [UInt8] {
        Array(UnsafeRawBufferPointer(start: base + Self.headroom, count: count))
    }

    /// Hands the allocation over: from here on the caller owns `base` and must deallocate it.
    public consuming func release() -> (base: UnsafeMutableRawPointer, count: Int) {
        let taken = (base, count)
        discard self
        return taken
    }
}
