/// Incremental UTF-8 validation for WebSocket text (RFC 6455 §8.1), as a byte-driven DFA.
///
/// Fed fragment by fragment (or read by read), it reports failure at the first byte that cannot
/// start or continue a well-formed sequence, so an invalid prefix fails at once instead of at the
/// end of the message ("fail fast", Autobahn 6.4.x). A sequence cut at a fragment boundary is
/// fine; only at the end of the message must the validator be back at a character boundary.
///
/// The automaton follows Unicode §3.9 Table 3-7 (well-formed byte sequences): it rejects
/// overlong forms, surrogates (ED A0–BF) and code points above U+10FFFF; noncharacters such as
/// U+FFFE are valid UTF-8.
public struct UTF8Validator: Sendable, Equatable {
    /// Automaton states. `accept` is a character boundary; `reject` is final.
    private enum State {
        static let accept: UInt8 = 0
        static let needOne: UInt8 = 1          // one 80–BF left
        static let needTwo: UInt8 = 2          // two 80–BF left
        static let needThree: UInt8 = 3        // three 80–BF left
        static let afterE0: UInt8 = 4          // next A0–BF (no overlong 3-byte forms)
        static let afterED: UInt8 = 5          // next 80–9F (no surrogates)
        static let afterF0: UInt8 = 6          // next 90–BF (no overlong 4-byte forms)
        static let afterF4: UInt8 = 7          // next 80–8F (nothing above U+10FFFF)
        static let reject: UInt8 = 8
        static let count = 9
    }

    /// `transitions[state * 256 + byte]` is the next state, built once from Table 3-7.
    private static let transitions: [UInt8] = {
        var table = [UInt8](repeating: State.reject, count: State.count * 256)
        func set(_ state: UInt8, _ bytes: ClosedRange<Int>, _ next: UInt8) {
            for byte in bytes { table[Int(state) * 256 + byte] = next }
        }
        set(State.accept, 0x00...0x7F, State.accept)
        set(State.accept, 0xC2...0xDF, State.needOne)
        set(State.accept, 0xE0...0xE0, State.afterE0)
        set(State.accept, 0xE1...0xEC, State.needTwo)
        set(State.accept, 0xED...0xED, State.afterED)
        set(State.accept, 0xEE...0xEF, State.needTwo)
        set(State.accept, 0xF0...0xF0, State.afterF0)
        set(State.accept, 0xF1...0xF3, State.needThree)
        set(State.accept, 0xF4...0xF4, State.afterF4)
        set(State.needOne, 0x80...0xBF, State.accept)
        set(State.needTwo, 0x80...0xBF, State.needOne)
        set(State.needThree, 0x80...0xBF, State.needTwo)
        set(State.afterE0, 0xA0...0xBF, State.needOne)
        set(State.afterED, 0x80...0x9F, State.needOne)
        set(State.afterF0, 0x90...0xBF, State.needTwo)
        set(State.afterF4, 0x80...0x8F, State.needTwo)
        return table
    }()

    private var state = State.accept

    /// Creates a validator at a character boundary.
    public init() {}

    /// Whether all bytes so far are a complete, well-formed UTF-8 text (valid end of message).
    public var isComplete: Bool { state == State.accept }

    /// Whether an invalid byte has been seen; the validator stays invalid until `reset()`.
    public var isInvalid: Bool { state == State.reject }

    /// Starts over for a new message.
    public mutating func reset() { state = State.accept }

    /// Feeds more bytes; returns `false` as soon as they cannot be part of valid UTF-8.
    @discardableResult
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard state != State.reject else { return false }
        var index = 0
        let count = bytes.count
        var current = state
        Self.transitions.withUnsafeBufferPointer { table in
            while index < count {
                // ASCII fast path: eight bytes at a time while at a character boundary.
                if current == State.accept, count - index >= 8,
                   bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    index += 8
                    continue
                }
                current = table[Int(current) &* 256 &+ Int(bytes[index])]
                if current == State.reject { break }
                index += 1
            }
        }
        state = current
        return current != State.reject
    }

    /// Feeds more bytes from an array.
    @discardableResult
    public mutating func validate(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Feeds more bytes from an array slice.
    @discardableResult
    public mutating func validate(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.withUnsafeBytes { validate($0) }
    }

    /// Whether `bytes` is a complete, well-formed UTF-8 text.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isComplete
    }
}
