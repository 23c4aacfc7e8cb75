/// Incremental parser for WebSocket frames (RFC 6455 §5), shaped like SwiftNIO's: a value with an
/// explicit state, fed any number of bytes at a time, returning one frame at a time. The gateway reads
/// its clients' frames with it (masked, §5.1); `parley bench`, a client, reads the server's (unmasked).
///
/// Every §5 rule that can be decided from a header is decided at the byte that settles it, before
/// any payload arrives: RSV bits, opcode and sequencing at byte 1, the MASK bit at byte 2, the
/// 64-bit length's top bit at byte 3, control-frame and message sizes at the end of the length.
/// Non-minimal length forms (§5.2 asks senders for the minimal one) are accepted.
/// The same input therefore gives the same result however it is split into reads. Memory grows
/// only with bytes that actually arrived: a declared 2^63-byte frame fails on its third byte,
/// and an allowed large frame is buffered as its bytes come in, never pre-allocated.
///
/// It also tracks the §5.4 fragmentation sequence (continuations only inside a fragmented message,
/// no new data frame before it ends) and the per-message size limit across fragments.
///
/// Loop-confined: owned by one `WebSocketSession` (or one bench client). Not Sendable by intent (it is a
/// plain value).
public struct WebSocketFrameParser {
    /// Whose frames are read: the MASK bit must be set on every client frame and on no server frame (§5.1).
    public enum Sender: Sendable {
        case client
        case server
    }

    public enum Result: Sendable, Equatable {
        /// All input was used and no frame is complete yet.
        case needMoreData
        /// One complete frame; call `parse` again for the rest of the input.
        case frame(WebSocketFrame)
        /// The input breaks RFC 6455; the parser stays failed.
        case failed(WebSocketProtocolError)
    }

    private enum State {
        case header
        case payload
        case failed(WebSocketProtocolError)
    }

    /// Largest message (sum of a fragmented message's payloads) accepted; inclusive. May change between
    /// calls (a connection's limit is raised after login); a message already larger than a lowered limit fails
    /// at its next frame.
    public var maxMessageBytes: Int

    /// 4 for masked (client) frames, 0 for server frames: the bytes of masking key ending each header.
    private let maskKeyLength: Int
    private var state = State.header
    private var header: [UInt8] = []        // at most 14 bytes of the frame header in progress
    private var headerLength = 2            // full header size, known once byte 2 arrives
    private var fin = false
    private var opcode = WebSocketOpcode.continuation
    private var remaining = 0               // payload bytes still to come
    private var maskKey: UInt32 = 0
    private var payload: [UInt8] = []       // unmasked payload received so far
    private var messageOpen = false         // a fragmented text/binary message awaits continuations
    private var messageBytes = 0            // bytes of the open message, including the current frame

    /// Creates a parser of `sender`'s frames (a client's, by default) enforcing `maxMessageBytes` (65,536 by
    /// default: 64 KiB is allowed).
    public init(maxMessageBytes: Int = 65_536, reading sender: Sender = .client) {
        self.maxMessageBytes = maxMessageBytes
        maskKeyLength = sender == .client ? 4 : 0
        header.reserveCapacity(14)
    }

    /// The opcode of the frame whose payload is arriving, if the parser is inside a payload.
    public var pendingOpcode: WebSocketOpcode? {
        if case .payload = state { return opcode }
        return nil
    }

    /// The unmasked payload bytes of the frame in progress received so far (used to validate
    /// UTF-8 before the frame completes).
    public var pendingPayload: [UInt8] { payload }

    /// Consumes bytes of `input` from `index` (advanced past what was used) until one frame
    /// completes, the input runs out, or a rule is broken.
    public mutating func parse(_ input: UnsafeRawBufferPointer, index: inout Int) -> Result {
        while true {
            switch state {
            case .failed(let error):
                return .failed(error)
            case .header:
                guard index < input.count else { return .needMoreData }
                header.append(input[index])
                index += 1
                if let error = checkHeader() { return fail(error) }
                if header.count == headerLength {
                    acceptHeader()
                    if remaining == 0 { return .frame(completeFrame()) }
                }
            case .payload:
                guard index < input.count else { return .needMoreData }
                let count = min(remaining, input.count - index)
                appendUnmasked(UnsafeRawBufferPointer(rebasing: input[index..<index + count]))
                index += count
                remaining -= count
                if remaining == 0 { return .frame(completeFrame()) }
            }
        }
    }

