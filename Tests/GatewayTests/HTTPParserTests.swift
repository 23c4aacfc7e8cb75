import XCTest
@testable import Gateway

/// The request parser: keep-alive and pipelining, HEAD, each limit, the request-smuggling
/// shapes and the upgrade hand-off. Every input is also fed split at every offset, one byte at a
/// time and in random chunks, and must give the same requests and outcome.
final class HTTPParserTests: XCTestCase {
    private func get(_ target: String = "/", _ headers: String = "") -> String {
        "GET \(target) HTTP/1.1\r\nHost: example\r\n\(headers)\r\n"
    }

    // MARK: - Requests

    func testSimpleGet() {
        let result = parse("GET /a/b?c=1 HTTP/1.1\r\nHost: example\r\nX-Thing:  v  \r\nx-thing: w\r\nX-Empty:\r\n\r\n")
        XCTAssertEqual(result.outcome, .needMoreData)
        guard let request = result.requests.first, result.requests.count == 1 else { return XCTFail("one request") }
        XCTAssertEqual(request.method, .get)
        XCTAssertEqual(request.target, "/a/b?c=1")
        XCTAssertEqual(request.path, "/a/b")
        XCTAssertEqual(request.query, "c=1")
        XCTAssertEqual(request.version, .http1_1)
        XCTAssertEqual(request.headers.values(for: "X-THING"), ["v", "w"], "ordered, trimmed, case-insensitive")
        XCTAssertEqual(request.headers["x-empty"], "")
        XCTAssertEqual(request.headers.map(\.name), ["Host", "X-Thing", "x-thing", "X-Empty"])
        XCTAssertTrue(request.keepAlive)
        XCTAssertEqual(request.body, [])
    }

    func testPostWithContentLength() {
        let result = parse("POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world")
        XCTAssertEqual(result.requests.map(\.body), [Array("hello world".utf8)])
        XCTAssertEqual(result.requests.first?.method, .post)
    }

    func testChunkedBodyIsDecodedAndTrailersAreNotHeaders() {
        let result = parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        XCTAssertEqual(result.requests.map(\.body), [Array("hello world".utf8)])
        XCTAssertNil(result.requests.first?.headers["X-Trailer"])
        XCTAssertEqual(result.outcome, .needMoreData)
    }

