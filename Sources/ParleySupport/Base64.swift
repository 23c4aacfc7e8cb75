/// Base64 (RFC 4648), the one implementation the server's several uses share: the WebSocket accept value
/// (standard, padded), bearer tokens (URL alphabet, unpadded), HTTP Basic credentials (standard, padding optional)
/// and argon2's encoded hashes (standard, unpadded).
public enum Base64 {
    public enum Alphabet: Sendable {
        /// `+` and `/` (RFC 4648 §4).
        case standard
        /// `-` and `_`, safe in URLs and headers without escaping (RFC 4648 §5).
        case url

        fileprivate var symbols: [UInt8] {
            switch self {
            case .standard: Base64.standardSymbols
            case .url: Base64.urlSymbols
            }
        }
    }

    private static let standardSymbols = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSymbols = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// `bytes` encoded; with `padded`, the last group is filled to four characters with `=`.
    public static func encode(_ bytes: some Collection<UInt8>, alphabet: Alphabet = .standard, padded: Bool = true) -> String {
        let symbols = alphabet.symbols
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index < input.count {
            let left = input.count - index
            let triple = UInt32(input[index]) << 16
                | (left > 1 ? UInt32(input[index + 1]) << 8 : 0)
                | (left > 2 ? UInt32(input[index + 2]) : 0)
            out.append(symbols[Int(triple >> 18 & 63)])
            out.append(symbols[Int(triple >> 12 & 63)])
            if left > 1 { out.append(symbols[Int(triple >> 6 & 63)]) } else if padded { out.append(UInt8(ascii: "=")) }
            if left > 2 { out.append(symbols[Int(triple & 63)]) } else if padded { out.append(UInt8(ascii: "=")) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of standard base64 `text`; padding optional, whitespace and the URL alphabet refused. Bits left
    /// over in the last character are ignored, as RFC 4648 §3.5 allows; callers that need the one canonical
    /// spelling compare `encode(decoded)` with the text.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var body = Array(text)
        while body.last == UInt8(ascii: "=") { body.removeLast() }
        guard text.count - body.count <= 2, body.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in body {
            guard let value = sextet(byte) else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }

    private static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
