// libFuzzer target for the WebSocket frame parser and session (RFC 6455 §5–§8).
//
// Input layout: byte 0 picks the message limit and the chunking; the rest is client bytes.
// Each input is fed whole and again in chunks; the two runs must produce identical actions,
// every text message must be valid UTF-8 within the limit, and nothing may follow a close.
// Build and run: see Fuzz/README.md.
import FuzzSupport
import Gateway

/// Message limits the control byte chooses from: tiny (exercises 1009), default, raised.
private let limits = [16, 1024, 65_536, 1 << 20]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard case let (control, input)? = Fuzzer.controlAndInput(data, size) else { return 0 }
    let limit = limits[Int(control & 3)]

    let whole = WebSocketSession(maxMessageBytes: limit).receive(input)

    let session = WebSocketSession(maxMessageBytes: limit)
    var chunked: [WebSocketAction] = []
    for chunk in Fuzzer.chunks(of: input, seed: UInt32(control >> 2), maxLength: 13) {
        chunked += session.receive(Array(chunk))
    }
    Fuzzer.check(chunked == whole, "chunked input changed the actions")

    var closed = false
    for action in whole {
        Fuzzer.check(!closed, "an action after close")
        switch action {
        case .text(let bytes):
            Fuzzer.check(bytes.count <= limit, "text over the limit")
            Fuzzer.check(String(validating: bytes, as: UTF8.self) != nil, "invalid UTF-8 delivered")
        case .binary(let bytes):
            Fuzzer.check(bytes.count <= limit, "binary over the limit")
        case .send(let frame):
            Fuzzer.check(frame.count >= 2 && frame[1] & 0x80 == 0, "server frames are never masked")
        case .close:
            closed = true
        case .pong:
            break
        }
    }

    // The bare parser must agree with itself too, and never report more than was given.
    var parser = WebSocketFrameParser(maxMessageBytes: limit)
    let frames = parser.parse(input)
    var payloadBytes = 0
    for case .frame(let frame) in frames { payloadBytes += frame.payload.count }
    Fuzzer.check(payloadBytes <= input.count, "more payload than input")
    return 0
}

Fuzzer.run(fuzzOne)
