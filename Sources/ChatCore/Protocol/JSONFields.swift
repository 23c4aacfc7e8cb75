/// The members of one JSON object in the order they came (`JSONParser.parseFields`), read by key as
/// `JSONValue.object` is: a repeated key, the last one wins.
///
/// A request is decoded once and each of its three or four fields read once, so the keys are neither hashed nor
/// made into `String`s: each is kept as a `JSONKey`, which a lookup compares as two words.
public struct JSONFields: Sendable {
    private var entries: [(key: JSONKey, value: JSONValue)] = []
    // Four fields fit without growing (a `message` request has three or four).
    init() { entries.reserveCapacity(4) }

    mutating func append(_ key: JSONKey, _ value: JSONValue) {
        entries.append((key, value))
    }

    public subscript(key: String) -> JSONValue? {
        value(of: JSONKey(key))
    }

    /// The decoder's lookups: its keys are literals, packed without a `String` in between.
    func value(_ key: StaticString) -> JSONValue? {
        value(of: key.withUTF8Buffer { JSONKey(utf8: $0) })
    }

    private func value(of wanted: JSONKey) -> JSONValue? {
        entries.last { $0.key == wanted }?.value
    }

    /// The members with their keys as text, in the order they came.
    public var members: [(key: String, value: JSONValue)] {
        entries.map { ($0.key.text, $0.value) }
    }
}

/// An object's key, unescaped, in a form compared without hashing or building a `String`: up to 16 bytes of UTF-8
/// packed into two words with their count (every key of the protocol is under 10 bytes), longer keys as text.
struct JSONKey: Sendable, Equatable {
    private var count: Int
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    private var long: String?

    static let packedLimit = 16

    /// `utf8` is valid UTF-8 (the parser checked it, or it is ASCII).
    init(utf8: UnsafeBufferPointer<UInt8>) {
        count = utf8.count
        guard count <= Self.packedLimit else {
            long = String(decoding: utf8, as: UTF8.self)
            return
        }
        // Byte i goes to bits 8i of its word, whatever the machine's byte order; `text` reads them back the same way.
        for i in 0..<min(count, 8) { low |= UInt64(utf8[i]) << (8 * i) }
        for i in 8..<max(count, 8) { high |= UInt64(utf8[i]) << (8 * (i - 8)) }
    }

    init(_ text: String) {
        var text = text
        self = text.withUTF8 { JSONKey(utf8: $0) }
    }

    var text: String {
        if let long { return long }
        let bytes = (0..<count).map { i in UInt8(truncatingIfNeeded: (i < 8 ? low >> (8 * i) : high >> (8 * (i - 8)))) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
