/// What a username and a password may look like (docs/PROTOCOL.md §3): case-sensitive, made of letters, digits and
/// ``~!@#$%^&*_-+=`|\(){}[]:;"'<>,.?/``; names 1–32 characters, passwords 1–128.
///
/// "Letters and digits" means ASCII here. Unicode letters would let two names look alike or compare equal in
/// Swift (canonical equivalence) while differing byte for byte in SQLite; ASCII keeps one name one spelling
/// everywhere, and a space can never be part of either, so `username password` lines split unambiguously.
public enum AccountRules {
    /// Longest username, in characters (all ASCII, so also bytes).
    public static let maxUsernameLength = 32
    /// Longest password, in characters (all ASCII, so also bytes).
    public static let maxPasswordLength = 128
    /// The punctuation docs/PROTOCOL.md §3 allows besides letters and digits.
    public static let punctuation = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/"

    /// True for 1–32 allowed characters.
    public static func isValidUsername(_ name: String) -> Bool {
        isValid(name, maxLength: maxUsernameLength)
    }

    /// True for 1–128 allowed characters.
    public static func isValidPassword(_ password: String) -> Bool {
        isValid(password, maxLength: maxPasswordLength)
    }

    /// The allowed bytes, indexed by value: looking a byte up is all the per-character work there is.
    private static let allowed: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in punctuation.utf8 { table[Int(byte)] = true }
        return table
    }()

    private static func isValid(_ text: String, maxLength: Int) -> Bool {
        // Counting UTF-8 bytes is right because any non-ASCII byte fails the table check below.
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        return bytes.allSatisfy { $0 < 128 && allowed[Int($0)] }
    }
}
