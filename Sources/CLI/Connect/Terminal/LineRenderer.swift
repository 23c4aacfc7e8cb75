/// The screen arithmetic of the input line, kept pure so it is tested without a terminal: how many columns a
/// character takes, and which bytes erase and redraw "prompt + half-typed text" when it may wrap over several
/// rows of a terminal `width` columns wide.
///
/// The input area starts at column 0 of some row. `Console` remembers on which row of that area the terminal's
/// cursor sits (`cursorRow`), which is all it needs to get back to the area's start and erase it.
enum LineRenderer {
    static let escape = "\u{1B}["

    /// Bytes that take the cursor from `cursorRow` of the area back to its start and erase to the end of the screen.
    static func erase(fromRow cursorRow: Int) -> String {
        (cursorRow > 0 ? "\(escape)\(cursorRow)A" : "") + "\r\(escape)J"
    }

    /// Erases the area, then draws `prompt` and `text` with the cursor placed before `text[cursor]`.
    /// Returns the bytes to write and the row of the area the cursor ends on.
    static func redraw(prompt: String, text: [Character], cursor: Int, width: Int,
                       fromRow cursorRow: Int) -> (output: String, cursorRow: Int) {
        let width = max(width, 1)
        var out = erase(fromRow: cursorRow)
        out += prompt
        out.append(contentsOf: String(text))
        let promptColumns = columns(of: prompt)
        let total = promptColumns + columns(of: text)
        // A terminal that has just written the last column holds the cursor there ("pending wrap") until the
        // next character. Move to the next row explicitly, so the row arithmetic below is the same for all.
        if total > 0, total % width == 0 { out += "\r\n" }
        let endRow = total / width
        let target = promptColumns + columns(of: text[..<max(0, min(cursor, text.count))])
        let targetRow = target / width
        let targetColumn = target % width
        if endRow > targetRow { out += "\(escape)\(endRow - targetRow)A" }
        out += "\r"
        if targetColumn > 0 { out += "\(escape)\(targetColumn)C" }
        return (out, targetRow)
    }

    static func columns(of string: String) -> Int {
        string.reduce(0) { $0 + columns(of: $1) }
    }

    static func columns(of characters: some Sequence<Character>) -> Int {
        characters.reduce(0) { $0 + columns(of: $1) }
    }

    /// Columns one character takes on a terminal: 0 for marks that combine with the one before, 2 for East
    /// Asian wide characters and emoji, 1 otherwise.
    static func columns(of character: Character) -> Int {
        guard let first = character.unicodeScalars.first else { return 0 }
        if first.isASCII { return 1 }
        let properties = first.properties
        switch properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if properties.isEmojiPresentation { return 2 }
        if character.unicodeScalars.contains(where: { $0.value == 0xFE0F }), properties.isEmoji { return 2 }
        return isWide(first.value) ? 2 : 1
    }

    private static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF,
             0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3,
             0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    /// An incoming text made safe for a terminal and kept to one line: control characters (escape sequences,
    /// carriage returns, newlines) would let another user rewrite the screen, so each becomes U+FFFD;
    /// a tab becomes a space.
    static func printable(_ text: String) -> String {
        var clean = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\t" {
                clean.append(" ")
            } else if scalar.properties.generalCategory == .control {
                clean.append("\u{FFFD}")
            } else {
                clean.append(scalar)
            }
        }
        return String(clean)
    }
}
