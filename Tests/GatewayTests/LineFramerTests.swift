import XCTest
@testable import Gateway

/// Line framing, checked on whole input, split at every offset and one byte at a time: the lines
/// delivered must not depend on how the bytes were cut.
final class LineFramerTests: XCTestCase {
    private let sample = Array("hello\n\nworld\r\n{\"a\":1}\na\r\rb\r\nlast".utf8)
    private let sampleLines = ["hello", "", "world", "{\"a\":1}", "a\r\rb"]

    func testSplitsLinesAtEveryOffset() {
        for offset in 0...sample.count {
            var framer = LineFramer(maxLineBytes: 100)
            var lines: [String] = []
            for chunk in [sample[..<offset], sample[offset...]] {
                XCTAssertEqual(framer.feed(chunk) { lines.append(String(decoding: $0, as: UTF8.self)) }, .needMoreData)
            }
            XCTAssertEqual(lines, sampleLines, "split at \(offset)")
            XCTAssertEqual(framer.bufferedByteCount, 4, "\"last\" waits for its newline")
        }
    }

    func testSplitsLinesFedOneByteAtATime() {
        var framer = LineFramer(maxLineBytes: 100)
        var lines: [String] = []
        for index in sample.indices {
            _ = framer.feed(sample[index...index]) { lines.append(String(decoding: $0, as: UTF8.self)) }
        }
        XCTAssertEqual(lines, sampleLines)
    }

    func testStripsExactlyOneCarriageReturn() {
        XCTAssertEqual(lines(of: "a\r\r\n\r\n\rb\n"), ["a\r", "", "\rb"])
    }

    func testDeliversEmptyLines() {
        XCTAssertEqual(lines(of: "\n\n\r\n"), ["", "", ""])
    }

    func testLineOfExactlyTheLimitIsAccepted() {
        let limit = 65_536
        let line = [UInt8](repeating: UInt8(ascii: "x"), count: limit)
        for terminator in ["\n", "\r\n"] {
            let input = line + Array(terminator.utf8)
            for chunkSize in [input.count, 1000, 7] {
                var framer = LineFramer(maxLineBytes: limit)
                var lengths: [Int] = []
                var outcome = LineFramer.Outcome.needMoreData
                for start in stride(from: 0, to: input.count, by: chunkSize) {
                    outcome = framer.feed(input[start..<min(start + chunkSize, input.count)]) { lengths.append($0.count) }
                    XCTAssertEqual(outcome, .needMoreData)
                }
                XCTAssertEqual(lengths, [limit], "terminator \(terminator.debugDescription), chunks of \(chunkSize)")
            }
        }
    }

    func testLineOneByteOverTheLimitIsTooLong() {
        let limit = 65_536
        let input = [UInt8](repeating: UInt8(ascii: "x"), count: limit + 1) + [UInt8(ascii: "\n")]
        for chunkSize in [input.count, 1000, 7] {
            var framer = LineFramer(maxLineBytes: limit)
            var delivered = 0
            var outcomes: [LineFramer.Outcome] = []
            for start in stride(from: 0, to: input.count, by: chunkSize) {
                outcomes.append(framer.feed(input[start..<min(start + chunkSize, input.count)]) { _ in delivered += 1 })
            }
            XCTAssertEqual(outcomes.last, .lineTooLong, "chunks of \(chunkSize)")
            XCTAssertEqual(delivered, 0)
        }
    }

    func testTooLongIsDetectedBeforeTheNewlineArrives() {
        var framer = LineFramer(maxLineBytes: 4)
        XCTAssertEqual(framer.feed(Array("abcd".utf8)[...]) { _ in }, .needMoreData)
        XCTAssertEqual(framer.feed(Array("\r".utf8)[...]) { _ in }, .needMoreData, "the \\r may still be stripped")
        XCTAssertEqual(framer.feed(Array("x".utf8)[...]) { _ in }, .lineTooLong)
        XCTAssertEqual(framer.bufferedByteCount, 0, "a failed framer keeps nothing")
    }

    func testNothingIsDeliveredAfterFailure() {
        var framer = LineFramer(maxLineBytes: 3)
        var lines: [String] = []
        let outcome = framer.feed(Array("ok\ntoolong\nlater\n".utf8)[...]) { lines.append(String(decoding: $0, as: UTF8.self)) }
        XCTAssertEqual(outcome, .lineTooLong)
        XCTAssertEqual(lines, ["ok"], "lines before the long one are delivered, none after")
        XCTAssertEqual(framer.feed(Array("x\n".utf8)[...]) { _ in XCTFail("delivered after failure") }, .lineTooLong)
        XCTAssertTrue(framer.hasFailed)
    }

    func testDeliveredSlicesKeptByTheCallerStayIntact() {
        var framer = LineFramer(maxLineBytes: 100)
        var kept: [ArraySlice<UInt8>] = []
        _ = framer.feed(Array("par".utf8)[...]) { kept.append($0) }
        _ = framer.feed(Array("tial\nnext".utf8)[...]) { kept.append($0) }
        _ = framer.feed(Array(" one\n".utf8)[...]) { kept.append($0) }
        XCTAssertEqual(kept.map { String(decoding: $0, as: UTF8.self) }, ["partial", "next one"])
    }

    private func lines(of text: String) -> [String] {
        var framer = LineFramer(maxLineBytes: 100)
        var lines: [String] = []
        _ = framer.feed(Array(text.utf8)[...]) { lines.append(String(decoding: $0, as: UTF8.self)) }
        return lines
    }
}
