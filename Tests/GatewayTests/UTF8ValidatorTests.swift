import XCTest
@testable import Gateway

/// UTF-8 validation (RFC 6455 §8.1, Unicode Table 3-7): boundary code points, the Kuhn stress
/// shapes Autobahn 6.x uses, fail-fast on an invalid prefix, and chunk-split invariance.
final class UTF8ValidatorTests: XCTestCase {
    private let valid: [[UInt8]] = [
        [],
        Array("Hello-µ@ßöäüàá-UTF-8!!".utf8),
        [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5],  // κόσμε
        [0x00], [0x7F],                                  // U+0000, U+007F
        [0xC2, 0x80], [0xDF, 0xBF],                      // U+0080, U+07FF
        [0xE0, 0xA0, 0x80], [0xEF, 0xBF, 0xBF],          // U+0800, U+FFFF
        [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],          // U+D7FF, U+E000 around the surrogates
        [0xEF, 0xBF, 0xBE],                              // U+FFFE: a noncharacter, still valid
        [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],  // U+10000, U+10FFFF
        [0xF3, 0xBF, 0xBF, 0xBF],
    ]

    private let invalid: [[UInt8]] = [
        [0x80], [0xBF], [0x80, 0xBF, 0x80],              // lone continuation bytes
        [0xC0, 0x80], [0xC1, 0xBF],                      // overlong 2-byte
        [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],          // overlong 3-byte
        [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],  // overlong 4-byte
        [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],          // UTF-16 surrogates
        [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],            // a surrogate pair
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],  // above U+10FFFF
        [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],  // 5- and 6-byte forms
        [0xC2, 0x41], [0xE1, 0x80, 0x41],                // a sequence cut by ASCII
        Array("abcdefghij".utf8) + [0xC0] + Array("klmnopq".utf8),  // after the ASCII fast path
    ]

    func testValidSamplesAreComplete() {
        for sample in valid {
            XCTAssertTrue(UTF8Validator.isValid(sample), "\(sample)")
            assertSameVerdictForEverySplit(sample, expectValid: true)
        }
    }

    func testInvalidSamplesFail() {
        for sample in invalid {
            XCTAssertFalse(UTF8Validator.isValid(sample), "\(sample)")
            assertSameVerdictForEverySplit(sample, expectValid: false)
        }
    }

    func testTruncatedSequenceIsIncompleteButNotInvalid() {
        for prefix: [UInt8] in [[0xC2], [0xE0, 0xA0], [0xF0, 0x90, 0x80], [0xF4]] {
            var validator = UTF8Validator()
            XCTAssertTrue(validator.validate(prefix), "\(prefix) may still become valid")
            XCTAssertFalse(validator.isComplete)
            XCTAssertFalse(validator.isInvalid)
        }
    }

    func testFailsAtTheFirstInvalidByteNotLater() {
        // Autobahn 6.4.x: κόσμε, then ED A0 80 (a surrogate), then more text.
        let text: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80] + Array("edited".utf8)
        let firstBad = 12  // A0 after ED
        for end in 0...text.count {
            var validator = UTF8Validator()
            XCTAssertEqual(validator.validate(text[..<end]), end <= firstBad, "prefix of \(end) bytes")
        }
    }

    func testStaysInvalidUntilReset() {
        var validator = UTF8Validator()
        XCTAssertFalse(validator.validate([0xFF]))
        XCTAssertFalse(validator.validate(Array("ok".utf8)))
        XCTAssertTrue(validator.isInvalid)
        validator.reset()
        XCTAssertTrue(validator.validate(Array("ok".utf8)))
        XCTAssertTrue(validator.isComplete)
    }

    func testAgreesWithTheStandardLibraryOnRandomInput() {
        var random = SplitMix64(seed: 6455)
        // Bytes drawn mostly from the interesting ranges so multi-byte shapes are common.
        let pool: [UInt8] = Array(0x78...0x82) + Array(0x8E...0x91) + Array(0x9E...0xA1) + Array(0xBE...0xC3)
            + Array(0xDE...0xE1) + [0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let count = Int(random.next() % 12)
            let bytes = (0..<count).map { _ in pool[Int(random.next() % UInt64(pool.count))] }
            let expected = String(validating: bytes, as: UTF8.self) != nil
            XCTAssertEqual(UTF8Validator.isValid(bytes), expected, "\(bytes.map { String($0, radix: 16) })")
        }
    }

    func testLongASCIIWithABadByteAtEveryPosition() {
        for position in 0..<40 {
            var bytes = [UInt8](repeating: 0x61, count: 40)
            bytes[position] = 0x80
            XCTAssertFalse(UTF8Validator.isValid(bytes), "bad byte at \(position)")
        }
    }

    private func assertSameVerdictForEverySplit(_ bytes: [UInt8], expectValid: Bool,
                                                file: StaticString = #filePath, line: UInt = #line) {
        for (name, chunks) in Chunking.all(bytes) {
            var validator = UTF8Validator()
            var ok = true
            for chunk in chunks where ok { ok = validator.validate(chunk) }
            XCTAssertEqual(ok && validator.isComplete, expectValid, "\(bytes) \(name)", file: file, line: line)
        }
    }
}
