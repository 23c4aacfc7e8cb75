import XCTest
@testable import ChatCore

/// The JSON parser and writer, the request decoder and the typed-command parser.
final class ProtocolTests: XCTestCase {
    func testParserAcceptsRFC8259AndRefusesTheRest() throws {
        XCTAssertEqual(try JSONParser.parse(Array(#" {"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00\n"]} "#.utf8)),
                       .object(["a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null,
                                             .string("xé😀\n")])]))
        for bad in ["", "{", "{\"a\":}", "[1,]", "01", "1.", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"", "{} {}",
                    "nul", "[" + String(repeating: "[", count: 100) + String(repeating: "]", count: 101)] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8)), bad)
        }
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22]), "invalid UTF-8")
    }

    /// Integers of up to 15 digits are read without `Double(_:)`; everything else still goes through it. Both must
    /// read every number as `Double(_:)` reads its text.
    func testNumbersReadAsDoubleReadsTheirText() throws {
        for text in ["0", "-0", "7", "-7", "42", "999999999999999", "-999999999999999", "1000000000000000",
                     "9007199254740993", "12345678901234567890", "0.5", "-0.0", "1e3", "1E-2", "-2.5e3", "10.0",
                     "123456789012345.5"] {
            let parsed = try JSONParser.parse(Array(text.utf8))
            guard case .number(let value) = parsed else { return XCTFail("\(text): \(parsed)") }
            let expected = try XCTUnwrap(Double(text))
            XCTAssertEqual(value.bitPattern, expected.bitPattern, text)
        }
        XCTAssertEqual(try JSONParser.parse(Array(#"{"id":123456789012345}"#.utf8))["id"]?.integerValue, 123_456_789_012_345)
        for bad in ["-", "--1", "00", "-01", "1.e3", "1e", "+1"] {
            XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8)), bad)
        }
    }

    func testWriterEscapesAndRoundTrips() throws {
        let m = StoredMessage(id: 9, from: "a\"b", to: "c", text: "line\nnext\t\\ \u{01} é", at: 5)
        let bytes = ServerEvent.message(m, offline: true).encoded()
        let parsed = try JSONParser.parse(bytes)
        XCTAssertEqual(parsed["from"]?.stringValue, "a\"b")
        XCTAssertEqual(parsed["text"]?.stringValue, "line\nnext\t\\ \u{01} é")
        XCTAssertEqual(parsed["offline"], .bool(true))
        XCTAssertFalse(bytes.contains(0x0A), "one event is one line")
    }

    func testWriterWritesIntegersAndEscapesExactly() {
        var w = JSONWriter()
        w.field("min", Int64.min)
        w.field("zero", 0)
        w.field("max", Int64.max)
        w.field("s", "\u{1F}\"\\é\r")
        w.field("on", false)
        w.fieldNull("none")
        let bytes = w.finish()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       #"{"min":-9223372036854775808,"zero":0,"max":9223372036854775807,"s":"\u001f\"\\é\r","on":false,"none":null}"#)
    }

    func testWriterGrowsItsBufferMidFieldAndWritesTheSameBytes() throws {
        // The smallest buffer, then every kind of field across its growth: long runs, escapes at the edges,
        // integers of every width, nested values.
        let text = String(repeating: "ab\"\\\n\u{0}é", count: 300) + "\u{1F}"
        var w = JSONWriter(capacity: 0)
        w.field("text", text)
        for value in [Int64.min, -1, 0, 9, 10, 99, 100, 1_000_000_007, Int64.max] { w.field("n", value) }
        w.field("users", ["a\"", "", String(repeating: "z", count: 40)])
        w.field("data", JSONValue.object(["k": .array([.number(1.5), .number(-3), .string("\t"), .null, .bool(true)])]))
        let bytes = w.finish()
        let parsed = try JSONParser.parse(bytes)
        XCTAssertEqual(parsed["text"]?.stringValue, text)
        XCTAssertEqual(parsed["data"], .object(["k": .array([.number(1.5), .number(-3), .string("\t"), .null, .bool(true)])]))
        let head = String(decoding: bytes.prefix(23), as: UTF8.self)
        XCTAssertEqual(head, #"{"text":"ab\"\\\n\u0000"#)
        let tail = String(decoding: bytes.suffix(240), as: UTF8.self)
        XCTAssertTrue(tail.contains(#"é\u001f","n":-9223372036854775808,"n":-1,"n":0,"n":9,"n":10,"n":99,"n":100,"n":1000000007,"n":9223372036854775807,"users":["a\"","","zzzz"#), tail)
        XCTAssertTrue(tail.hasSuffix(#""data":{"k":[1.5,-3,"\t",null,true]}}"#), tail)
    }

    func testAnEventEncodedForTheWireIsTheSameBytesAfterTheHeadroom() throws {
        let long = String(repeating: "ab\"\\é", count: 500)
        let events: [ServerEvent] = [
            .ok(re: .number(7), .init(id: 42, stored: true)),
            .message(StoredMessage(id: 9, seq: 3, from: "hans", to: "luke", text: long, at: 1_700_000_000_000), offline: false),
            .error(re: .string("x"), ChatError(.badRequest, "bad")),
            .users(re: nil, (0..<300).map { "user\($0)" }),
        ]
        for event in events {
            let (base, count) = event.encodedForWire().release()
            defer { base.deallocate() }
            XCTAssertEqual(Array(UnsafeRawBufferPointer(start: base + WirePayload.headroom, count: count)), event.encoded())
            XCTAssertEqual(event.encodedForWire().bytes, event.encoded(), "the copy the default output makes")
        }
        // The writer grown from its smallest buffer keeps the headroom in every buffer it moves to.
        var w = JSONWriter(capacity: 0)
        w.field("text", long)
        let (base, count) = w.finishForWire().release()
        defer { base.deallocate() }
        let written = Array(UnsafeRawBufferPointer(start: base + WirePayload.headroom, count: count))
        XCTAssertEqual(try JSONParser.parse(written)["text"]?.stringValue, long)
    }

    func testTheStringScanFindsEveryByteThatNeedsAnEscapeAndNoOther() {
        // Every byte value at every place of a 20-byte text (two words and a tail), among bytes that need
        // nothing and bytes that sit next to the ones that do (0x21, 0x23, 0x5B, 0x5D, 0x20, 0x7F, 0x80, 0xFF).
        for filler: UInt8 in [UInt8(ascii: "a"), 0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F, 0x80, 0xFF] {
            for place in 0..<20 {
                for byte in UInt8.min...UInt8.max {
                    var text = [UInt8](repeating: filler, count: 20)
                    text[place] = byte
                    let needsEscape = byte < 0x20 || byte == 0x22 || byte == 0x5C
                    var nonASCII = false
                    let found = text.withUnsafeBufferPointer {
                        JSONStringScan.plainRunEnd(in: $0, from: 0, nonASCII: &nonASCII)
                    }
                    XCTAssertEqual(found, needsEscape ? place : 20, "byte \(byte) at \(place) among \(filler)")
                    // Non-ASCII is reported for the bytes before the end found, and only for them.
                    XCTAssertEqual(nonASCII, filler >= 0x80 && found > 0 || (byte >= 0x80 && found > place))
                    if place > 0 {
                        var ignored = false
                        let after = text.withUnsafeBufferPointer {
                            JSONStringScan.plainRunEnd(in: $0, from: place - 1, nonASCII: &ignored)
                        }
                        XCTAssertEqual(after, needsEscape ? place : 20)
                    }
                }
            }
        }
    }

    func testParserReadsBytesWithoutContiguousStorage() throws {
        // A collection that cannot lend its bytes as one buffer takes the copying path and parses the same.
        let text = #"{"to":"zoë","text":"a\"b","n":12}"#
        let lazyBytes = text.utf8.lazy.map { $0 }
        XCTAssertEqual(try JSONParser.parse(lazyBytes), try JSONParser.parse(Array(text.utf8)))
        XCTAssertEqual(try JSONParser.parse(lazyBytes)["to"]?.stringValue, "zoë")
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0x61, 0xC3, 0x22].lazy.map { $0 }), "truncated UTF-8")
    }

    func testFieldsReadAnObjectAsTheDictionaryWouldWithoutBuildingOne() throws {
        let text = #" {"type":"message","to":"zoë","n":1,"to":"bo","nested":{"a":[1,{"b":null}]}} "#
        let fields = try XCTUnwrap(try JSONParser.parseFields(Array(text.utf8)))
        let object = try JSONParser.parse(Array(text.utf8))
        for key in ["type", "to", "n", "nested", "absent"] {
            XCTAssertEqual(fields[key], object[key], key)
        }
        XCTAssertEqual(fields["to"], .string("bo"), "a repeated key: the last one wins, as in an object")
        XCTAssertEqual(fields.members.map(\.key), ["type", "to", "n", "to", "nested"], "members kept as they came")
        XCTAssertEqual(try JSONParser.parseFields(Array("{}".utf8))?.members.count, 0)
        XCTAssertEqual(try JSONParser.parseFields(#"{"a":1}"#.utf8.lazy.map { $0 })?["a"], .number(1), "no contiguous storage")
        // Valid JSON that is not an object is nil; a malformed text throws, whatever it starts with.
        for other in ["[]", "\"x\"", "42", "null", " true "] {
            XCTAssertNil(try JSONParser.parseFields(Array(other.utf8)), other)
        }
        for bad in ["", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{} {}", "{\"a\":1} x", "[1,", "nul", "{1:2}"] {
            XCTAssertThrowsError(try JSONParser.parseFields(Array(bad.utf8)), bad)
        }
        func refusal(_ text: String) -> String? {
            guard case .failure(let failure) = RequestDecoder.decode(Array(text.utf8)) else { return nil }
            return failure.error.message
        }
        XCTAssertEqual(refusal("[1,")?.hasPrefix("malformed JSON"), true)
        XCTAssertEqual(refusal("[1]"), "a request must be a JSON object")
    }

    func testFieldsCompareKeysByTheirUnescapedTextAtEveryLength() throws {
        // Keys are packed into two words up to 16 bytes and kept as text beyond: each length on either side of
        // the word and the limit, spelt plainly and with an escape, must find the same member and no other.
        for length in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
            let key = String((0..<length).map { Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
            let escaped = key.isEmpty ? "" : "\\u00" + String(key.utf8.first!, radix: 16) + key.dropFirst()
            let shorter = String(key.dropLast()), longer = key + "z"
            let text = #"{"\#(shorter)":1,"\#(escaped)":2,"\#(longer)":3}"#
            let fields = try XCTUnwrap(try JSONParser.parseFields(Array(text.utf8)), text)
            XCTAssertEqual(fields[key], .number(2), text)
            XCTAssertEqual(fields[longer], .number(3), text)
            XCTAssertEqual(fields.members.map(\.key), [shorter, key, longer], text)
        }
        // A NUL inside a key is part of it: "a\u0000" is not "a", though both pack to the same words.
        let nul = try XCTUnwrap(try JSONParser.parseFields(Array(#"{"a\u0000":1,"a":2}"#.utf8)))
        XCTAssertEqual(nul["a"], .number(2))
        XCTAssertEqual(nul["a\u{0}"], .number(1))
        // Text beyond ASCII goes through the checked path and compares by its UTF-8; invalid UTF-8 is refused.
        let accented = try XCTUnwrap(try JSONParser.parseFields(Array(#"{"zoë":1,"zo\u00eb":2,"naïve-but-long-key":3}"#.utf8)))
        XCTAssertEqual(accented["zoë"], .number(2), "the escaped spelling is the same key; the last one wins")
        XCTAssertEqual(accented["naïve-but-long-key"], .number(3))
        XCTAssertThrowsError(try JSONParser.parseFields([0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D]), "truncated UTF-8 in a key")
        // The decoder reads a request whose keys are escaped as it reads the plain one.
        XCTAssertEqual(try RequestDecoder.decode(Array(#"{"\u0074ype":"message","t\u006f":"b","text":"hi"}"#.utf8)).get(),
                       RequestEnvelope(id: nil, request: .message(to: "b", text: "hi")))
        XCTAssertEqual(try RequestDecoder.decode(Array(#"{"type":"message","to":"b","text":"hi"}"#.utf8)[...]).get(),
                       RequestEnvelope(id: nil, request: .message(to: "b", text: "hi")), "the gateway's slice")
    }

    func testDecoderReadsEveryRequestType() {
        let cases: [(String, ClientRequest)] = [
            (#"{"type":"lookup","user":"a"}"#, .lookup(user: "a")),
            (#"{"type":"login","user":"a","password":"p","p2pPort":4000}"#, .login(user: "a", credential: .password("p"), peer: .tcp(port: 4000))),
            (#"{"type":"login","user":"a","token":"t","webrtc":true}"#, .login(user: "a", credential: .token("t"), peer: .webRTC)),
            (#"{"type":"register","user":"a","password":"p"}"#, .register(user: "a", password: "p", peer: .none)),
            (#"{"type":"message","to":"b","text":"hi"}"#, .message(to: "b", text: "hi")),
            (#"{"type":"broadcast","text":"hi"}"#, .broadcast(text: "hi")),
            (#"{"type":"whoelse"}"#, .whoelse),
            (#"{"type":"whoelsesince","seconds":0}"#, .whoelsesince(seconds: 0)),
            (#"{"type":"block","user":"b"}"#, .block(user: "b")),
            (#"{"type":"unblock","user":"b"}"#, .unblock(user: "b")),
            (#"{"type":"startprivate","user":"b"}"#, .startprivate(user: "b")),
            (#"{"type":"privatereply","user":"b","accept":false}"#, .privatereply(user: "b", accept: false)),
            (#"{"type":"activity"}"#, .activity),
            (#"{"type":"history"}"#, .history(with: nil, before: nil, limit: 50)),
            (#"{"type":"history","with":"b","before":10,"limit":200}"#, .history(with: "b", before: 10, limit: 200)),
            (#"{"type":"logout","extra":[1]}"#, .logout),
        ]
        for (json, expected) in cases {
            XCTAssertEqual(try RequestDecoder.decode(Array(json.utf8)).get().request, expected, json)
        }
    }

    func testDecoderFailuresKeepTheIDWhenReadable() {
        for json in [#"{"type":"history","limit":201,"id":"q"}"#, #"{"type":"whoelsesince","seconds":1.5,"id":"q"}"#,
                     #"{"type":"login","user":"a","id":"q"}"#, #"{"id":"q"}"#, #"{"type":"privatereply","user":"b","id":"q"}"#] {
            guard case .failure(let f) = RequestDecoder.decode(Array(json.utf8)) else { return XCTFail(json) }
            XCTAssertEqual(f.id, .string("q"), json)
            XCTAssertEqual(f.error.code, .badRequest, json)
        }
        guard case .failure(let f) = RequestDecoder.decode(Array(#"{"id":1.5,"type":"whoelse"}"#.utf8)) else { return XCTFail() }
        XCTAssertNil(f.id)
    }

    func testTypedCommands() {
        XCTAssertEqual(TypedCommand.parse("message luke hello  there "), .server(.message(to: "luke", text: "hello  there ")))
        XCTAssertEqual(TypedCommand.parse("broadcast hi all"), .server(.broadcast(text: "hi all")))
        XCTAssertEqual(TypedCommand.parse("whoelse"), .server(.whoelse))
        XCTAssertEqual(TypedCommand.parse("whoelsesince 60"), .server(.whoelsesince(seconds: 60)))
        XCTAssertEqual(TypedCommand.parse("block luke"), .server(.block(user: "luke")))
        XCTAssertEqual(TypedCommand.parse("unblock luke"), .server(.unblock(user: "luke")))
        XCTAssertEqual(TypedCommand.parse("logout"), .server(.logout))
        XCTAssertEqual(TypedCommand.parse("startprivate luke"), .server(.startprivate(user: "luke")))
        XCTAssertEqual(TypedCommand.parse("private luke psst"), .privateMessage(user: "luke", text: "psst"))
        XCTAssertEqual(TypedCommand.parse("stopprivate luke"), .stopPrivate(user: "luke"))
        for bad in ["", "message", "message luke", "message luke  ", "broadcast", "whoelse now", "whoelsesince",
                    "whoelsesince -1", "whoelsesince 1.5", "whoelsesince x", "block", "block a b", "logout now",
                    "whatsthetime", "Message luke hi"] {
            XCTAssertNil(TypedCommand.parse(bad), bad)
        }
    }

    func testSpecTextsForErrors() {
        XCTAssertEqual(Texts.line(for: ChatError(.blocked, ""), request: .message(to: "x", text: "y")), Texts.recipientBlockedYou)
        XCTAssertEqual(Texts.line(for: ChatError(.alreadyBlocked, ""), request: .block(user: "x")), "Error. x is already blocked")
        XCTAssertEqual(Texts.line(for: ChatError(.invalidUser, ""), request: .unblock(user: "x")), "Error. Invalid user")
    }
}