    func testIncompleteRequestWaitsForMore() {
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nHost: h\r\n"), HTTPParseResult(requests: [], outcome: .needMoreData))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel").requests, [])
    }

    func testKeepAliveAndPipelining() {
        let input = get("/1") + "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi" + "HEAD /3 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "\r\n" + get("/4")
        let result = parse(input)
        XCTAssertEqual(result.requests.map(\.target), ["/1", "/2", "/3", "/4"])
        XCTAssertEqual(result.requests.map(\.method), [.get, .post, .head, .get])
        XCTAssertEqual(result.requests.map(\.keepAlive), [true, true, true, true])
        XCTAssertEqual(result.requests[1].body, Array("hi".utf8))
        XCTAssertEqual(result.outcome, .needMoreData)
    }

    func testConnectionCloseEndsTheConnectionAfterThatRequest() {
        let result = parse(get("/1", "Connection: close\r\n") + get("/2"))
        XCTAssertEqual(result.requests.map(\.target), ["/1"])
        XCTAssertEqual(result.requests.map(\.keepAlive), [false])
        XCTAssertEqual(result.outcome, .close)
    }

    func testHTTP10ClosesUnlessKeepAliveIsAsked() {
        XCTAssertEqual(parse("GET / HTTP/1.0\r\n\r\n").outcome, .close, "Host is optional in 1.0")
        let kept = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(kept.requests.map(\.keepAlive), [true])
        XCTAssertEqual(kept.requests.first?.version, .http1_0)
    }

    func testEmptyLinesBeforeARequestAreIgnored() {
        XCTAssertEqual(parse("\r\n\r\n" + get("/a")).requests.map(\.target), ["/a"])
    }

    func testFeedsAfterTheEndAreIgnored() {
        let parser = HTTPParser()
        XCTAssertEqual(parser.feed(Array("GET  / HTTP/1.1\r\n".utf8)).outcome.statusForTest, 400)
        XCTAssertEqual(parser.feed(Array(get().utf8)), HTTPParseResult(requests: [], outcome: .close))
    }

    // MARK: - Limits

    func testHeadLimitIsInclusive() {
        let base = get("/", "X-Pad: \r\n").utf8.count
        let limit = HTTPParserConfiguration.defaultMaxHeadBytes
        let exact = get("/", "X-Pad: " + String(repeating: "p", count: limit - base) + "\r\n")
        XCTAssertEqual(exact.utf8.count, limit)
        XCTAssertEqual(parse(exact).requests.count, 1)
        let over = get("/", "X-Pad: " + String(repeating: "p", count: limit - base + 1) + "\r\n")
        XCTAssertEqual(parse(over).outcome, .failed(.headTooLarge))
        // Refused as soon as the limit is passed, without waiting for the end of the head.
        XCTAssertEqual(parse(String(over.prefix(limit + 1))).outcome, .failed(.headTooLarge))
    }

    func testTargetLimitGives414() {
        let limit = HTTPParserConfiguration.defaultMaxTargetBytes
        XCTAssertEqual(parse(get("/" + String(repeating: "a", count: limit - 1))).requests.count, 1)
        XCTAssertEqual(parse(get("/" + String(repeating: "a", count: limit))).outcome, .failed(.targetTooLong))
    }

    func testHeaderCountLimitGives431() {
        let lines = (1..<100).map { "X-\($0): v\r\n" }.joined()
        XCTAssertEqual(parse(get("/", lines)).requests.first?.headers.count, 100)
        XCTAssertEqual(parse(get("/", lines + "X-100: v\r\n")).outcome, .failed(.headTooLarge))
    }

    func testAnnouncedBodyOverTheLimitIsRefusedBeforeItArrives() {
        let limit = HTTPParserConfiguration.defaultMaxBodyBytes
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(limit + 1)\r\n\r\n").outcome,
                       .failed(.bodyTooLarge))
        let exact = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \(limit)\r\n\r\n" + String(repeating: "b", count: limit)
        let result = HTTPParser().feed(Array(exact.utf8))
        XCTAssertEqual(result.requests.first?.body.count, limit, "1 MiB is allowed")
    }

    func testChunkedBodyAndItsFramingAreBounded() {
        let small = HTTPParserConfiguration(maxHeadBytes: 64, maxBodyBytes: 10)
        let head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        XCTAssertEqual(parse(head + "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", small).requests.count, 1)
        XCTAssertEqual(parse(head + "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", small).outcome, .failed(.bodyTooLarge))
        // Size lines and trailers are not kept but may add at most maxHeadBytes (64 here).
        let trailer = { (size: Int) in head + "5\r\nhello\r\n0\r\nX-T: " + String(repeating: "t", count: size) + "\r\n\r\n" }
        XCTAssertEqual(parse(trailer(10), small).requests.count, 1)
        XCTAssertEqual(parse(trailer(60), small).outcome, .failed(.bodyTooLarge))
        XCTAssertEqual(parse(head + String(repeating: "1\r\nx\r\n", count: 20), small).outcome, .failed(.bodyTooLarge))
    }

    func testMalformedTrailerGivesTheSameAnswerWhateverTheSplit() {
        // Found by the fuzzer: a trailer line without a colon, longer than the body limit.
        let small = HTTPParserConfiguration(maxHeadBytes: 64, maxTargetBytes: 16, maxBodyBytes: 8, maxHeaderCount: 3)
        let input = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nhello" + String(repeating: "~", count: 40) + "\r\n3;x=y\r\n: 1\r\n\r\n"
        XCTAssertEqual(parse(input, small).outcome.statusForTest, 400)
    }

    // MARK: - Smuggling shapes and other refusals

    func testSmugglingShapesAreRefused() {
        let cases: [(String, String, Int)] = [
            ("CL + TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("TE + CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
            ("two equal CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
            ("two different CL", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            ("CL list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
            ("CL sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
            ("CL hex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", 400),
            ("CL overflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551617\r\n\r\n", 400),
            ("TE chunked, gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
            ("TE identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400),
            ("obs-fold SP", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
            ("obs-fold HTAB hiding TE", "POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n", 400),
            ("bare LF everywhere", "GET / HTTP/1.1\nHost: h\n\n", 400),
            ("bare LF after request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
            ("bare LF in a header line", "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400),
            ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400),
            ("bare CR", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
            ("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
            ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
            ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
            ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400),
            ("HTTP/0.9 line", "GET /\r\n\r\n", 400),
            ("lowercase version", "GET / http/1.1\r\nHost: h\r\n\r\n", 400),
            ("HTTP/1.0 + TE", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("double space before target", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("double space before version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("tab separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("space before the request line", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
            ("space before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400),
            ("NUL in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", 400),
            ("control in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n", 400),
            ("no colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
            ("raw UTF-8 in target", "GET /é HTTP/1.1\r\nHost: h\r\n\r\n", 400),
            ("invalid chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            ("chunk without CRLF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX0\r\n\r\n", 400),
            ("bad method", "G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ]
        for (name, input, status) in cases {
            let result = parse(input, name: name)
            XCTAssertEqual(result.requests, [], name)
            XCTAssertEqual(result.outcome.statusForTest, status, name)
            // Pipelined behind a good request: the good one is answered, nothing after the bad one.
            let piped = parse(get("/first") + input + get("/after"), name: name + " (pipelined)")
            XCTAssertEqual(piped.requests.map(\.target), ["/first"], name)
            XCTAssertEqual(piped.outcome.statusForTest, status, name)
        }
    }

    // MARK: - Upgrade

    func testWebSocketUpgradeStopsAfterTheHeadAndReturnsLeftoverBytes() {
        let head = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let frameBytes: [UInt8] = [0x81, 0x82, 1, 2, 3, 4, 0x69 ^ 1, 0x6A ^ 2] + Array("GET / HTTP/1.1\r\n".utf8)
        let result = parse(Array(get("/before").utf8) + Array(head.utf8) + frameBytes)
        XCTAssertEqual(result.requests.map(\.target), ["/before", "/ws"])
        XCTAssertEqual(result.outcome, .upgrade(leftover: frameBytes))
        XCTAssertEqual(parse(head).outcome, .upgrade(leftover: []))
    }

    func testOtherUpgradesAreIgnoredAndHTTPContinues() {
        let result = parse(get("/x", "Upgrade: h2c\r\nConnection: Upgrade\r\n") + get("/y"))
        XCTAssertEqual(result.requests.map(\.target), ["/x", "/y"])
        XCTAssertEqual(result.outcome, .needMoreData)
    }

    func testConnectIsDeliveredThenTheConnectionCloses() {
        let result = parse("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\ntunnel bytes")
        XCTAssertEqual(result.requests.map(\.method), [.connect])
        XCTAssertEqual(result.requests.map(\.keepAlive), [false])
        XCTAssertEqual(result.outcome, .close)
    }

    // MARK: - Helpers

    private func parse(_ text: String, _ configuration: HTTPParserConfiguration = HTTPParserConfiguration(),
                       name: String = "", file: StaticString = #filePath, line: UInt = #line) -> HTTPParseResult {
        parse(Array(text.utf8), configuration, name: name, file: file, line: line)
    }

    private func parse(_ input: [UInt8], _ configuration: HTTPParserConfiguration = HTTPParserConfiguration(),
                       name: String = "", file: StaticString = #filePath, line: UInt = #line) -> HTTPParseResult {
        let whole = Self.feed(Chunking.whole(input), configuration)
        for (split, chunks) in Chunking.all(input) {
            let result = Self.feed(chunks, configuration)
            if result != whole {
                XCTFail("\(name) \(split): \(result.outcome) \(result.requests.count) requests; whole input: "
                        + "\(whole.outcome) \(whole.requests.count) requests", file: file, line: line)
                break
            }
        }
        return whole
    }

    /// Feeds chunks the way a connection would: after an upgrade, later bytes join the leftover.
    static func feed(_ chunks: [ArraySlice<UInt8>], _ configuration: HTTPParserConfiguration) -> HTTPParseResult {
        let parser = HTTPParser(configuration: configuration)
        var total = HTTPParseResult(requests: [], outcome: .needMoreData)
        for chunk in chunks {
            switch total.outcome {
            case .needMoreData:
                let result = chunk.withUnsafeBytes { parser.feed($0) }
                total.requests += result.requests
                total.outcome = result.outcome
            case .upgrade(let leftover):
                total.outcome = .upgrade(leftover: leftover + chunk)
            case .close, .failed:
                return total
            }
        }
        return total
    }
}

extension HTTPParseOutcome {
    var statusForTest: Int? {
        if case .failed(let error) = self { return error.status }
        return nil
    }
}
