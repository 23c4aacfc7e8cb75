import Glibc

/// Splits a byte stream into lines: NDJSON and the plain-text mode share this framing.
///
/// A line ends at "\n"; one "\r" directly before it is stripped too, so `nc` (LF) and `telnet`
/// (CRLF) clients look the same. Empty lines are delivered (the text mode gives them meaning). The
/// limit counts the line without its terminator and is inclusive: `maxLineBytes` bytes are allowed,
/// one more is `lineTooLong`, which is final (the framer delivers nothing after it).
///
/// Lines that arrive whole in one chunk are delivered as slices of that chunk without a copy; only
/// the unterminated tail of a chunk is kept, so the buffer never holds more than one partial line
/// (at most `maxLineBytes + 1` bytes, the possible "\r" included) between calls.
///
/// Loop-confined: a value owned by one `LineStream`. Public for the fuzz target (Fuzz/FuzzLineFramer).
public struct LineFramer: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Every complete line was delivered; any tail waits for more bytes.
        case needMoreData
        /// A line passed the limit. No further lines will be delivered.
        case lineTooLong
    }

    /// May be raised between calls (a connection's limit grows after login); must stay positive.
    public var maxLineBytes: Int {
        didSet { precondition(maxLineBytes > 0, "a line limit must be positive") }
    }
    private var pending: [UInt8] = []
    public private(set) var hasFailed = false

    public init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0, "a line limit must be positive")
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes of an incomplete line held from earlier chunks.
    public var bufferedByteCount: Int { pending.count }

    /// Consumes `chunk`, calling `deliver` once per complete line, in order.
    public mutating func feed(_ chunk: ArraySlice<UInt8>, _ deliver: (ArraySlice<UInt8>) -> Void) -> Outcome {
        guard !hasFailed else { return .lineTooLong }
        var rest = chunk

        if !pending.isEmpty {
            // Finish the line begun in an earlier chunk: the one place bytes are copied.
            guard let newline = Self.firstNewline(in: rest) else {
                pending.append(contentsOf: rest)
                return checkPendingLength()
            }
            pending.append(contentsOf: rest[..<newline])
            rest = rest[(newline + 1)...]
            let line = Self.strippingCarriageReturn(pending[...])
            guard line.count <= maxLineBytes else { return fail() }
            deliver(line)
            // A slice the application kept shares this storage; appending later copies, safely.
            pending.removeAll(keepingCapacity: true)
        }

        while let newline = Self.firstNewline(in: rest) {
            let line = Self.strippingCarriageReturn(rest[..<newline])
            guard line.count <= maxLineBytes else { return fail() }
            deliver(line)
            rest = rest[(newline + 1)...]
        }

        pending.append(contentsOf: rest)
        return checkPendingLength()
    }

    /// An unterminated line may hold `maxLineBytes` bytes plus a "\r" that the next "\n" will strip;
    /// anything longer can never become a legal line, so it fails now rather than buffering more.
    private mutating func checkPendingLength() -> Outcome {
        let limit = maxLineBytes + (pending.last == UInt8(ascii: "\r") ? 1 : 0)
        return pending.count > limit ? fail() : .needMoreData
    }

    private mutating func fail() -> Outcome {
        hasFailed = true
        pending = []
        return .lineTooLong
    }

    /// memchr over the slice: the scan is the hot loop of every line stream.
    private static func firstNewline(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            guard let base = raw.baseAddress,
                  let found = memchr(base, Int32(UInt8(ascii: "\n")), raw.count) else { return nil }
            return bytes.startIndex + (UnsafeRawPointer(found) - base)
        }
    }

    private static func strippingCarriageReturn(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        line.last == UInt8(ascii: "\r") ? line.dropLast() : line
    }
}
