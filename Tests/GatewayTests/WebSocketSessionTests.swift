import XCTest
@testable import Gateway

/// Message-level behaviour (RFC 6455 §5.4–§5.5, §7, §8.1): reassembly, ping/pong, UTF-8 across
/// fragments, size limit, close handshake. Every input is also fed split at every offset, one
/// byte at a time and in random chunks, and must give the same actions.
final class WebSocketSessionTests: XCTestCase {
    private func text(_ string: String) -> WebSocketAction { .text(Array(string.utf8)) }
    private func failure(_ code: WebSocketCloseCode) -> [WebSocketAction] {
        [.send(WebSocketFrame.close(code: code)), .close(code)]
    }

    // MARK: - Messages

    func testSingleFrameTextAndBinary() {
        let input = makeClientFrame(0x1, Array("Hello".utf8)) + makeClientFrame(0x2, [0, 1, 2, 255])
        XCTAssertEqual(receiveEverySplit(input), [text("Hello"), .binary([0, 1, 2, 255])])
    }

    func testEmptyMessages() {
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, []) + makeClientFrame(0x2, [])), [.text([]), .binary([])])
    }

    func testFragmentedMessageWithInterleavedPingAnswersThePingFirst() {
        let input = makeClientFrame(0x1, Array("Hel".utf8), fin: false) + makeClientFrame(0x9, Array("p".utf8))
            + makeClientFrame(0x0, [], fin: false) + makeClientFrame(0x0, Array("lo".utf8))
        XCTAssertEqual(receiveEverySplit(input), [.send(WebSocketFrame.pong(Array("p".utf8))), text("Hello")])
    }

    func testFragmentedBinaryMessage() {
        let input = makeClientFrame(0x2, [1], fin: false) + makeClientFrame(0x0, [2], fin: false) + makeClientFrame(0x0, [3])
        XCTAssertEqual(receiveEverySplit(input), [.binary([1, 2, 3])])
    }

    func testSequencingErrorsFailWith1002() {
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x0, [1])), failure(.protocolError))
        let nested = makeClientFrame(0x1, [0x61], fin: false) + makeClientFrame(0x1, [0x62])
        XCTAssertEqual(receiveEverySplit(nested), failure(.protocolError))
    }

    func testHeaderViolationsFailWith1002WithExactCloseFrame() {
        let expected: [WebSocketAction] = [.send([0x88, 0x02, 0x03, 0xEA]), .close(.protocolError)]
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, [1], mask: nil)), expected, "unmasked")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, [1], rsv: 4)), expected, "RSV1")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x3, [1])), expected, "opcode 3")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0xB, [1])), expected, "opcode 0xB")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x9, [], fin: false)), expected, "fragmented ping")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x9, [UInt8](repeating: 1, count: 126))), expected, "126-byte ping")
    }

    func testAValidMessageBeforeAViolationIsStillDelivered() {
        let input = makeClientFrame(0x1, Array("ok".utf8)) + makeClientFrame(0x1, [1], rsv: 2) + makeClientFrame(0x1, Array("no".utf8))
        XCTAssertEqual(receiveEverySplit(input), [text("ok")] + failure(.protocolError))
    }

    // MARK: - Size limit (inclusive)

    func testMessageOf65536BytesIsAcceptedAnd65537Fails() {
        let atLimit = [UInt8](repeating: 0x61, count: 65_536)
        XCTAssertEqual(receiveSplits(makeClientFrame(0x1, atLimit)), [.text(atLimit)])
        XCTAssertEqual(receiveSplits(makeClientFrame(0x1, atLimit + [0x61])), failure(.messageTooBig))
        let fragmented = makeClientFrame(0x1, Array(atLimit[..<1000]), fin: false) + makeClientFrame(0x0, Array(atLimit[1000...]))
        XCTAssertEqual(receiveSplits(fragmented), [.text(atLimit)])
        let fragmentedOver = makeClientFrame(0x1, Array(atLimit[..<1000]), fin: false) + makeClientFrame(0x0, Array(atLimit[999...]))
        XCTAssertEqual(receiveSplits(fragmentedOver), failure(.messageTooBig))
    }

    func testLimitCanBeRaisedForConformanceRuns() {
        let big = [UInt8](repeating: 7, count: 100_000)
        XCTAssertEqual(WebSocketSession(maxMessageBytes: 1 << 20).receive(makeClientFrame(0x2, big)), [.binary(big)])
        XCTAssertEqual(WebSocketSession().receive(makeClientFrame(0x2, big)), failure(.messageTooBig))
    }

    // MARK: - UTF-8 (§8.1)

    func testValidUTF8SplitInsideACodePointAcrossFragments() {
        let kosme: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5]
        for cut in 0...kosme.count {
            let input = makeClientFrame(0x1, Array(kosme[..<cut]), fin: false) + makeClientFrame(0x0, Array(kosme[cut...]))
            XCTAssertEqual(receiveEverySplit(input), [.text(kosme)], "cut at \(cut)")
        }
    }

    func testInvalidUTF8Fails1007() {
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, [0xED, 0xA0, 0x80])), failure(.invalidPayload))
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, [0xCE], fin: false) + makeClientFrame(0x0, [0x41])),
                       failure(.invalidPayload), "invalid across the fragment boundary")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x1, [0xCE])), failure(.invalidPayload), "incomplete at message end")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x2, [0xFF])), [.binary([0xFF])], "binary is not checked")
    }

    func testInvalidPrefixFailsBeforeTheFragmentOrFrameEnds() {
        // Autobahn 6.4.1/6.4.2: the bad fragment arrives, the rest never does; fail now.
        let kosme: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5]
        let session = WebSocketSession()
        XCTAssertEqual(session.receive(makeClientFrame(0x1, kosme, fin: false)), [])
        XCTAssertEqual(session.receive(makeClientFrame(0x0, [0xF4, 0x90, 0x80, 0x80], fin: false)), failure(.invalidPayload))
        // Autobahn 6.4.3/6.4.4: one frame; its bytes arrive in chops and the bad byte comes mid-frame.
        let frame = makeClientFrame(0x1, kosme + [0xF4, 0x90, 0x80, 0x80] + Array("edited".utf8))
        let firstBadByte = 6 + 11 + 1  // header and mask, κόσμε, then F4 90: 90 is the first bad byte
        let chopped = WebSocketSession()
        XCTAssertEqual(chopped.receive(Array(frame[..<firstBadByte])), [])
        XCTAssertEqual(chopped.receive(Array(frame[firstBadByte..<firstBadByte + 1])), failure(.invalidPayload))
        XCTAssertEqual(chopped.receive(Array(frame[(firstBadByte + 1)...])), [])
    }

    func testTextAfterAnInvalidMessageIsNotDelivered() {
        let input = makeClientFrame(0x1, [0xC0, 0x80]) + makeClientFrame(0x1, Array("late".utf8))
        XCTAssertEqual(receiveEverySplit(input), failure(.invalidPayload))
    }

    // MARK: - Ping / pong (§5.5.2, §5.5.3)

    func testPingIsAnsweredWithTheSamePayload() {
        let payload = [UInt8](repeating: 0xFE, count: 125)
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x9, payload) + makeClientFrame(0x9, [])),
                       [.send(WebSocketFrame.pong(payload)), .send([0x8A, 0x00])])
    }

    func testUnsolicitedPongIsReportedNotAnswered() {
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0xA, [1, 2])), [.pong([1, 2])])
    }

    // MARK: - Close handshake (§5.5.1, §7)

    func testValidCloseCodesAreEchoed() {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            let closeCode = WebSocketCloseCode(rawValue: code)
            let input = makeClientFrame(0x8, closePayload(code, "bye")) + makeClientFrame(0x1, Array("ignored".utf8))
            XCTAssertEqual(receiveEverySplit(input), [.send(WebSocketFrame.close(code: closeCode)), .close(closeCode)], "\(code)")
        }
    }

    func testInvalidCloseCodesFail1002() {
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, closePayload(code, ""))), failure(.protocolError), "\(code)")
        }
    }

    func testClosePayloadShapes() {
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, [])), [.send([0x88, 0x00]), .close(.noStatusReceived)])
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, [0x03])), failure(.protocolError), "1-byte payload")
        let reason123 = String(repeating: "r", count: 123)
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, closePayload(1000, reason123))),
                       [.send(WebSocketFrame.close(code: .normalClosure)), .close(.normalClosure)])
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, closePayload(1000, reason123 + "r"))), failure(.protocolError),
                       "124-byte reason makes a 126-byte control frame")
        XCTAssertEqual(receiveEverySplit(makeClientFrame(0x8, [0x03, 0xE8, 0xCE, 0xBA, 0xFF])), failure(.invalidPayload),
                       "invalid UTF-8 reason")
    }

    func testServerInitiatedClose() {
        let session = WebSocketSession()
        XCTAssertEqual(session.close(code: .goingAway), [.send([0x88, 0x02, 0x03, 0xE9])])
        XCTAssertEqual(session.state, .closeSent)
        XCTAssertEqual(session.close(code: .goingAway), [], "only one close frame")
        // While waiting: no pong, no delivery; the peer's close ends it without another frame.
        let input = makeClientFrame(0x9, [1]) + makeClientFrame(0x1, Array("x".utf8)) + makeClientFrame(0x8, closePayload(1001, ""))
        XCTAssertEqual(session.receive(input), [.close(.goingAway)])
        XCTAssertEqual(session.state, .closed)
        XCTAssertEqual(session.receive(makeClientFrame(0x1, Array("y".utf8))), [])
    }

    func testViolationAfterServerCloseClosesWithoutASecondFrame() {
        let session = WebSocketSession()
        _ = session.close(code: .normalClosure)
        XCTAssertEqual(session.receive(makeClientFrame(0x3, [])), [.close(.protocolError)])
    }

    func testLeftoverBytesFromTheUpgradeAreOrdinaryInput() {
        let session = WebSocketSession()
        let input = makeClientFrame(0x1, Array("first".utf8)) + Array(makeClientFrame(0x1, Array("second".utf8))[..<3])
        XCTAssertEqual(session.receive(input), [text("first")])
    }

    // MARK: - Helpers

    private func closePayload(_ code: UInt16, _ reason: String) -> [UInt8] {
        [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
    }

    private func receiveEverySplit(_ input: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [WebSocketAction] {
        receiveSplits(input, file: file, line: line)
    }

    private func receiveSplits(_ input: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [WebSocketAction] {
        let whole = WebSocketSession().receive(input)
        for (name, chunks) in Chunking.all(input) {
            let session = WebSocketSession()
            let actions = chunks.flatMap { session.receive([UInt8]($0)) }
            if actions != whole {
                XCTFail("\(name): \(actions.count) actions, whole input gave \(whole.count)", file: file, line: line)
                break
            }
        }
        return whole
    }
}
