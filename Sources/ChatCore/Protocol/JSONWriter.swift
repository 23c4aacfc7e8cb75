/// Builds a JSON object straight into bytes. Events are encoded once per fan-out
/// (docs/ARCHITECTURE.md §6 principle 1), so this is on the hot path: no Foundation, no intermediate dictionaries,
/// keys in a stable order.
public struct JSONWriter: ~Copyable {
    /// The object so far, in a buffer of its own: every event is written field by field, and an `Array` checks
    /// uniqueness and capacity on each append (the encoding took about a quarter fewer instructions without
    /// them). The allocation keeps a `WirePayload`'s headroom and tailroom around the object, so that
    /// `finishForWire` hands it to the transport as it is; `finish` copies it into an array.
    private var buffer: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    private var needsComma = false

    public init(capacity: Int = 128) {
        self.capacity = max(capacity, 16)
        buffer = Self.allocate(capacity: self.capacity)
        buffer[0] = UInt8(ascii: "{")
        count = 1
    }

    deinit { Self.deallocate(buffer) }

    /// Closes the object and returns its bytes.
    public consuming func finish() -> [UInt8] {
        put(UInt8(ascii: "}"))
        return Array(UnsafeBufferPointer(start: buffer, count: count))
    }

    /// Closes the object and hands its buffer over as it is, without a copy.
    public consuming func finishForWire() -> WirePayload {
        put(UInt8(ascii: "}"))
        let payload = WirePayload(adopting: UnsafeMutableRawPointer(buffer - WirePayload.headroom), count: count)
        discard self
        return payload
    }

    /// A payload buffer of `capacity` bytes inside an allocation with the headroom before it and tailroom after.
    private static func allocate(capacity: Int) -> UnsafeMutablePointer<UInt8> {
        let bytes = WirePayload.headroom + capacity + WirePayload.tailroom
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16).bindMemory(to: UInt8.self, capacity: bytes)
            + WirePayload.headroom
    }

    private static func deallocate(_ buffer: UnsafeMutablePointer<UInt8>) {
        UnsafeMutableRawPointer(buffer - WirePayload.headroom).deallocate()
    }

    // MARK: The buffer

    /// Room for `more` bytes after the written ones.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if count + more > capacity { grow(toHold: count + more) }
    }

    private mutating func grow(toHold needed: Int) {
        let larger = max(needed, capacity * 2)
        let moved = Self.allocate(capacity: larger)
        moved.update(from: buffer, count: count)
        Self.deallocate(buffer)
        buffer = moved
        capacity = larger
    }

    @inline(__always)
    private mutating func put(_ byte: UInt8) {
        reserve(1)
        buffer[count] = byte
        count += 1
    }

    private mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (buffer + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    private mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { put($0) }
    }

    private mutating func put(_ literal: StaticString) {
        literal.withUTF8Buffer { put($0) }
    }

    // MARK: Fields

    private mutating func key(_ name: StaticString) {
        // `,"name":` in one reservation: the separator, the quotes and the colon around a key known at compile time.
        reserve(name.utf8CodeUnitCount + 4)
        if needsComma { buffer[count] = UInt8(ascii: ","); count += 1 }
        needsComma = true
        buffer[count] = UInt8(ascii: "\"")
        count += 1
        name.withUTF8Buffer { put($0) }
        buffer[count] = UInt8(ascii: "\"")
        buffer[count + 1] = UInt8(ascii: ":")
        count += 2
    }

    public mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        putString(value)
    }

    public mutating func field(_ name: StaticString, _ value: Int64) {
        key(name)
        putInteger(value)
    }

    public mutating func field(_ name: StaticString, _ value: Int) { field(name, Int64(value)) }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        put(value ? "true" : "false")
    }

    public mutating func fieldNull(_ name: StaticString) {
        key(name)
        put("null")
    }

    public mutating func field(_ name: StaticString, _ values: [String]) {
        key(name)
        put(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { put(UInt8(ascii: ",")) }
            putString(value)
        }
        put(UInt8(ascii: "]"))
    }

    /// A pre-encoded JSON value (an array of objects, a relayed `signal` payload).
    public mutating func field(_ name: StaticString, raw: [UInt8]) {
        key(name)
        put(raw)
    }

    public mutating func field(_ name: StaticString, _ value: JSONValue) {
        key(name)
        putValue(value)
    }

    public mutating func field(_ name: StaticString, _ id: RequestID) {
        switch id {
        case .string(let s): field(name, s)
        case .number(let n): field(name, n)
        }
    }

    /// `value` as a JSON string, escaping quotes, backslashes and control characters (RFC 8259 §7). Runs of
    /// bytes that need no escape (nearly all of a chat text) are copied whole.
    private mutating func putString(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            reserve(utf8.count + 2)
            buffer[count] = UInt8(ascii: "\"")
            count += 1
            var runStart = 0
            var nonASCII = false  // not needed here: the string is valid UTF-8 already
            while true {
                let end = JSONStringScan.plainRunEnd(in: utf8, from: runStart, nonASCII: &nonASCII)
                put(UnsafeBufferPointer(rebasing: utf8[runStart..<end]))
                guard end < utf8.count else { break }
                reserve(6)
                count += Self.writeEscape(utf8[end], at: buffer + count)
                runStart = end + 1
            }
            put(UInt8(ascii: "\""))
        }
    }

    /// Writes the escape of `byte` (2 or 6 bytes) at `out`; returns how many.
    private static func writeEscape(_ byte: UInt8, at out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = 0x5C
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out[1] = byte; return 2
        case 0x0A: out[1] = UInt8(ascii: "n"); return 2
        case 0x0D: out[1] = UInt8(ascii: "r"); return 2
        case 0x09: out[1] = UInt8(ascii: "t"); return 2
        default:
            let hex: StaticString = "0123456789abcdef"
            hex.withUTF8Buffer { digits in
                out[1] = UInt8(ascii: "u")
                out[2] = UInt8(ascii: "0")
                out[3] = UInt8(ascii: "0")
                out[4] = digits[Int(byte >> 4)]
                out[5] = digits[Int(byte & 0xF)]
            }
            return 6
        }
    }

    /// The decimal digits of `value`, without going through a String: written backwards into a small buffer on
    /// the stack (20 bytes hold any Int64 with its sign), then copied in order.
    private mutating func putInteger(_ value: Int64) {
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            put(UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    /// Any JSON value, in structure (a relayed `signal` payload).
    private mutating func putValue(_ value: JSONValue) {
        switch value {
        case .null: put("null")
        case .bool(let b): put(b ? "true" : "false")
        case .number(let d):
            if d.rounded() == d, abs(d) < 9e15 { putInteger(Int64(d)) } else { put(Array("\(d)".utf8)) }
        case .string(let s): putString(s)
        case .array(let items):
            put(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { put(UInt8(ascii: ",")) }
                putValue(item)
            }
            put(UInt8(ascii: "]"))
        case .object(let fields):
            put(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { put(UInt8(ascii: ",")) }
                putString(key)
                put(UInt8(ascii: ":"))
                putValue(fields[key]!)
            }
            put(UInt8(ascii: "}"))
        }
    }
}
