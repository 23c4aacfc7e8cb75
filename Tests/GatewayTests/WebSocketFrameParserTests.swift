import XCTest
@testable import Gateway

/// RFC 6455 §5 framing rules, each checked on the whole input, split at every offset, one byte
/// at a time and in seeded random chunks: the results must be identical.
final class WebSocketFrameParserTests: XCTestCase {
    // MARK: - RFC 6455 §5.7 examples

    func testRFCMaskedHello() {
        let bytes: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        XCTAssertEqual(parseEverySplit(bytes), [.frame(WebSocketFrame(opcode: .text, payload: Array("Hello".utf8)))])
    }

    func testRFCUnmaskedHelloIsRefusedFromAClient() {
        let bytes: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        XCTAssertEqual(parseEverySplit(bytes), [.failed(.unmaskedFrame)])
        XCTAssertEqual(parseEverySplit(Array(bytes[..<2])), [.failed(.unmaskedFrame)], "decided at byte 2")
    }

    func testRFCFragmentedTextMessageMasked() {
        let bytes = makeClientFrame(0x1, Array("Hel".utf8), fin: false) + makeClientFrame(0x0, Array("lo".utf8))
        XCTAssertEqual(parseEverySplit(bytes), [
            .frame(WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8))),
            .frame(WebSocketFrame(fin: true, opcode: .continuation, payload: Array("lo".utf8))),
        ])
    }

    func testRFCMaskedPongHello() {
        let bytes: [UInt8] = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        XCTAssertEqual(parseEverySplit(bytes), [.frame(WebSocketFrame(opcode: .pong, payload: Array("Hello".utf8)))])
    }

    func testRFCServerEncodingIsByteExact() {
        XCTAssertEqual(WebSocketFrame.text("Hello"), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        XCTAssertEqual(WebSocketFrame.encode(opcode: .text, fin: false, payload: Array("Hel".utf8)),
                       [0x01, 0x03, 0x48, 0x65, 0x6c])
        XCTAssertEqual(WebSocketFrame.encode(opcode: .continuation, payload: Array("lo".utf8)), [0x80, 0x02, 0x6c, 0x6f])
        XCTAssertEqual(WebSocketFrame.ping(Array("Hello".utf8)), [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        XCTAssertEqual(WebSocketFrame.header(opcode: .binary, payloadLength: 256), [0x82, 0x7E, 0x01, 0x00])
        XCTAssertEqual(WebSocketFrame.header(opcode: .binary, payloadLength: 65_536),
                       [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
        XCTAssertEqual(WebSocketFrame.header(opcode: .text, payloadLength: 125), [0x81, 125])
        XCTAssertEqual(WebSocketFrame.header(opcode: .text, payloadLength: 126), [0x81, 126, 0, 126])
        XCTAssertEqual(WebSocketFrame.header(opcode: .text, payloadLength: 65_535), [0x81, 126, 0xFF, 0xFF])
        XCTAssertEqual(WebSocketFrame.close(code: .protocolError), [0x88, 0x02, 0x03, 0xEA])
        XCTAssertEqual(WebSocketFrame.close(code: nil), [0x88, 0x00])
    }

    func testCloseReasonIsCutOnACharacterBoundaryWithin125Bytes() {
        let frame = WebSocketFrame.close(code: .goingAway, reason: String(repeating: "é", count: 100))
        XCTAssertEqual(Int(frame[1]), 2 + 122, "61 two-byte characters fit in 123 bytes")
        XCTAssertTrue(UTF8Validator.isValid(Array(frame[4...])))
    }

    // MARK: - §5.2 lengths

    func testSevenSixteenAndSixtyFourBitLengths() {
        for length in [0, 1, 125, 126, 127, 65_535, 65_536] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let bytes = makeClientFrame(0x2, payload)
            XCTAssertEqual(parseSplits(bytes, max: 1 << 20), [.frame(WebSocketFrame(opcode: .binary, payload: payload))],
                           "length \(length)")
        }
    }

    func testNonMinimalLengthsAreAllowed() {
        let payload = Array("hi".utf8)
        for form in [LengthForm.sixteen, .sixtyFour] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(0x1, payload, length: form)),
                           [.frame(WebSocketFrame(opcode: .text, payload: payload))])
        }
        XCTAssertEqual(parseEverySplit(makeClientFrame(0x9, [], length: .sixteen)),
                       [.frame(WebSocketFrame(opcode: .ping))], "a control frame's 16-bit form under 126 is legal too")
    }

    func testSixtyFourBitLengthWithTopBitFailsOnItsThirdByte() {
        let header: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]  // 2^63
        XCTAssertEqual(parseEverySplit(Array(header[..<3])), [.failed(.invalidPayloadLength)])
        XCTAssertEqual(parseEverySplit(header + [1, 2, 3, 4]), [.failed(.invalidPayloadLength)])
    }

    func testHugeDeclaredLengthFailsBeforeAnyPayload() {
        let header: [UInt8] = [0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]  // 2^63 - 1
        XCTAssertEqual(parseEverySplit(header), [.failed(.messageTooBig)])
    }

    func testMessageLimitIsInclusive() {
        let atLimit = makeClientFrame(0x2, [UInt8](repeating: 7, count: 65_536))
        XCTAssertEqual(parseSplits(atLimit), [.frame(WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 65_536)))])
        let overHeader = Array(makeClientFrame(0x2, [UInt8](repeating: 7, count: 65_537))[..<14])
        XCTAssertEqual(parseEverySplit(overHeader), [.failed(.messageTooBig)], "refused from the header alone")
        XCTAssertEqual(parseEverySplit([0x81, 0x80 | 126, 0x01, 0x00], max: 255), [.failed(.messageTooBig)])
        XCTAssertEqual(parseEverySplit([0x81, 0x80 | 11], max: 10), [.failed(.messageTooBig)], "7-bit form too")
    }

    func testMessageLimitCountsEveryFragment() {
        let half = [UInt8](repeating: 1, count: 32_768)
        let exact = makeClientFrame(0x2, half, fin: false) + makeClientFrame(0x0, half)
        XCTAssertEqual(parseSplits(exact).count, 2)
        let over = makeClientFrame(0x2, half, fin: false) + makeClientFrame(0x0, half + [1])
        XCTAssertEqual(parseSplits(over).last, .failed(.messageTooBig))
        // Control frames in between do not count, and a new message starts from zero.
        let next = exact + makeClientFrame(0x9, [1, 2]) + makeClientFrame(0x2, half + half)
        XCTAssertEqual(parseSplits(next).count, 4)
    }

    // MARK: - §5.1 masking and §5.2 header bits

    func testUnmaskedFramesOfEveryOpcodeAreRefused() {
        for opcode: UInt8 in [0x1, 0x2, 0x8, 0x9, 0xA] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(opcode, [1], mask: nil)), [.failed(.unmaskedFrame)])
        }
    }

    func testMaskingUsesEachKeyByteInTurn() {
        let payload = Array("The quick brown fox".utf8)
        for key: [UInt8] in [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [1, 2, 3, 4]] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(0x1, payload, mask: key)),
                           [.frame(WebSocketFrame(opcode: .text, payload: payload))])
        }
    }

    func testReservedBitsAreRefused() {
        for rsv: UInt8 in 1...7 {
            for opcode: UInt8 in [0x1, 0x2, 0x8, 0x9] {
                XCTAssertEqual(parseEverySplit(makeClientFrame(opcode, [], rsv: rsv)), [.failed(.reservedBitsSet)])
            }
        }
    }

    func testReservedOpcodesAreRefusedOnTheFirstByte() {
        for opcode: UInt8 in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(opcode, [1, 2])), [.failed(.reservedOpcode(opcode))])
            XCTAssertEqual(parseEverySplit([0x80 | opcode]), [.failed(.reservedOpcode(opcode))])
        }
    }

    // MARK: - §5.5 control frames

    func testControlFramesMustNotBeFragmented() {
        for opcode: UInt8 in [0x8, 0x9, 0xA] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(opcode, [], fin: false)), [.failed(.fragmentedControlFrame)])
        }
    }

    func testControlFramePayloadIsAtMost125Bytes() {
        let max = [UInt8](repeating: 0x61, count: 125)
        XCTAssertEqual(parseEverySplit(makeClientFrame(0x9, max)), [.frame(WebSocketFrame(opcode: .ping, payload: max))])
        for opcode: UInt8 in [0x8, 0x9, 0xA] {
            XCTAssertEqual(parseEverySplit(makeClientFrame(opcode, max + [0x61])), [.failed(.controlFrameTooLong)])
        }
    }

    func testEmptyFrames() {
        XCTAssertEqual(parseEverySplit(makeClientFrame(0x1, []) + makeClientFrame(0x9, []) + makeClientFrame(0x8, [])), [
            .frame(WebSocketFrame(opcode: .text)), .frame(WebSocketFrame(opcode: .ping)),
            .frame(WebSocketFrame(opcode: .close)),
        ])
    }

    // MARK: - §5.4 fragmentation

    func testControlFramesMayBeInterleavedWithFragments() {
        let bytes = makeClientFrame(0x1, [0x61], fin: false) + makeClientFrame(0x9, [0x70]) + makeClientFrame(0x0, [0x62], fin: false)
            + makeClientFrame(0xA, []) + makeClientFrame(0x0, [0x63])
        XCTAssertEqual(parseEverySplit(bytes).map(\.opcodeForTest), [.text, .ping, .continuation, .pong, .continuation])
    }

    func testContinuationWithoutAStartIsRefused() {
        XCTAssertEqual(parseEverySplit(makeClientFrame(0x0, [1])), [.failed(.unexpectedContinuation)])
        let afterComplete = makeClientFrame(0x1, [0x61]) + makeClientFrame(0x0, [0x62])
        XCTAssertEqual(parseEverySplit(afterComplete).last, .failed(.unexpectedContinuation))
    }

    func testNewDataFrameDuringFragmentationIsRefused() {
        for opcode: UInt8 in [0x1, 0x2] {
            let bytes = makeClientFrame(0x1, [0x61], fin: false) + makeClientFrame(opcode, [0x62])
            XCTAssertEqual(parseEverySplit(bytes).last, .failed(.expectedContinuation))
        }
    }

    func testFailureIsSticky() {
        var parser = WebSocketFrameParser()
        XCTAssertEqual(parser.parse(makeClientFrame(0x3, [])), [.failed(.reservedOpcode(3))])
        XCTAssertEqual(parser.parse(makeClientFrame(0x1, [0x61])), [.failed(.reservedOpcode(3))])
    }

    func testPendingPayloadIsUnmaskedAsItArrives() {
        var parser = WebSocketFrameParser()
        let bytes = makeClientFrame(0x1, Array("abcdef".utf8))
        XCTAssertEqual(parser.parse(Array(bytes[..<9])), [])
        XCTAssertEqual(parser.pendingOpcode, .text)
        XCTAssertEqual(parser.pendingPayload, Array("abc".utf8))
    }

    // MARK: - Helpers

    private func parseEverySplit(_ bytes: [UInt8], max: Int = 65_536, file: StaticString = #filePath,
                                 line: UInt = #line) -> [WebSocketFrameParser.Result] {
        parseSplits(bytes, max: max, file: file, line: line)
    }

    private func parseSplits(_ bytes: [UInt8], max: Int = 65_536, file: StaticString = #filePath,
                             line: UInt = #line) -> [WebSocketFrameParser.Result] {
        let whole = Chunking.whole(bytes).flatMapResults(max: max)
        for (name, chunks) in Chunking.all(bytes) {
            let results = chunks.flatMapResults(max: max)
            if results != whole {
                XCTFail("\(name) gave \(results.count) results, whole gave \(whole.count)", file: file, line: line)
                break
            }
        }
        return whole
    }
}

