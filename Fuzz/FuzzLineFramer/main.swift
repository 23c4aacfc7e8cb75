// libFuzzer target for the NDJSON / text-mode line splitter (Sources/Gateway/Lines/LineFramer.swift).
//
// Input layout: byte 0 picks the line limit, the chunking and whether the limit is raised halfway (as after a
// login); the rest is what a client sends. Whole and chunked input must give the same lines and outcome, and
// both must match a plain reference splitter: lines end at "\n", one "\r" before it is dropped, a line over
// the limit (or an unterminated tail that can no longer fit) ends the stream. Build and run: Fuzz/README.md.
import FuzzSupport
import Gateway

private let limits = [1, 4, 16, 4096]

/// The reference: what the framer must deliver for `input` at `limit`, and whether it fails.
private func reference(_ input: [UInt8], limit: Int) -> ([[UInt8]], LineFramer.Outcome) {
    var lines: [[UInt8]] = []
    var start = 0
    for (index, byte) in input.enumerated() where byte == UInt8(ascii: "\n") {
        var line = Array(input[start..<index])
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.count > limit { return (lines, .lineTooLong) }
        lines.append(line)
        start = index + 1
    }
    let tail = input[start...]
    let room = limit + (tail.last == UInt8(ascii: "\r") ? 1 : 0)
    return (lines, tail.count > room ? .lineTooLong : .needMoreData)
}

private func run(_ chunks: [ArraySlice<UInt8>], limit: Int, raiseAt: Int?) -> ([[UInt8]], LineFramer.Outcome) {
    var framer = LineFramer(maxLineBytes: limit)
    var lines: [[UInt8]] = []
    var outcome = LineFramer.Outcome.needMoreData
    for (index, chunk) in chunks.enumerated() {
        if index == raiseAt { framer.maxLineBytes = 4096 }
        let current = framer.maxLineBytes
        outcome = framer.feed(chunk) { line in
            Fuzzer.check(!line.contains(UInt8(ascii: "\n")), "a delivered line holds a newline")
            Fuzzer.check(line.count <= current, "a delivered line is over the limit")
            lines.append(Array(line))
        }
        Fuzzer.check(framer.bufferedByteCount <= framer.maxLineBytes + 1, "more than one partial line buffered")
        if outcome == .lineTooLong { break }
    }
    return (lines, outcome)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard case let (control, input)? = Fuzzer.controlAndInput(data, size) else { return 0 }
    let limit = limits[Int(control & 3)]

    let chunks = Fuzzer.chunks(of: input, seed: UInt32(control >> 3), maxLength: 11)

    let expected = reference(input, limit: limit)
    let whole = run([input[...]], limit: limit, raiseAt: nil)
    Fuzzer.check(whole.0 == expected.0 && whole.1 == expected.1, "whole input differs from the reference")
    let chunked = run(chunks, limit: limit, raiseAt: nil)
    Fuzzer.check(chunked.0 == expected.0 && chunked.1 == expected.1, "chunked input differs from the reference")

    if control & 4 != 0, chunks.count > 1 {
        // Raised halfway: everything before the raise is as at the small limit, and nothing over 4096 gets out.
        let half = chunks.count / 2
        let raised = run(chunks, limit: limit, raiseAt: half)
        let before = run(Array(chunks[..<half]), limit: limit, raiseAt: nil)
        Fuzzer.check(raised.0.starts(with: before.0), "raising the limit changed lines already delivered")
        if raised.1 == .needMoreData {
            Fuzzer.check(raised.0 == reference(input, limit: 4096).0, "lines lost or changed after the raise")
        }
    }
    return 0
}

Fuzzer.run(fuzzOne)
