// libFuzzer target for the JSON request path: ChatCore's own JSON parser (RFC 8259, depth-bounded) and the
// request decoder that turns a line or WebSocket message into a ClientRequest.
//
// Oracles: whatever the parser accepts, written back out by an independent writer below, parses to the same
// value (and decodes to the same request or the same error); a decoded request keeps the bounds of
// docs/PROTOCOL.md §2; text the parser refuses is a `bad_request` without an id; the decoder's own reading of an
// object (`parseFields`, members without a dictionary, their keys packed into words) refuses and accepts exactly
// what the parser does and reads every key as the parsed object has it; ChatCore's own writer, starting from a
// buffer too small to hold the value, writes what the parser accepts so that it parses back to the same value.
// Build and run: see Fuzz/README.md.
import FuzzSupport
import ChatCore

/// A minimal JSON writer, independent of ChatCore's: strings escaped per RFC 8259 §7, numbers in Swift's
/// shortest round-trip form. Nil for a value JSON cannot carry (a non-finite number).
private func write(_ value: JSONValue, into out: inout [UInt8]) -> Bool {
    switch value {
    case .null: out += Array("null".utf8)
    case .bool(let b): out += Array((b ? "true" : "false").utf8)
    case .number(let d):
        guard d.isFinite else { return false }
        out += Array("\(d)".utf8)
    case .string(let s): writeString(s, into: &out)
    case .array(let items):
        out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard write(item, into: &out) else { return false }
        }
        out.append(UInt8(ascii: "]"))
    case .object(let fields):
        out.append(UInt8(ascii: "{"))
        for (index, key) in fields.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            guard write(fields[key]!, into: &out) else { return false }
        }
        out.append(UInt8(ascii: "}"))
    }
    return true
}

private func writeString(_ s: String, into out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for byte in s.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}

private func depth(_ value: JSONValue) -> Int {
    switch value {
    case .array(let items): return 1 + (items.map(depth).max() ?? 0)
    case .object(let fields): return 1 + (fields.values.map(depth).max() ?? 0)
    default: return 0
    }
}

private func checkBounds(_ request: ClientRequest) {
    switch request {
    case .history(_, let before, let limit):
        Fuzzer.check((1...RequestDecoder.maxHistoryLimit).contains(limit), "history limit out of bounds")
        Fuzzer.check(before.map { $0 > 0 } ?? true, "history before must be positive")
    case .whoelsesince(let seconds):
        Fuzzer.check(seconds >= 0 && seconds <= Int(Int32.max), "whoelsesince seconds out of bounds")
    case .login(_, _, let peer, _), .register(_, _, let peer, _):
        if case .tcp(let port) = peer { Fuzzer.check((1...65_535).contains(port), "p2pPort out of range") }
    case .signal(_, let data):
        if case .object = data {} else { Fuzzer.check(false, "signal data must be an object") }
    default:
        break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let decoded = RequestDecoder.decode(input)

    let fields = Result { () throws(JSONParseError) in try JSONParser.parseFields(input) }
    let parsed: JSONValue
    do {
        parsed = try JSONParser.parse(input)
    } catch {
        if case .success = fields { Fuzzer.check(false, "parseFields accepted what the parser refuses") }
        Fuzzer.check(error.offset >= 0 && error.offset <= input.count, "error offset outside the input")
        guard case .failure(let failure) = decoded else { fatalError("unparsable JSON decoded as a request") }
        Fuzzer.check(failure.id == nil && failure.error.code == .badRequest, "a parse error must be bad_request, no id")
        return 0
    }
    Fuzzer.check(depth(parsed) <= JSONParser.maxDepth + 1, "nesting deeper than the parser's bound")
    if case .object(let object) = parsed {
        guard case .success(let members?) = fields else { fatalError("parseFields refused an object the parser accepts") }
        Fuzzer.check(Set(members.members.map(\.key)) == Set(object.keys), "parseFields saw other keys")
        for (key, value) in object { Fuzzer.check(members[key] == value, "parseFields read a key differently") }
    } else {
        guard case .success(nil) = fields else { fatalError("parseFields must give nil for valid JSON that is no object") }
    }
    if case .success(let envelope) = decoded { checkBounds(envelope.request) }

    var written: [UInt8] = []
    guard write(parsed, into: &written) else { return 0 }
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(written)
    } catch {
        fatalError("the parser refuses its own value written back: \(error.reason)")
    }
    Fuzzer.check(reparsed == parsed, "a value changed on a write/parse round trip")
    Fuzzer.check(RequestDecoder.decode(written) == decoded, "the same value decoded to a different request")

    // The writer every event goes through: its buffer starts small, so most values make it grow mid-field.
    var own = JSONWriter(capacity: 16)
    own.field("v", parsed)
    let ownBytes = own.finish()
    guard case .object(let wrapped)? = try? JSONParser.parse(ownBytes) else {
        fatalError("the parser refuses what JSONWriter wrote: \(String(decoding: ownBytes, as: UTF8.self))")
    }
    Fuzzer.check(wrapped.count == 1 && wrapped["v"] == parsed, "a value changed on a JSONWriter/parse round trip")
    return 0
}

Fuzzer.run(fuzzOne)
