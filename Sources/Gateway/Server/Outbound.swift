/// Bytes encoded once and shared by reference in every receiver's output queue (encode once,
/// docs/ARCHITECTURE.md §6 principle 1).
///
/// A broadcast to N connections costs one `Outbound` and N queue entries that point into it; no
/// receiver copies the bytes. The object keeps the frame header and the payload in one heap allocation of
/// its own (header, payload, a newline) whose address never moves, so `writev` can be handed pointers into
/// it without pinning Swift arrays: the price is one copy per message, made here once, not per receiver, or
/// none when the encoder left room for the header in front of its buffer (`init(adopting:…)`).
///
/// `@unchecked Sendable`: the private allocation is written only in `init` and read-only afterwards;
/// every other stored property is an immutable `let`.
public final class Outbound: @unchecked Sendable {
    /// The bytes as given; for line streams this is exactly what goes on the wire. (A copy out of the shared
    /// storage: for tests and diagnostics, not the send path.)
    public var payload: [UInt8] { Array(UnsafeRawBufferPointer(rebasing: storage[headerCount..<(headerCount + payloadCount)])) }

    /// For webSocket streams: the unmasked frame header (2/4/10 bytes, RFC 6455 §5.2; server frames are never
    /// masked), written once in front of the payload, so a WebSocket connection queues header and payload
    /// without building a frame per receiver. (A copy, as `payload` is.)
    public var webSocketHeader: [UInt8] { Array(UnsafeRawBufferPointer(rebasing: storage[..<headerCount])) }

    private let headerCount: Int
    private let payloadCount: Int
    /// Header followed by payload, in storage the kernel may read from directly.
    private let storage: UnsafeMutableRawBufferPointer
    /// What `deinit` frees: the start of `storage`, or of the adopted buffer `storage` lies in.
    private let allocation: UnsafeMutableRawPointer

    /// - Parameter webSocketOpcode: how a WebSocket connection frames the message, `.text` (every chat
    ///   message) or `.binary`; line streams send the payload either way.
    public init(_ payload: [UInt8], webSocketOpcode: WebSocketOpcode = .text) {
        precondition(webSocketOpcode == .text || webSocketOpcode == .binary, "an Outbound is a data message")
        headerCount = WebSocketFrame.headerLength(payloadLength: payload.count)
        payloadCount = payload.count
        // Header, payload, then one "\n": every framing of the message is a contiguous range of one buffer. The
        // header is written in place and the payload array is not kept: one allocation besides the object.
        storage = .allocate(byteCount: headerCount + payload.count + 1, alignment: 16)
        allocation = storage.baseAddress!
        _ = WebSocketFrame.writeHeader(opcode: webSocketOpcode, payloadLength: payload.count, to: storage.baseAddress!)
        UnsafeMutableRawBufferPointer(rebasing: storage[headerCount...]).copyBytes(from: payload)
        storage[headerCount + payload.count] = UInt8(ascii: "\n")
    }

    /// Takes over a buffer that already holds the payload, `headroom` bytes in, with at least one byte after it:
    /// the header is written into the headroom and the newline after the payload, and nothing is copied. The
    /// buffer (allocated by `UnsafeMutableRawPointer.allocate`) is freed with this message.
    public init(adopting base: UnsafeMutableRawPointer, headroom: Int, payloadCount: Int,
                webSocketOpcode: WebSocketOpcode = .text) {
        precondition(webSocketOpcode == .text || webSocketOpcode == .binary, "an Outbound is a data message")
        headerCount = WebSocketFrame.headerLength(payloadLength: payloadCount)
        precondition(headroom >= headerCount, "no room for the frame header")
        self.payloadCount = payloadCount
        allocation = base
        let frame = base + (headroom - headerCount)
        storage = UnsafeMutableRawBufferPointer(start: frame, count: headerCount + payloadCount + 1)
        _ = WebSocketFrame.writeHeader(opcode: webSocketOpcode, payloadLength: payloadCount, to: frame)
        storage[headerCount + payloadCount] = UInt8(ascii: "\n")
    }

    public convenience init(_ text: String) {
        self.init(Array(text.utf8))
    }

    deinit {
        allocation.deallocate()
    }

    /// Which bytes of this message a connection queues.
    enum Part {
        /// The payload alone (text-mode line streams: the payload carries its own line ends and prompts).
        case payload
        /// The payload and a newline (JSON-lines streams: one object per line, docs/PROTOCOL.md §1.2).
        case line
        /// Header and payload together (webSocket streams): one contiguous range, one iovec.
        case webSocketFrame
    }

    /// The byte range of `part` within `bytes`.
    func range(of part: Part) -> Range<Int> {
        switch part {
        case .payload: headerCount..<(headerCount + payloadCount)
        case .line: headerCount..<(headerCount + payloadCount + 1)
        case .webSocketFrame: 0..<(headerCount + payloadCount)
        }
    }

    /// The stable address of byte `offset` of the combined header-and-payload storage.
    func address(at offset: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(storage.baseAddress!) + offset
    }
}
