// libFuzzer target for the streaming UTF-8 validator (RFC 3629; WebSocket text, RFC 6455 §8.1).
//
// Input layout: byte 0 picks the chunking; the rest is the text. The validator's verdict on the whole input
// must equal the standard library's, and feeding the same bytes in chunks must give the same verdict, with
// "invalid" reported at the first chunk that makes the text impossible to complete (fail fast) and never
// undone. Build and run: see Fuzz/README.md.
import FuzzSupport
import Gateway

private func valid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
    String(validating: bytes, as: UTF8.self) != nil
}

/// Whether some continuation could still make `prefix` valid UTF-8 (the oracle for fail-fast, built on the
/// standard library's decoder): it is valid up to a last, incomplete sequence that some bytes would complete.
/// Only a sequence's second byte has a special range (E0, ED, F0, F4), so trying every second byte and
/// padding with 0x80 covers every legal completion.
private func canComplete(_ prefix: ArraySlice<UInt8>) -> Bool {
    if valid(prefix) { return true }
    for cut in 1...min(3, prefix.count) where valid(prefix.dropLast(cut)) {
        let tail = Array(prefix.suffix(cut))
        let length = tail[0] >= 0xF0 ? 4 : tail[0] >= 0xE0 ? 3 : tail[0] >= 0xC0 ? 2 : 1
        guard cut < length else { continue }
        for second in (cut == 1 ? Array(UInt8(0x80)...UInt8(0xBF)) : [UInt8(0x80)]) {
            var candidate = cut == 1 ? tail + [second] : tail
            candidate += [UInt8](repeating: 0x80, count: length - candidate.count)
            if valid(candidate) { return true }
        }
    }
    return false
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard case let (control, input)? = Fuzzer.controlAndInput(data, size) else { return 0 }

    let expected = String(validating: input, as: UTF8.self) != nil
    Fuzzer.check(UTF8Validator.isValid(input) == expected, "whole-input verdict differs from the standard library")

    var validator = UTF8Validator()
    var failed = false
    for chunk in Fuzzer.chunks(of: input, seed: UInt32(control), maxLength: 7) {
        let ok = validator.validate(chunk)
        Fuzzer.check(ok != validator.isInvalid, "the return value and the invalid state disagree")
        Fuzzer.check(!(failed && ok), "an invalid state was undone")
        // Fail fast, and never early: invalid exactly when the text so far can no longer be completed.
        if !failed { Fuzzer.check(ok == canComplete(input[..<chunk.endIndex]), "invalid reported too late or too early") }
        failed = failed || !ok
    }
    Fuzzer.check((validator.isComplete && !validator.isInvalid) == expected, "chunked verdict differs")
    return 0
}

Fuzzer.run(fuzzOne)
