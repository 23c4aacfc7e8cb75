import Foundation
import ParleySupport
import XCTest

/// The shared base64 coder: RFC 4648's test vectors (§10) in both alphabets, with and without padding, and the
/// decoder's refusals.
final class Base64Tests: XCTestCase {
    private let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
                           "foobar": "Zm9vYmFy"]

    func testEncodingMatchesTheRFCVectors() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(Array(plain.utf8)), encoded)
            XCTAssertEqual(Base64.encode(Array(plain.utf8), padded: false), encoded.replacingOccurrences(of: "=", with: ""))
        }
    }

    func testTheURLAlphabetDiffersOnlyInItsLastTwoSymbols() {
        let bytes: [UInt8] = [0xFB, 0xFF, 0xBF]  // sextets 62, 63, 62, 63
        XCTAssertEqual(Base64.encode(bytes), "+/+/")
        XCTAssertEqual(Base64.encode(bytes, alphabet: .url), "-_-_")
    }

    func testDecodingAcceptsPaddedAndUnpaddedText() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.decode(encoded.utf8), Array(plain.utf8), encoded)
            XCTAssertEqual(Base64.decode(encoded.replacingOccurrences(of: "=", with: "").utf8), Array(plain.utf8))
        }
    }

    func testDecodingRefusesWhatIsNotStandardBase64() {
        for bad in ["ab=c", "abc===", "a-b_", "Zm9v\n", "Zm 9v", "a", "Zm9vY"] {
            XCTAssertNil(Base64.decode(bad.utf8), bad)
        }
    }

    func testDecodingReadsWhatFoundationEncodes() {
        for text in ["", "a", "ab", "abc", "hans:falcon*solo", "ü:ß", String(repeating: "xyz", count: 50)] {
            let encoded = Data(text.utf8).base64EncodedString()
            XCTAssertEqual(Base64.decode(encoded.utf8), Array(text.utf8), encoded)
            XCTAssertEqual(Base64.decode(encoded.replacingOccurrences(of: "=", with: "").utf8), Array(text.utf8))
        }
    }

    func testRandomBytesSurviveARoundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            XCTAssertEqual(Base64.decode(Base64.encode(bytes).utf8), bytes)
            XCTAssertEqual(Base64.decode(Base64.encode(bytes, padded: false).utf8), bytes)
        }
    }
}
