/// A frame opcode (RFC 6455 §5.2, §11.8). Only the six defined values exist; the parser refuses
/// the reserved ones (3–7, 0xB–0xF) before this type is ever built.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// RFC 6455 §5.5: opcodes with the high bit set are control frames.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// A close status code (RFC 6455 §7.4).
public struct WebSocketCloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normalClosure = WebSocketCloseCode(rawValue: 1000)
    public static let goingAway = WebSocketCloseCode(rawValue: 1001)
    public static let protocolError = WebSocketCloseCode(rawValue: 1002)
    public static let unsupportedData = WebSocketCloseCode(rawValue: 1003)
    /// Reported when a close frame had no code; never sent (§7.4.1).
    public static let noStatusReceived = WebSocketCloseCode(rawValue: 1005)
    /// Reported when the connection dropped without a close frame; never sent (§7.4.1).
    public static let abnormalClosure = WebSocketCloseCode(rawValue: 1006)
    public static let invalidPayload = WebSocketCloseCode(rawValue: 1007)
    public static let policyViolation = WebSocketCloseCode(rawValue: 1008)
    public static let messageTooBig = WebSocketCloseCode(rawValue: 1009)
    public static let mandatoryExtension = WebSocketCloseCode(rawValue: 1010)
    public static let internalError = WebSocketCloseCode(rawValue: 1011)

    /// Whether a peer may put this code in a close frame (§7.4.1, §7.4.2): the defined codes
    /// 1000–1003 and 1007–1011, and 3000–4999 (registered and private use). 1004–1006 and 1015
    /// are reserved or never sent, and the rest of 0–2999 is unassigned; those fail with 1002.
    public var isValidInCloseFrame: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: true
        default: false
        }
    }

    public var description: String { String(rawValue) }
}

/// Why a peer's input broke RFC 6455, and the close code each violation gets.
public enum WebSocketProtocolError: Error, Sendable, Equatable {
    /// §5.1: a client frame without the MASK bit.
    case unmaskedFrame
    /// §5.1: a server frame with the MASK bit (what a client reading the server refuses).
    case maskedFrame
    /// §5.2: RSV1–3 set with no extension negotiated.
    case reservedBitsSet
    /// §5.2: opcodes 3–7 and 0xB–0xF.
    case reservedOpcode(UInt8)
    /// §5.5: a control frame with FIN clear.
    case fragmentedControlFrame
    /// §5.5: a control frame payload over 125 bytes.
    case controlFrameTooLong
    /// §5.2: a 64-bit length with its most significant bit set.
    case invalidPayloadLength
    /// §5.4: a continuation frame with no fragmented message open.
    case unexpectedContinuation
    /// §5.4: a new text/binary frame while a fragmented message is still open.
    case expectedContinuation
    /// A message larger than the configured maximum (§7.4.1 code 1009).
    case messageTooBig
    /// §8.1: text (or a close reason) that is not valid UTF-8.
    case invalidUTF8
    /// §5.5.1: a close payload of exactly one byte.
    case invalidClosePayload
    /// §7.4: a close code outside the valid ranges.
    case invalidCloseCode(UInt16)

    /// The code of the close frame this error is answered with.
    public var closeCode: WebSocketCloseCode {
        switch self {
        case .messageTooBig: .messageTooBig
        case .invalidUTF8: .invalidPayload
        default: .protocolError
        }
    }
}

/// A parsed frame with its payload already unmasked.
public struct WebSocketFrame: Sendable, Equatable {
    public var fin: Bool
    public var opcode: WebSocketOpcode
    public var payload: [UInt8]

    public init(fin: Bool = true, opcode: WebSocketOpcode, payload: [UInt8] = []) {
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
    }
}

// MARK: - Server frame encoding

extension WebSocketFrame {
    /// Largest payload of a control frame (§5.5).
    public static let maxControlPayload = 125