private extension Array where Element == ArraySlice<UInt8> {
    func flatMapResults(max: Int) -> [WebSocketFrameParser.Result] {
        var parser = WebSocketFrameParser(maxMessageBytes: max)
        var results: [WebSocketFrameParser.Result] = []
        for chunk in self {
            results += parser.parse([UInt8](chunk))
            if case .failed = results.last { return results }
        }
        return results
    }
}

private extension WebSocketFrameParser.Result {
    var opcodeForTest: WebSocketOpcode? {
        if case .frame(let frame) = self { return frame.opcode }
        return nil
    }
}

// MARK: - Shared by the parser tests of this target

enum LengthForm { case minimal, sixteen, sixtyFour }

/// Builds a client frame (masked unless `mask` is nil), including deliberately illegal ones.
func makeClientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0,
                 mask: [UInt8]? = [0x37, 0xfa, 0x21, 0x3d], length: LengthForm = .minimal) -> [UInt8] {
    var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
    let maskBit: UInt8 = mask == nil ? 0 : 0x80
    let count = payload.count
    switch length {
    case .minimal where count < 126:
        bytes.append(maskBit | UInt8(count))
    case .minimal where count < 65_536, .sixteen:
        bytes += [maskBit | 126, UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)]
    default:
        bytes.append(maskBit | 127)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: count >> shift)) }
    }
    guard let mask else { return bytes + payload }
    bytes += mask
    for (index, byte) in payload.enumerated() { bytes.append(byte ^ mask[index & 3]) }
    return bytes
}

