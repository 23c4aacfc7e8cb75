import Foundation
import XCTest
import Gateway

/// The `Authorization` header parser (Basic, RFC 7617; Bearer, RFC 6750) behind the REST API, and the inputs
/// Fuzz/FuzzAuthorization found.
final class HTTPAuthorizationTests: XCTestCase {
    func testBearerAndBasic() {
        XCTAssertEqual(HTTPAuthorization.parse("Bearer abc.DEF-123"), .success(.bearer("abc.DEF-123")))
        XCTAssertEqual(HTTPAuthorization.parse("bearer   abc"), .success(.bearer("abc")), "scheme any case, spaces skipped")
        XCTAssertEqual(HTTPAuthorization.parse("Basic aGFuczpzb2xv"), .success(.basic(user: "hans", password: "solo")))
        XCTAssertEqual(HTTPAuthorization.parse("BASIC dTpwOjp4"), .success(.basic(user: "u", password: "p::x")),
                       "split at the first colon; unpadded")
        XCTAssertEqual(HTTPAuthorization.parse("Basic Og=="), .success(.basic(user: "", password: "")))
    }

    func testRefusals() {
        XCTAssertEqual(HTTPAuthorization.parse("Bearer"), .failure(.missingCredentials))
        XCTAssertEqual(HTTPAuthorization.parse("Bearer    "), .failure(.missingCredentials))
        XCTAssertEqual(HTTPAuthorization.parse(""), .failure(.missingCredentials))
        XCTAssertEqual(HTTPAuthorization.parse("Bearer a b"), .failure(.malformedBearer))
        XCTAssertEqual(HTTPAuthorization.parse("Bearer abc "), .failure(.malformedBearer))
        XCTAssertEqual(HTTPAuthorization.parse("Basic aGFucw=="), .failure(.malformedBasic), "no colon")
        XCTAssertEqual(HTTPAuthorization.parse("Basic /w=="), .failure(.malformedBasic), "not UTF-8")
        XCTAssertEqual(HTTPAuthorization.parse("Basic a-b_"), .failure(.malformedBasic), "base64url alphabet")
        XCTAssertEqual(HTTPAuthorization.parse("Digest x=1"), .failure(.unsupportedScheme))
    }

    /// Found by Fuzz/FuzzAuthorization (crash-36f2fdd2…, input 72 DF AE 02): a token beginning with a combining
    /// mark (U+07EE) fused with the separating space into one grapheme cluster, so a split by `Character` saw no
    /// space and refused `Bearer <token>` as having no credentials. The parser now splits on bytes.
    func testASpaceFollowedByACombiningMarkStillSeparates() {
        XCTAssertEqual(HTTPAuthorization.parse("Bearer \u{07EE}\u{02}"), .success(.bearer("\u{07EE}\u{02}")))
        XCTAssertEqual(HTTPAuthorization.parse("Bearer a \u{0301}"), .failure(.malformedBearer),
                       "a space before a combining mark is still a space inside the token")
        XCTAssertEqual(HTTPAuthorization.parse("Basic\u{0301} aGFuczpzb2xv"), .failure(.unsupportedScheme))
    }

    /// Found by Fuzz/FuzzAuthorization (crash-c605af68…): in `user:<U+07EC>…` the colon and the combining mark
    /// are one Character, and slicing the decoded String after the colon rounded back to the Character's start,
    /// so the password came out with the colon in front. The split is now on the decoded bytes.
    func testAPasswordBeginningWithACombiningMarkKeepsItsBytes() {
        let pair = Array("\u{01}:\u{07EC}x".utf8)
        let header = "Basic " + Data(pair).base64EncodedString()
        XCTAssertEqual(HTTPAuthorization.parse(header), .success(.basic(user: "\u{01}", password: "\u{07EC}x")))
        let colonMark = "Basic " + Data(Array("a:\u{0301}:b".utf8)).base64EncodedString()
        XCTAssertEqual(HTTPAuthorization.parse(colonMark), .success(.basic(user: "a", password: "\u{0301}:b")))
    }
}