    /// The header of an unmasked server frame (§5.1: a server MUST NOT mask) for a payload of
    /// `payloadLength` bytes, in the shortest length form (§5.2): 2, 4 or 10 bytes.
    public static func header(opcode: WebSocketOpcode, fin: Bool = true, payloadLength: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 10) { buffer, count in
            count = writeHeader(opcode: opcode, fin: fin, payloadLength: payloadLength, to: UnsafeMutableRawPointer(buffer.baseAddress!))
        }
    }

    /// How long `header` is for a payload of `payloadLength` bytes.
    static func headerLength(payloadLength: Int) -> Int {
        switch payloadLength {
        case 0...125: 2
        case 126...0xFFFF: 4
        default: 10
        }
    }

    /// Writes `header` at `destination` (which has room for `headerLength` bytes) and returns its length: an
    /// `Outbound` builds its frame in place, without an array for the header.
    static func writeHeader(opcode: WebSocketOpcode, fin: Bool = true, payloadLength: Int,
                            to destination: UnsafeMutableRawPointer) -> Int {
        precondition(payloadLength >= 0, "negative payload length")
        let bytes = destination.assumingMemoryBound(to: UInt8.self)
        bytes[0] = (fin ? 0x80 : 0) | opcode.rawValue
        let length = headerLength(payloadLength: payloadLength)
        switch length {
        case 2:
            bytes[1] = UInt8(payloadLength)
        case 4:
            bytes[1] = 126
            bytes[2] = UInt8(payloadLength >> 8)
            bytes[3] = UInt8(payloadLength & 0xFF)
        default:
            bytes[1] = 127
            let value = UInt64(payloadLength)
            for index in 0..<8 { bytes[2 + index] = UInt8(truncatingIfNeeded: value >> UInt64(56 - 8 * index)) }
        }
        return length
    }

    /// A complete unmasked server frame: header followed by `payload`.
    public static func encode(opcode: WebSocketOpcode, fin: Bool = true, payload: some Collection<UInt8>) -> [UInt8] {
        var frame = header(opcode: opcode, fin: fin, payloadLength: payload.count)
        frame.append(contentsOf: payload)
        return frame
    }

    /// A text frame; encode once and share the bytes for every receiver of a broadcast.
    public static func text(_ text: String) -> [UInt8] {
        encode(opcode: .text, payload: text.utf8)
    }

    /// A binary frame.
    public static func binary(_ data: [UInt8]) -> [UInt8] {
        encode(opcode: .binary, payload: data)
    }

    /// A ping frame (keepalive); the payload is cut to 125 bytes.
    public static func ping(_ payload: [UInt8] = []) -> [UInt8] {
        encode(opcode: .ping, payload: payload.prefix(maxControlPayload))
    }

    /// A pong frame answering a ping: §5.5.3 requires the ping's payload echoed unchanged.
    public static func pong(_ payload: [UInt8]) -> [UInt8] {
        encode(opcode: .pong, payload: payload.prefix(maxControlPayload))
    }

    /// A close frame with a status code and an optional reason, cut on a character boundary so
    /// the payload stays within 125 bytes (§5.5.1). `nil` gives an empty close payload.
    public static func close(code: WebSocketCloseCode?, reason: String = "") -> [UInt8] {
        guard let code else { return encode(opcode: .close, payload: EmptyCollection()) }
        var payload: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var reasonBytes = 0
        for scalar in reason.unicodeScalars {
            let width = UTF8.width(scalar)
            if reasonBytes + width > maxControlPayload - 2 { break }
            reasonBytes += width
            payload.append(contentsOf: String(scalar).utf8)
        }
        return encode(opcode: .close, payload: payload)
    }
}

// MARK: - Client frame encoding

extension WebSocketFrame {
    /// A complete client frame (§5.3: a client MUST mask every frame it sends): the header with the MASK bit
    /// and `maskKey` (big-endian, as it goes on the wire), then `payload` XORed with it. The key should be
    /// unpredictable to scripts in a browser; a load tool may use any sequence.
    public static func encodeMasked(opcode: WebSocketOpcode, fin: Bool = true, payload: some Collection<UInt8>,
                                    maskKey: UInt32) -> [UInt8] {
        var frame = header(opcode: opcode, fin: fin, payloadLength: payload.count)
        frame[1] |= 0x80
        let mask = withUnsafeBytes(of: maskKey.bigEndian) { Array($0) }
        frame.append(contentsOf: mask)
        let start = frame.count
        frame.append(contentsOf: payload)
        frame.withUnsafeMutableBufferPointer { bytes in
            for index in start..<bytes.count { bytes[index] ^= mask[(index - start) & 3] }
        }
        return frame
    }
}