/// The ways every parser test cuts its input into reads: whole, two pieces at every offset (a
/// spread of offsets for inputs over `exhaustiveLimit` bytes), one byte at a time, and seeded
/// random chunk sizes.
enum Chunking {
    static func whole(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] { [bytes[...]] }

    static func all(_ bytes: [UInt8], exhaustiveLimit: Int = 1_024) -> [(String, [ArraySlice<UInt8>])] {
        var result: [(String, [ArraySlice<UInt8>])] = []
        let offsets: [Int]
        if bytes.count <= exhaustiveLimit {
            offsets = Array(0...bytes.count)
        } else {
            let edges = Array(0..<48) + Array(bytes.count - 48...bytes.count)
            let step = Swift.max(1, bytes.count / 64)
            offsets = Array(Set(edges + Array(stride(from: 0, to: bytes.count, by: step)))).sorted()
        }
        for offset in offsets {
            result.append(("split at \(offset)", [bytes[..<offset], bytes[offset...]]))
        }
        result.append(("one byte at a time", bytes.indices.map { bytes[$0..<$0 + 1] }))
        for seed: UInt64 in 1...4 {
            var random = SplitMix64(seed: seed)
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            let largest = Swift.max(1, bytes.count / 3)
            while start < bytes.count {
                let size = Swift.min(bytes.count - start, 1 + Int(random.next() % UInt64(largest)))
                chunks.append(bytes[start..<start + size])
                start += size
            }
            result.append(("random chunks, seed \(seed)", chunks))
        }
        return result
    }
}

/// A small seeded generator so random splits are reproducible.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
