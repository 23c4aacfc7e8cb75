// libFuzzer target for the HTTP request parser (llhttp plus Parley's own head checks).
//
// Input layout: byte 0 picks the limits and the chunking; the rest is client bytes.
// Each input is fed whole and again in chunks; both runs must give the same requests and
// outcome, every request must respect the limits, and every request and error must produce a
// response that serializes. Build and run: see Fuzz/README.md.
import FuzzSupport
import Gateway

/// Small limits make the 413/414/431 paths reachable with short inputs.
private let configurations = [
    HTTPParserConfiguration(),
    HTTPParserConfiguration(maxHeadBytes: 64, maxTargetBytes: 16, maxBodyBytes: 8, maxHeaderCount: 3),
]

/// Feeds chunks as a connection would: after an upgrade, later bytes belong to the leftover.
private func feed(_ chunks: [ArraySlice<UInt8>], _ configuration: HTTPParserConfiguration) -> HTTPParseResult {
    let parser = HTTPParser(configuration: configuration)
    var total = HTTPParseResult(requests: [], outcome: .needMoreData)
    for chunk in chunks {
        switch total.outcome {
        case .needMoreData:
            let result = parser.feed(Array(chunk))
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard case let (control, input)? = Fuzzer.controlAndInput(data, size) else { return 0 }
    let configuration = configurations[Int(control & 1)]

    let whole = feed([input[...]], configuration)
    let chunks = Fuzzer.chunks(of: input, seed: UInt32(control >> 1), maxLength: 17)
    Fuzzer.check(feed(chunks, configuration) == whole, "chunked input changed the result")

    let handshake = WebSocketHandshake()
    for request in whole.requests {
        Fuzzer.check(request.target.utf8.count <= configuration.maxTargetBytes, "target over the limit")
        Fuzzer.check(request.body.count <= configuration.maxBodyBytes, "body over the limit")
        Fuzzer.check(request.headers.count <= configuration.maxHeaderCount, "too many headers")
        let response: HTTPResponse
        switch handshake.evaluate(request) {
        case .accept(let accepted): response = accepted
        case .reject(let rejected): response = rejected
        }
        Fuzzer.check(!response.serialize(for: request, date: "Thu, 01 Jan 1970 00:00:00 GMT").isEmpty, "empty response")
    }
    if case .failed(let error) = whole.outcome {
        Fuzzer.check([400, 413, 414, 431, 505].contains(error.status), "unexpected status")
        _ = HTTPResponse(parseError: error).serialize(keepAlive: false, date: "x")
    }
    return 0
}

Fuzzer.run(fuzzOne)
