import XCTest
@testable import Gateway

/// Response serialization (RFC 9110/9112): status line, Date, Content-Length always,
/// Connection, HEAD, the JSON error shape, and the IMF-fixdate formatter.
final class HTTPResponseTests: XCTestCase {
    private let date = "Sun, 06 Nov 1994 08:49:37 GMT"

    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    func testOKResponseIsByteExact() {
        let response = HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array("hi".utf8))
        XCTAssertEqual(text(response.serialize(keepAlive: true, date: date)),
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: \(date)\r\nContent-Length: 2\r\n"
                       + "Connection: keep-alive\r\n\r\nhi")
    }

    func testEmptyBodyStillHasContentLengthAndCloseIsExplicit() {
        XCTAssertEqual(text(HTTPResponse(status: 200).serialize(keepAlive: false, date: date)),
                       "HTTP/1.1 200 OK\r\nDate: \(date)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    func testHeadGetsTheSameHeadWithoutTheBody() {
        let response = HTTPResponse.json(status: 200, #"{"ok":true}"#)
        let head = HTTPRequest(method: .head, target: "/")
        let get = HTTPRequest(method: .get, target: "/")
        let headBytes = text(response.serialize(for: head, date: date))
        let getBytes = text(response.serialize(for: get, date: date))
        XCTAssertTrue(headBytes.contains("Content-Length: 11\r\n"))
        XCTAssertTrue(headBytes.hasSuffix("\r\n\r\n"))
        XCTAssertEqual(getBytes, headBytes + #"{"ok":true}"#)
    }

    func testConnectionFollowsTheRequestUnlessTheResponseCloses() {
        let keep = HTTPRequest(method: .get, target: "/")
        let closing = HTTPRequest(method: .get, target: "/", keepAlive: false)
        XCTAssertTrue(text(HTTPResponse(status: 204).serialize(for: keep, date: date)).contains("Connection: keep-alive"))
        XCTAssertTrue(text(HTTPResponse(status: 200).serialize(for: closing, date: date)).contains("Connection: close"))
        XCTAssertTrue(text(HTTPResponse(status: 200, closeConnection: true).serialize(for: keep, date: date))
            .contains("Connection: close"))
    }

    func testHandlerSetFramingHeadersAreReplaced() {
        let response = HTTPResponse(status: 200, headers: ["Content-Length": "999", "Connection": "close", "Date": "x"],
                                    body: [1, 2, 3])
        let serialized = text(response.serialize(keepAlive: true, date: date))
        XCTAssertTrue(serialized.contains("Content-Length: 3\r\n"))
        XCTAssertFalse(serialized.contains("999"))
        XCTAssertEqual(serialized.components(separatedBy: "Connection:").count, 2)
        XCTAssertEqual(serialized.components(separatedBy: "Date:").count, 2)
    }

    func testNoContentAndSwitchingProtocolsCarryNoContentLength() {
        let noContent = text(HTTPResponse(status: 204, body: [1]).serialize(keepAlive: true, date: date))
        XCTAssertFalse(noContent.contains("Content-Length"))
        XCTAssertTrue(noContent.hasSuffix("\r\n\r\n"))
        let switching = text(HTTPResponse(status: 101, headers: ["Connection": "Upgrade"]).serialize(keepAlive: true, date: date))
        XCTAssertFalse(switching.contains("Content-Length"))
        XCTAssertTrue(switching.contains("Connection: Upgrade\r\n"))
        XCTAssertFalse(switching.contains("keep-alive"))
    }

    func testHeaderValuesCannotInjectLines() {
        let response = HTTPResponse(status: 200, headers: ["X": "a\r\nSet-Cookie: evil"])
        XCTAssertTrue(text(response.serialize(keepAlive: true, date: date)).contains("X: aSet-Cookie: evil\r\n"))
    }

    func testJSONErrors() {
        XCTAssertEqual(text(HTTPResponse.notFound().body), #"{"error":{"code":"not_found","message":"No such resource"}}"#)
        let notAllowed = HTTPResponse.methodNotAllowed(allowed: [.get, .head])
        XCTAssertEqual(notAllowed.status, 405)
        XCTAssertEqual(notAllowed.headers["Allow"], "GET, HEAD")
        XCTAssertEqual(notAllowed.headers["content-type"], "application/json")
        let escaped = HTTPResponse.jsonError(status: 400, code: "x", message: "a \"q\" \\ \n\u{1}")
        XCTAssertEqual(text(escaped.body), #"{"error":{"code":"x","message":"a \"q\" \\ \n\u0001"}}"#)
    }

    func testParseErrorsMapToStatusesAndClose() {
        let expected: [(HTTPParseError, Int, String)] = [
            (.malformed("bare LF"), 400, "400 Bad Request"), (.invalidHost("missing Host"), 400, "400 Bad Request"),
            (.transferEncodingInHTTP10, 400, "400 Bad Request"), (.versionNotSupported, 505, "505 HTTP Version Not Supported"),
            (.headTooLarge, 431, "431 Request Header Fields Too Large"), (.targetTooLong, 414, "414 URI Too Long"),
            (.bodyTooLarge, 413, "413 Content Too Large"),
        ]
        for (error, status, line) in expected {
            let response = HTTPResponse(parseError: error)
            XCTAssertEqual(response.status, status)
            XCTAssertTrue(response.closeConnection)
            let serialized = text(response.serialize(for: HTTPRequest(method: .get, target: "/"), date: date))
            XCTAssertTrue(serialized.hasPrefix("HTTP/1.1 \(line)\r\n"), serialized)
            XCTAssertTrue(serialized.contains("Connection: close\r\n"))
            XCTAssertTrue(serialized.contains(#"{"error":{"code":""#))
        }
    }

    func testIMFFixdate() {
        let cases: [(Int64, String)] = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),   // RFC 9110 §5.6.7's example
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_700_000_000, "Tue, 14 Nov 2023 22:13:20 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        ]
        for (seconds, expected) in cases {
            XCTAssertEqual(HTTPDate.string(secondsSince1970: seconds), expected)
        }
        XCTAssertEqual(HTTPDate.now().count, 29)
    }
}
