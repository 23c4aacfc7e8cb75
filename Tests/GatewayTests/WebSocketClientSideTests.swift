import XCTest
@testable import Gateway

/// The client's half of RFC 6455 framing, which `parley bench` uses: masked frames out (§5.3), the server's
/// unmasked frames in (§5.1), each read whole, split at every offset, one byte at a time and in random chunks.
final class WebSocketClientSideTests: XCTestCase {
    // MARK: - Masked encoding

    func testRFCMaskedHelloIsByteExact() {
        // RFC 6455 §5.7: "A single-frame masked text message", key 0x37fa213d.
        XCTAssertEqual(WebSocketFrame.encodeMasked(opcode: .text, payload: Array("Hello".utf8), maskKey: 0x37FA_213D),
                       [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
        XCTAssertEqual(WebSocketFrame.encodeMasked(opcode: .text, fin: false, payload: [0x61], maskKey: 0),
                       [0x01, 0x81, 0, 0, 0, 0, 0x61], "FIN clear, and a zero key leaves the payload as it is")
    }

    func testMaskedFramesOfEveryLengthFormReadBackOnTheServerSide() {
        for (length, key) in [(0, 0x0102_0304), (1, 0xFFFF_FFFF), (125, 0x37FA_213D), (126, 0x8000_0001),
                              (65_535, 0xDEAD_BEEF), (65_536, 0x1234_5678)] as [(Int, UInt32)] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let bytes = WebSocketFrame.encodeMasked(opcode: .binary, payload: payload, maskKey: key)
            XCTAssertEqual(bytes.count, payload.count + (length < 126 ? 6 : length < 65_536 ? 8 : 14))
            XCTAssertEqual(parseEverySplit(bytes, reading: .client, max: 1 << 20),
                           [.frame(WebSocketFrame(opcode: .binary, payload: payload))], "length \(length)")
        }
    }

    func testAPongAnswersAPingWithItsPayloadMasked() {
        let bytes = WebSocketFrame.encodeMasked(opcode: .pong, payload: Array("Hello".utf8), maskKey: 0x37FA_213D)
        XCTAssertEqual(bytes, [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58], "RFC 6455 §5.7")
    }

    // MARK: - Reading the server's frames

    func testServerFramesOfEveryLengthForm() {
        for length in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            XCTAssertEqual(parseEverySplit(WebSocketFrame.encode(opcode: .text, payload: payload), max: 1 << 20),
                           [.frame(WebSocketFrame(opcode: .text, payload: payload))], "length \(length)")
        }
    }

    func testFragmentsAndInterleavedControlFramesFromTheServer() {
        let bytes = WebSocketFrame.encode(opcode: .text, fin: false, payload: Array("Hel".utf8))
            + WebSocketFrame.ping(Array("p".utf8))
            + WebSocketFrame.encode(opcode: .continuation, payload: Array("lo".utf8))
            + WebSocketFrame.close(code: .goingAway)
        XCTAssertEqual(parseEverySplit(bytes), [
            .frame(WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8))),
            .frame(WebSocketFrame(opcode: .ping, payload: Array("p".utf8))),
            .frame(WebSocketFrame(opcode: .continuation, payload: Array("lo".utf8))),
            .frame(WebSocketFrame(opcode: .close, payload: [0x03, 0xE9])),
        ])
    }

    func testAMaskedServerFrameIsRefusedAtItsSecondByte() {
        let masked = WebSocketFrame.encodeMasked(opcode: .text, payload: Array("Hello".utf8), maskKey: 0x37FA_213D)
        XCTAssertEqual(parseEverySplit(masked), [.failed(.maskedFrame)])
        XCTAssertEqual(parseEverySplit(Array(masked[..<2])), [.failed(.maskedFrame)], "decided at byte 2")
        XCTAssertEqual(WebSocketProtocolError.maskedFrame.closeCode, .protocolError)
        XCTAssertEqual(parseEverySplit(WebSocketFrame.text("Hello"), reading: .client), [.failed(.unmaskedFrame)],
                       "the server side still refuses what the client side reads")
    }

    func testTheOtherFramingRulesHoldForServerFramesToo() {
        XCTAssertEqual(parseEverySplit(WebSocketFrame.encode(opcode: .ping, payload: [UInt8](repeating: 0, count: 126))),
                       [.failed(.controlFrameTooLong)])
        XCTAssertEqual(parseEverySplit(WebSocketFrame.text(String(repeating: "x", count: 101)), max: 100),
                       [.failed(.messageTooBig)])
        XCTAssertEqual(parseEverySplit(WebSocketFrame.encode(opcode: .continuation, payload: [1])),
                       [.failed(.unexpectedContinuation)])
        XCTAssertEqual(parseEverySplit([0x83, 0x00]), [.failed(.reservedOpcode(3))])
    }

    // MARK: - Helpers

    /// The results of parsing `bytes` whole, after checking that every other way of cutting them gives the same.
    private func parseEverySplit(_ bytes: [UInt8], reading sender: WebSocketFrameParser.Sender = .server,
                                 max: Int = 65_536, file: StaticString = #filePath,
                                 line: UInt = #line) -> [WebSocketFrameParser.Result] {
        let whole = results(Chunking.whole(bytes), sender, max)
        for (name, chunks) in Chunking.all(bytes) where results(chunks, sender, max) != whole {
            XCTFail("\(name) differs from the whole input", file: file, line: line)
            break
        }
        return whole
    }

    private func results(_ chunks: [ArraySlice<UInt8>], _ sender: WebSocketFrameParser.Sender,
                         _ max: Int) -> [WebSocketFrameParser.Result] {
        var parser = WebSocketFrameParser(maxMessageBytes: max, reading: sender)
        var results: [WebSocketFrameParser.Result] = []
        for chunk in chunks {
            results += parser.parse([UInt8](chunk))
            if case .failed = results.last { return results }
        }
        return results
    }
}
