/// Builds a JSON object straight into bytes. Events are encoded once per fan-out
/// (docs/ARCHITECTURE.md §6 principle 1), so this is on the hot path: no Foundation, no intermediate dictionaries,
/// keys in a stable order.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 128) {
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Closes the object and returns its bytes.
    public consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func key(_ name: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    public mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        Self.appendString(value, to: &bytes)
    }

    public mutating func field(_ name: StaticString, _ value: Int64) {
        key(name)
        bytes.append(contentsOf: Array(String(value).utf8))
    }

    public mutating func field(_ name: StaticString, _ value: Int) { field(name, Int64(value)) }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
    }

    public mutating func fieldNull(_ name: StaticString) {
        key(name)
        bytes.append(contentsOf: Array("null".utf8))
    }

    public mutating func field(_ name: StaticString, _ values: [String]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.appendString(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// A pre-encoded JSON value (an array of objects, a relayed `signal` payload).
    public mutating func field(_ name: StaticString, raw: [UInt8]) {
        key(name)
        bytes.append(contentsOf: raw)
    }

    public mutating func field(_ name: StaticString, _ value: JSONValue) {
        key(name)
        Self.append(value, to: &bytes)
    }

    public mutating func field(_ name: StaticString, _ id: RequestID) {
        switch id {
        case .string(let s): field(name, s)
        case .number(let n): field(name, n)
        }
    }

    /// Appends `value` as a JSON string, escaping quotes, backslashes and control characters (RFC 8259 §7).
    public static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends any JSON value (used to relay `signal` payloads verbatim in structure).
    public static func append(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let b): out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case .number(let d):
            if d.rounded() == d, abs(d) < 9e15 { out.append(contentsOf: Array(String(Int64(d)).utf8)) }
            else { out.append(contentsOf: Array("\(d)".utf8)) }
        case .string(let s): appendString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                append(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                append(fields[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
