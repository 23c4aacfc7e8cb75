/// Checks the raw bytes of a request head for the shapes a strict server must refuse, and enforces
/// the head size limits, byte by byte in arrival order.
///
/// Why it exists: llhttp has no size limits, and which lenient shapes it lets through depends on how
/// it was built. scripts/bootstrap builds it strict (LLHTTP_STRICT_MODE=1), but the gateway does not
/// rely on that: bare LF line ends, obs-fold, whitespace before the colon, a doubled space in the
/// request line and non-ASCII targets are refused here whatever llhttp is linked. Each of these lets
/// two parsers disagree about where a message ends (request smuggling), so each is a 400. Because the
/// checks run in byte order, the first violation wins whatever way the input was split into reads.
///
/// Loop-confined: owned by one `HTTPParser`. Not Sendable.
struct HTTPHeadScanner {
    enum Verdict: Equatable {
        case needMore
        /// The empty line ending the head was just consumed.
        case complete
        case failed(HTTPParseError)
    }

    private enum State {
        case lineStartBeforeRequest   // RFC 9112 §2.2: empty lines before the request line are ignored
        case requestLine
        case headerLineStart
        case headerName
        case headerValue
        case expectLF(after: AfterLF)
        case done
        case failed(HTTPParseError)
    }

    private enum AfterLF {
        case emptyLineBeforeRequest, requestLine, headerLine, endOfHead
    }

    let limits: HTTPParserConfiguration
    private var state = State.lineStartBeforeRequest
    private var headBytes = 0
    private var headerCount = 0
    private var spacesInRequestLine = 0
    private var previousWasSpace = false
    private var targetBytes = 0
    private var nameBytes = 0

    init(limits: HTTPParserConfiguration) { self.limits = limits }

    /// Starts over for the next pipelined request.
    mutating func reset() { self = HTTPHeadScanner(limits: limits) }

    /// Whether any byte of the current head has been seen.
    var hasStarted: Bool { headBytes > 0 }

    /// Scans head bytes; must not be given bytes past the end of the head.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        for byte in bytes {
            switch step(byte) {
            case .needMore: continue
            case let verdict: return verdict
            }
        }
        switch state {
        case .done: return .complete
        case .failed(let error): return .failed(error)
        default: return .needMore
        }
    }

    private mutating func step(_ byte: UInt8) -> Verdict {
        if case .failed(let error) = state { return .failed(error) }
        if case .done = state { return fail(.malformed("data after the end of the head")) }
        headBytes += 1
        if headBytes > limits.maxHeadBytes { return fail(.headTooLarge) }

        switch state {
        case .lineStartBeforeRequest:
            if byte == cr { state = .expectLF(after: .emptyLineBeforeRequest); return .needMore }
            if byte == lf { return fail(.malformed("bare LF")) }
            if byte == sp || byte == htab { return fail(.malformed("whitespace before the request line")) }
            state = .requestLine
            return requestLineByte(byte)
        case .requestLine:
            return requestLineByte(byte)
        case .headerLineStart:
            if byte == cr { state = .expectLF(after: .endOfHead); return .needMore }
            if byte == lf { return fail(.malformed("bare LF")) }
            // RFC 9112 §5.2: obs-fold; a server MUST reject it or replace it. We reject.
            if byte == sp || byte == htab { return fail(.malformed("obsolete line folding")) }
            headerCount += 1
            if headerCount > limits.maxHeaderCount { return fail(.headTooLarge) }
            state = .headerName
            nameBytes = 0
            return headerNameByte(byte)
        case .headerName:
            return headerNameByte(byte)
        case .headerValue:
            if byte == cr { state = .expectLF(after: .headerLine); return .needMore }
            if byte == lf { return fail(.malformed("bare LF")) }
            // RFC 9110 §5.5: CR, LF and NUL MUST be rejected; other controls except HTAB too.
            if (byte < 0x20 && byte != htab) || byte == 0x7F {
                return fail(.malformed("control character in a header value"))
            }
            return .needMore
        case .expectLF(let after):
            // RFC 9112 §2.2: a bare CR anywhere is invalid.
            guard byte == lf else { return fail(.malformed("CR without LF")) }
            switch after {
            case .emptyLineBeforeRequest: state = .lineStartBeforeRequest
            case .requestLine, .headerLine: state = .headerLineStart
            case .endOfHead:
                state = .done
                return .complete
            }
            return .needMore
        case .done, .failed:
            return .needMore  // handled above
        }
    }

    /// RFC 9112 §3: request-line = method SP request-target SP HTTP-version, single spaces only.
    private mutating func requestLineByte(_ byte: UInt8) -> Verdict {
        switch byte {
        case cr:
            guard spacesInRequestLine == 2, !previousWasSpace else {
                return fail(.malformed("request line is not method SP target SP version"))
            }
            state = .expectLF(after: .requestLine)
        case lf:
            return fail(.malformed("bare LF"))
        case sp:
            if previousWasSpace { return fail(.malformed("double space in the request line")) }
            spacesInRequestLine += 1
            if spacesInRequestLine > 2 { return fail(.malformed("extra space in the request line")) }
            previousWasSpace = true
            return .needMore
        case htab:
            return fail(.malformed("tab in the request line"))
        default:
            if spacesInRequestLine == 1 {
                // RFC 9112 §3.2: the target is visible ASCII; raw UTF-8 or controls are refused.
                guard byte > 0x20 && byte < 0x7F else { return fail(.malformed("invalid byte in the request target")) }
                targetBytes += 1
                if targetBytes > limits.maxTargetBytes { return fail(.targetTooLong) }
            }
        }
        previousWasSpace = false
        return .needMore
    }

    /// RFC 9112 §5.1: no whitespace between the field name and the colon (MUST reject with 400).
    private mutating func headerNameByte(_ byte: UInt8) -> Verdict {
        switch byte {
        case UInt8(ascii: ":"):
            if nameBytes == 0 { return fail(.malformed("empty header name")) }
            state = .headerValue
        case sp, htab:
            return fail(.malformed("whitespace in a header name"))
        case cr, lf:
            return fail(.malformed("header line without a colon"))
        default:
            nameBytes += 1
        }
        return .needMore
    }

    private mutating func fail(_ error: HTTPParseError) -> Verdict {
        state = .failed(error)
        return .failed(error)
    }
}

private let cr: UInt8 = 0x0D
private let lf: UInt8 = 0x0A
private let sp: UInt8 = 0x20
private let htab: UInt8 = 0x09
