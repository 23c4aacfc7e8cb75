/// A parsed JSON value. Parley parses requests itself instead of going through Foundation: the parser is
/// small, strict (RFC 8259), bounded in depth, never traps on hostile input, and is a fuzz target.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The value as an exact integer, if it is a number with no fraction inside ±2^53.
    public var integerValue: Int64? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) <= 9_007_199_254_740_992 else { return nil }
        return Int64(d)
    }
}

/// Why a JSON text was refused.
public struct JSONParseError: Error, Sendable, Equatable {
    public var offset: Int
    public var reason: String
}

/// Strict recursive-descent JSON parser over UTF-8 bytes.
public struct JSONParser {
    /// Nesting deeper than this is refused (Foundation uses 512); requests never nest more than a few levels.
    public static let maxDepth = 64

    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue
    where Bytes.Element == UInt8 {
        try bytes.withBytesInOneBuffer(parse(buffer:))
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: buffer)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        try parser.expectEnd()
        return value
    }

    /// Parses a text that should hold one object, keeping its members as they came (`JSONFields`) instead of
    /// hashing them into a dictionary: a request's three or four fields are read once each, so a dictionary
    /// costs more in hashing than it saves in lookups. Nil when the text is valid JSON but not an object.
    public static func parseFields<Bytes: Collection>(_ bytes: Bytes) throws(JSONParseError) -> JSONFields?
    where Bytes.Element == UInt8 {
        try bytes.withBytesInOneBuffer(fields(in:))
    }

    /// `parseFields` on bytes already in one buffer. The request decoder calls it from code that is not generic:
    /// a generic caller in another module runs unspecialised, and then builds the type metadata of its result
    /// at run time on every call (about a tenth of a request's decoding).
    static func fields(in buffer: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONFields? {
        var parser = JSONParser(bytes: buffer)
        parser.skipWhitespace()
        guard parser.current == UInt8(ascii: "{") else {
            _ = try parser.parseValue(depth: 0)  // a malformed text is reported as such, not as "not an object"
            try parser.expectEnd()
            return nil
        }
        var fields = JSONFields()
        try parser.parseMembers(depth: 0, key: { parser throws(JSONParseError) in try parser.parseKey() }) {
            fields.append($0, $1)
        }
        try parser.expectEnd()
        return fields
    }

    private mutating func expectEnd() throws(JSONParseError) {
        skipWhitespace()
        guard position == bytes.count else { throw error("trailing characters") }
    }

    /// The text being parsed; it only lives for the duration of `parse`, which never lets the parser escape.
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ reason: String) -> JSONParseError { JSONParseError(offset: position, reason: reason) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("unexpected end") }
        let matches = literal.withUTF8Buffer { lit in
            (0..<count).allSatisfy { bytes[position + $0] == lit[$0] }
        }
        guard matches else { throw error("invalid literal") }
        position += count
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < Self.maxDepth else { throw error("nested too deeply") }
        guard let c = current else { throw error("unexpected end") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        // Room for a request's fields without growing (a `message` has three or four).
        var fields = [String: JSONValue](minimumCapacity: 8)
        // A repeated key: the last one wins.
        try parseMembers(depth: depth, key: { parser throws(JSONParseError) in try parser.parseString() }) {
            fields[$0] = $1
        }
        return .object(fields)
    }

    /// The members of the object at `position`, in order, each handed to `add` with its key as `readKey` reads it
    /// (a `String` for a dictionary, a `JSONKey` for `JSONFields`).
    private mutating func parseMembers<Key>(
        depth: Int, key readKey: (inout JSONParser) throws(JSONParseError) -> Key, _ add: (Key, JSONValue) -> Void
    ) throws(JSONParseError) {
        position += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try readKey(&self)
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            add(key, try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(items)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, isDigit(first) else { throw error("invalid number") }
        let digitsStart = position
        if first == UInt8(ascii: "0") {
            position += 1  // RFC 8259: no leading zeros
        } else {
            while let c = current, isDigit(c) { position += 1 }
        }
        // A plain integer of up to 15 digits (every request id) is exact as a Double: computed directly, without
        // a String and `Double(_:)` (an allocation and a general conversion per request).
        let next = current
        if next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E"), position - digitsStart <= 15 {
            var value: Int64 = 0
            for c in bytes[digitsStart..<position] { value = value * 10 + Int64(c - UInt8(ascii: "0")) }
            return bytes[start] == UInt8(ascii: "-") ? -Double(value) : Double(value)
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard let c = current, isDigit(c) else { throw error("invalid fraction") }
            while let c = current, isDigit(c) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let c = current, isDigit(c) else { throw error("invalid exponent") }
            while let c = current, isDigit(c) { position += 1 }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("number out of range") }
        return value
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private mutating func parseString() throws(JSONParseError) -> String {
        let start = position + 1  // after the opening quote
        var nonASCII = false
        let end = JSONStringScan.plainRunEnd(in: bytes, from: start, nonASCII: &nonASCII)
        return try string(from: start, plainRunEnd: end, nonASCII: nonASCII)
    }

    /// The string whose text begins at `start`, once its first run without escapes has been scanned up to `end`
    /// (`JSONStringScan.plainRunEnd`, which also says whether that run held non-ASCII bytes).
    private mutating func string(from start: Int, plainRunEnd end: Int, nonASCII: Bool) throws(JSONParseError) -> String {
        position = end
        // The common case, a string without escapes, becomes a String straight from the input bytes.
        if current == UInt8(ascii: "\"") {
            position += 1
            let run = UnsafeBufferPointer(rebasing: bytes[start..<position - 1])
            // ASCII is valid UTF-8 as it stands; only other text needs the (much slower) generic validation.
            return nonASCII ? try validated(run) : String(decoding: run, as: UTF8.self)
        }
        var scalars: [UInt8] = []
        var runStart = start
        while true {
            guard let c = current else { throw error("unterminated string") }
            if c == UInt8(ascii: "\"") {
                scalars.append(contentsOf: bytes[runStart..<position])
                position += 1
                break
            }
            if c < 0x20 { throw error("control character in string") }
            if c == UInt8(ascii: "\\") {
                scalars.append(contentsOf: bytes[runStart..<position])
                position += 1
                try parseEscape(into: &scalars)
                runStart = position
                continue
            }
            position += 1
        }
        return try scalars.withUnsafeBufferPointer { buffer throws(JSONParseError) in try validated(buffer) }
    }

    /// A key as `JSONFields` compares it. A plain ASCII key (every key of the protocol) is packed straight from the
    /// input; one with escapes or other text is read as a string from where the scan stopped, so it is checked and
    /// unescaped the same way and compares equal to the plain spelling of the same text.
    private mutating func parseKey() throws(JSONParseError) -> JSONKey {
        let start = position + 1
        var nonASCII = false
        let end = JSONStringScan.plainRunEnd(in: bytes, from: start, nonASCII: &nonASCII)
        guard !nonASCII, end < bytes.count, bytes[end] == UInt8(ascii: "\"") else {
            return JSONKey(try string(from: start, plainRunEnd: end, nonASCII: nonASCII))
        }
        position = end + 1
        return JSONKey(utf8: UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    /// Invalid UTF-8 is refused rather than repaired: a request is either exactly what was sent or an error.
    private func validated(_ utf8: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> String {
        guard let string = String(validating: utf8, as: UTF8.self) else { throw error("invalid UTF-8") }
        return string
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONParseError) {
        guard let c = current else { throw error("unterminated escape") }
        position += 1
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(c)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var code = try parseHex4()
            if (0xD800...0xDBFF).contains(code) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("lone surrogate") }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate") }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(code) {
                throw error("lone surrogate")
            }
            guard let scalar = Unicode.Scalar(code) else { throw error("invalid code point") }
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw error("invalid escape")
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}

extension Collection where Element == UInt8 {
    /// Runs `body` on the bytes where they are, or on a copy when they are not in one buffer. Every caller hands
    /// over contiguous bytes (a slice of a read buffer or a frame's payload). The parser's and the decoder's entry
    /// points are generic across modules, so they run unspecialised; one witness call here keeps the per-byte work
    /// on a concrete buffer instead of going through the protocol for every byte.
    func withBytesInOneBuffer<Value, Failure: Error>(
        _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Value
    ) throws(Failure) -> Value {
        let done = withContiguousStorageIfAvailable { buffer in Result { () throws(Failure) in try body(buffer) } }
        if let done { return try done.get() }
        return try Array(self).withUnsafeBufferPointer { buffer throws(Failure) in try body(buffer) }
    }
}
