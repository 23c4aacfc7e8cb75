import Foundation
import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// Routing, methods and the error model for bad input (docs/PROTOCOL.md §10: 400, 404, 405, 413, 415).
final class RESTRouterTests: XCTestCase {
    func testPathsOutsideTheAPIAreLeftToTheGateway() {
        let h = RESTHarness()
        for target in ["/", "/index.html", "/ws", "/app.js", "/apix", "/healthzz", "/metrics/", "/docs/openapi.yaml"] {
            XCTAssertNil(h.call(.get, target), target)
        }
    }

    func testUnknownAPIPathsAre404JSON() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        for target in ["/api", "/api/", "/api/nope", "/api/whoelse/", "/api/blocks/", "/api/blocks/luke/x", "/api/login/x"] {
            let response = h.call(.get, target, headers: auth)
            XCTAssertEqual(response?.status, 404, target)
            XCTAssertEqual(RESTHarness.errorCode(response), "not_found", target)
        }
    }

    func testWrongMethodIs405WithAllow() {
        let h = RESTHarness()
        let expectations: [(HTTPMethod, String, String)] = [
            (.get, "/api/login", "POST"), (.put, "/api/messages", "POST"), (.delete, "/api/logout", "POST"),
            (.post, "/api/whoelse", "GET, HEAD"), (.patch, "/api/history", "GET, HEAD"),
            (.post, "/api/blocks", "GET, HEAD"), (.get, "/api/blocks/luke", "PUT, DELETE"),
            (.post, "/api/inbox", "GET, HEAD"), (.get, "/api/inbox/ack", "POST"), (.put, "/api/inbox/ack", "POST"),
            (.post, "/healthz", "GET, HEAD"), (.delete, "/metrics", "GET, HEAD"), (.options, "/openapi.yaml", "GET, HEAD"),
            (HTTPMethod(rawValue: "TRACE"), "/api/register", "POST"),
        ]
        for (method, target, allow) in expectations {
            // No credentials: the method is judged first, so the answer does not depend on who asks.
            let response = h.call(method, target)
            XCTAssertEqual(response?.status, 405, "\(method) \(target)")
            XCTAssertEqual(response?.headers["Allow"], allow, "\(method) \(target)")
        }
    }

    func testHeadIsAllowedWhereGetIs() {
        let h = RESTHarness()
        XCTAssertEqual(h.call(.head, "/healthz")?.status, 200)
        XCTAssertEqual(h.call(.head, "/api/whoelse", headers: h.bearer("hans", "falcon*solo"))?.status, 200)
    }

    func testBodiesThatAreNotJSONObjectsAre400() {
        let h = RESTHarness()
        for body in ["", "{", "nope", "[]", "\"text\"", "42", "null", #"{"user":"hans","password":"x"} trailing"#,
                     String(repeating: "[", count: 10_000), "{\"user\":\"\u{1}\"", "\u{FEFF}{}"] {
            let response = h.call(.post, "/api/login", json: body)
            XCTAssertEqual(response?.status, 400, body.prefix(20).debugDescription)
            XCTAssertEqual(RESTHarness.errorCode(response), "bad_request")
        }
        let request = HTTPRequest(method: .post, target: "/api/login", headers: ["Content-Type": "application/json"],
                                  body: [0x7B, 0xFF, 0xFE, 0x7D])
        XCTAssertEqual(h.send(request)?.status, 400)
    }

    func testMissingOrIllTypedFieldsAre400() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        let cases: [(String, String)] = [
            ("/api/login", #"{"user":"hans"}"#), ("/api/login", #"{"password":"x"}"#),
            ("/api/login", #"{"user":1,"password":"x"}"#), ("/api/register", #"{"user":"a","password":null}"#),
            ("/api/messages", #"{"to":"luke"}"#), ("/api/messages", #"{"text":"hi"}"#),
            ("/api/messages", #"{"to":["luke"],"text":"hi"}"#), ("/api/messages", #"{"to":"luke","text":""}"#),
            ("/api/broadcasts", "{}"), ("/api/broadcasts", #"{"text":true}"#), ("/api/broadcasts", #"{"text":""}"#),
        ]
        for (target, body) in cases {
            let response = h.call(.post, target, headers: auth, json: body)
            XCTAssertEqual(response?.status, 400, "\(target) \(body)")
        }
        // Extra fields are ignored, as on the socket doors.
        XCTAssertEqual(h.call(.post, "/api/broadcasts", headers: auth, json: #"{"text":"hi","extra":[1,{}]}"#)?.status, 201)
    }

    /// There is no text limit of its own (the protocol has none): a REST text is bounded by the 1 MiB body
    /// alone, and arrives whole on the recipient's socket.
    func testATextIsBoundedOnlyByTheBodyLimit() {
        let h = RESTHarness()
        let luke = h.socketLogin("luke", "jedi")
        let auth = h.bearer("hans", "falcon*solo")
        let text = String(repeating: "x", count: 65_536)
        let response = h.call(.post, "/api/messages", headers: auth, json: #"{"to":"luke","text":"\#(text)"}"#)
        XCTAssertEqual(response?.status, 201)
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, text)
    }

    func testWrongContentTypeIs415() {
        let h = RESTHarness()
        let body = #"{"user":"hans","password":"falcon*solo"}"#
        for contentType in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "json",
                            "application/json; charset=latin1", "application/json; boundary=x", ""] {
            let response = h.call(.post, "/api/login", headers: [("Content-Type", contentType)], json: body)
            XCTAssertEqual(response?.status, 415, contentType)
            XCTAssertEqual(RESTHarness.errorCode(response), "unsupported_media_type")
        }
        let none = HTTPRequest(method: .post, target: "/api/login", body: Array(body.utf8))
        XCTAssertEqual(h.send(none)?.status, 415)
        for contentType in ["application/json", "Application/JSON", "application/json;charset=UTF-8",
                            "application/json; charset=\"utf-8\""] {
            XCTAssertEqual(h.call(.post, "/api/login", headers: [("Content-Type", contentType)], json: body)?.status,
                           200, contentType)
        }
    }

    func testABodyOverOneMebibyteIs413() {
        let h = RESTHarness()
        let big = "{\"text\":\"" + String(repeating: "x", count: 1024 * 1024) + "\"}"
        let response = h.call(.post, "/api/broadcasts", headers: h.bearer("hans", "falcon*solo"), json: big)
        XCTAssertEqual(response?.status, 413)
        XCTAssertEqual(RESTHarness.errorCode(response), "content_too_large")
    }

    func testBadPercentEncodingInThePathOrQueryIs400() {
        let h = RESTHarness()
        let auth = h.bearer("hans", "falcon*solo")
        XCTAssertEqual(h.call(.put, "/api/blocks/%zz", headers: auth)?.status, 400)
        XCTAssertEqual(h.call(.put, "/api/blocks/%ff", headers: auth)?.status, 400)
        XCTAssertEqual(h.call(.get, "/api/history?with=%", headers: auth)?.status, 400)
        XCTAssertEqual(h.call(.get, "/api/history?with=%C3", headers: auth)?.status, 400)
    }

    func testPercentDecoding() {
        XCTAssertEqual(RESTInput.percentDecoded("a%2Bb+c", plusIsSpace: true), "a+b c")
        XCTAssertEqual(RESTInput.percentDecoded("a%2bb+c", plusIsSpace: false), "a+b+c")
        XCTAssertEqual(RESTInput.percentDecoded("%C3%BC%2F%3F", plusIsSpace: false), "ü/?")
        XCTAssertNil(RESTInput.percentDecoded("%C3", plusIsSpace: false))
        XCTAssertNil(RESTInput.percentDecoded("%4", plusIsSpace: false))
        XCTAssertNil(RESTInput.percentDecoded("%g0", plusIsSpace: false))
    }

    func testHealthz() {
        let response = RESTHarness().call(.get, "/healthz")
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response.map { String(decoding: $0.body, as: UTF8.self) }, "ok\n")
        XCTAssertEqual(response?.headers["Content-Type"], "text/plain; charset=utf-8")
    }

    func testOpenAPIDocumentIsServedOr404WhenMissing() {
        let h = RESTHarness(openAPI: OpenAPIDocument(body: Array("openapi: 3.1.0\n".utf8), searched: ["x"]))
        let served = h.call(.get, "/openapi.yaml")
        XCTAssertEqual(served?.status, 200)
        XCTAssertEqual(served?.headers["Content-Type"], "application/yaml")
        XCTAssertEqual(served.map { String(decoding: $0.body, as: UTF8.self) }, "openapi: 3.1.0\n")
        let missing = RESTHarness(openAPI: OpenAPIDocument(body: nil, searched: ["/a/docs/openapi.yaml"]))
            .call(.get, "/openapi.yaml")
        XCTAssertEqual(missing?.status, 404)
        XCTAssertTrue(missing.map { String(decoding: $0.body, as: UTF8.self) }?.contains("/a/docs/openapi.yaml") ?? false)
    }

    func testOpenAPIDocumentIsFoundFromThePublicFolderOrTheExecutable() throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("parley-openapi-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let docs = root.appendingPathComponent("docs")
        let bin = root.appendingPathComponent(".build/x86_64/debug")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try Data("openapi: 3.1.0\n".utf8).write(to: docs.appendingPathComponent("openapi.yaml"))

        let fromPublic = OpenAPIDocument.load(publicDirectory: root.appendingPathComponent("public").path,
                                              executablePath: nil)
        XCTAssertEqual(fromPublic.body, Array("openapi: 3.1.0\n".utf8))
        let fromBinary = OpenAPIDocument.load(publicDirectory: "/nonexistent/public",
                                              executablePath: bin.appendingPathComponent("parley").path)
        XCTAssertEqual(fromBinary.body, Array("openapi: 3.1.0\n".utf8))
        let nowhere = OpenAPIDocument.load(publicDirectory: "/nonexistent/public", executablePath: nil)
        XCTAssertNil(nowhere.body)
        XCTAssertEqual(nowhere.searched, ["/nonexistent/docs/openapi.yaml"])
    }

    /// The repository's own document parses as the OpenAPI 3.1 we claim and names every route the router has.
    func testTheRepositoryDocumentDescribesEveryRoute() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: repo.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("openapi: 3.1"), "an OpenAPI 3.1 document")
        let routes: [RESTRoute] = [.login, .register, .logout, .whoelse, .whoelsesince, .history, .messages,
                                   .broadcasts, .blocks, .block("x"), .inbox, .inboxAck, .rooms, .room("r"),
                                   .roomMessages("r"), .roomAck("r"), .roomMembers("r"), .roomMember(room: "r", user: "u"),
                                   .roomBan(room: "r", user: "u"), .health, .metrics, .openAPI]
        for route in routes {
            XCTAssertTrue(text.contains("\n  \(route.label):\n"), "\(route.label) is described")
            for method in route.methods {
                XCTAssertTrue(text.contains("\n  \(route.label):\n") && text.contains("    \(method.rawValue.lowercased()):"),
                              "\(method) \(route.label)")
            }
        }
    }
}
