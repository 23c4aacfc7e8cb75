/// What a room name may look like (docs/PROTOCOL.md §12): 1–32 of `A–Z a–z 0–9 _ -`, case-sensitive. The terminal
/// writes names with a leading `#`, which is not part of the name.
public enum RoomRules {
    public static let maxNameLength = 32

    /// True for 1–32 allowed characters.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }

    /// A name as typed at a terminal: one leading `#` is dropped.
    public static func typedName(_ word: Substring) -> String {
        String(word.first == "#" ? word.dropFirst() : word)
    }
}