    /// Parses a whole buffer: every complete frame, then the failure if one occurred.
    public mutating func parse(_ bytes: [UInt8]) -> [Result] {
        bytes.withUnsafeBytes { buffer in
            var index = 0
            var results: [Result] = []
            while true {
                let result = parse(buffer, index: &index)
                switch result {
                case .needMoreData: return results
                case .frame: results.append(result)
                case .failed: results.append(result); return results
                }
            }
        }
    }

    private mutating func fail(_ error: WebSocketProtocolError) -> Result {
        state = .failed(error)
        return .failed(error)
    }

    /// Runs the checks that the newest header byte settles.
    private mutating func checkHeader() -> WebSocketProtocolError? {
        switch header.count {
        case 1:
            let byte = header[0]
            // §5.2: RSV1–3 MUST be 0 unless an extension says otherwise (none is negotiated).
            if byte & 0x70 != 0 { return .reservedBitsSet }
            // §5.2: reserved opcodes MUST fail the connection.
            guard let code = WebSocketOpcode(rawValue: byte & 0x0F) else { return .reservedOpcode(byte & 0x0F) }
            fin = byte & 0x80 != 0
            opcode = code
            if code.isControl {
                // §5.5: control frames MUST NOT be fragmented.
                if !fin { return .fragmentedControlFrame }
            } else if code == .continuation {
                // §5.4: a continuation belongs to an open fragmented message.
                if !messageOpen { return .unexpectedContinuation }
            } else if messageOpen {
                // §5.4: fragments of one message may only be interleaved with control frames.
                return .expectedContinuation
            }
        case 2:
            let byte = header[1]
            // §5.1: a server MUST close on an unmasked client frame, a client on a masked server frame.
            let masked = byte & 0x80 != 0
            if maskKeyLength > 0 && !masked { return .unmaskedFrame }
            if maskKeyLength == 0 && masked { return .maskedFrame }
            let length7 = Int(byte & 0x7F)
            headerLength = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + maskKeyLength
            remaining = length7
        case 3 where headerLength - maskKeyLength == 10:
            // §5.2: the most significant bit of the 64-bit length MUST be 0.
            if header[2] & 0x80 != 0 { return .invalidPayloadLength }
        default:
            break
        }
        let lengthEnd = headerLength - maskKeyLength
        if header.count == lengthEnd && lengthEnd > 2 {
            // §5.2: the 16- or 64-bit length is big-endian; a non-minimal form is allowed.
            var length: UInt64 = 0
            for byte in header[2..<header.count] { length = length << 8 | UInt64(byte) }
            // Compare before converting: the value may not fit the per-message budget or an Int.
            // §5.5: control payloads are at most 125 bytes, whatever length form says so.
            if opcode.isControl && length > UInt64(WebSocketFrame.maxControlPayload) { return .controlFrameTooLong }
            let budget = UInt64(max(0, maxMessageBytes - (opcode == .continuation ? messageBytes : 0)))
            if !opcode.isControl && length > budget { return .messageTooBig }
            remaining = Int(length)
        } else if header.count == 2 && lengthEnd == 2 && !opcode.isControl {
            let budget = maxMessageBytes - (opcode == .continuation ? messageBytes : 0)
            if remaining > budget { return .messageTooBig }
        }
        return nil
    }

    private mutating func acceptHeader() {
        maskKey = header[headerLength - maskKeyLength..<headerLength].reduce(0) { $0 << 8 | UInt32($1) }
        if !opcode.isControl {
            messageBytes = (opcode == .continuation ? messageBytes : 0) + remaining
            messageOpen = !fin
        }
        state = .payload
    }

    /// §5.3: payload byte i is XORed with mask byte i mod 4.
    private mutating func appendUnmasked(_ bytes: UnsafeRawBufferPointer) {
        let start = payload.count
        payload.append(contentsOf: bytes)
        let key = maskKey
        guard key != 0 else { return }  // a server frame, or a client's all-zero key: nothing to undo
        payload.withUnsafeMutableBufferPointer { buffer in
            for position in start..<buffer.count {
                let shift = UInt32(24 - 8 * (position & 3))
                buffer[position] ^= UInt8(truncatingIfNeeded: key >> shift)
            }
        }
    }

    private mutating func completeFrame() -> WebSocketFrame {
        let frame = WebSocketFrame(fin: fin, opcode: opcode, payload: payload)
        payload = []
        header.removeAll(keepingCapacity: true)
        headerLength = 2
        state = .header
        return frame
    }
}
