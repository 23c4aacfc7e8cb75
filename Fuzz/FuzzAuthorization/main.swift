// libFuzzer target for the `Authorization` header parser (Basic, RFC 7617; Bearer, RFC 6750) the REST API
// uses (Sources/Gateway/HTTP/HTTPAuthorization.swift).
//
// Input layout: byte 0 picks the mode: parse the rest as a header value as is, or treat it as `user:password`
// bytes and build a Basic header from them (padded or not, scheme in any case) that must parse back to the
// same pair. Oracles: a parsed Bearer token is one non-empty word; a parsed Basic pair re-encodes to
// credentials that parse to the same pair; base64 decoding agrees with an independent encoder below.
// Build and run: see Fuzz/README.md.
import FuzzSupport
import Gateway
import ParleySupport

/// RFC 4648 §4 base64, written independently of the parser.
private func base64(_ bytes: [UInt8], padded: Bool) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    var out = ""
    var index = 0
    while index < bytes.count {
        let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
        let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << UInt32(16 - 8 * $1.offset) }
        for position in 0..<(chunk.count + 1) { out.append(alphabet[Int(value >> UInt32(18 - 6 * position) & 63)]) }
        if padded { out += String(repeating: "=", count: 3 - chunk.count) }
        index += 3
    }
    return out
}

private func checkParsed(_ result: Result<HTTPAuthorization, HTTPAuthorization.Failure>) {
    switch result {
    case .success(.bearer(let token)):
        Fuzzer.check(!token.isEmpty && !token.utf8.contains(0x20), "a bearer token must be one non-empty word")
    case .success(.basic(let user, let password)):
        Fuzzer.check(!user.utf8.contains(0x3A), "a Basic user-id cannot hold a colon (RFC 7617 §2)")
        let again = HTTPAuthorization.parse("Basic " + base64(Array((user + ":" + password).utf8), padded: true))
        Fuzzer.check(again == .success(.basic(user: user, password: password)), "Basic credentials did not round-trip")
    case .failure:
        break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard case let (control, input)? = Fuzzer.controlAndInput(data, size) else { return 0 }

    // Any header value: never traps, and what it yields keeps its shape.
    let value = String(decoding: input, as: UTF8.self)
    checkParsed(HTTPAuthorization.parse(value))
    if let decoded = Base64.decode(value.utf8) {
        Fuzzer.check(decoded.count <= input.count, "decoding produced more bytes than it read")
        let stripped = String(value.reversed().drop { $0 == "=" }.reversed())
        let canonical = base64(decoded, padded: false)
        // Equal up to the unused low bits of the last character, which RFC 4648 §3.5 lets a decoder ignore.
        Fuzzer.check(canonical.count == stripped.count && canonical.dropLast() == stripped.dropLast(),
              "base64 decoding disagrees with the encoder")
    }

    // Credentials built from the input: a user-id without a colon and any password must come back intact.
    guard let text = String(validating: input, as: UTF8.self) else { return 0 }
    // Bytes, not Characters: a colon or space followed by a combining mark is one Character to Swift.
    let colon = input.firstIndex(of: 0x3A)
    let user = colon.map { String(decoding: input[..<$0], as: UTF8.self) } ?? text
    let password = colon.map { String(decoding: input[($0 + 1)...], as: UTF8.self) } ?? ""
    let scheme = ["Basic", "basic", "BASIC", "bAsIc"][Int(control & 3)]
    let spaces = String(repeating: " ", count: 1 + Int(control >> 2 & 3))
    let header = scheme + spaces + base64(Array((user + ":" + password).utf8), padded: control & 16 != 0)
    Fuzzer.check(HTTPAuthorization.parse(header) == .success(.basic(user: user, password: password)),
          "a well-formed Basic header did not parse to its credentials")
    if !text.isEmpty, !text.utf8.contains(0x20) {
        Fuzzer.check(HTTPAuthorization.parse("Bearer " + text) == .success(.bearer(text)), "a bearer token was changed")
    }
    return 0
}

Fuzzer.run(fuzzOne)
