/// The line being typed at the prompt, as a pure state machine: key bytes go in one at a time, and out come the
/// buffer, the cursor and what the caller should do (redraw, submit a line, log out). It never touches a
/// terminal, so every key can be tested without one; `Console` draws it.
///
/// Keys understood: printable text (UTF-8), Enter (CR or LF; CR LF counts once), Backspace (DEL or ^H),
/// Delete, Left/Right, Home/End, Up/Down (history), and the usual Emacs keys: ^A ^E ^B ^F ^P ^N ^K ^U ^W,
/// Alt-B / Alt-F (word left/right), ^L (clear screen). ^D deletes under the cursor, or on an empty line means
/// end of input; ^C interrupts.
struct LineEditor {
    enum Outcome: Equatable {
        /// Nothing visible changed (an incomplete escape sequence or UTF-8 character, an unknown key).
        case none
        /// The buffer or the cursor changed: redraw the input line.
        case changed
        /// Enter: the typed line (the editor is already empty again).
        case submit(String)
        /// ^D on an empty line.
        case endOfInput
        /// ^C.
        case interrupt
        /// ^L: clear the screen, then redraw.
        case clearScreen
    }

    private(set) var text: [Character] = []
    private(set) var cursor = 0
    /// Password entry: nothing is shown and the line is not remembered in the history.
    private(set) var masked = false

    private var history: [String] = []
    private var historyIndex = 0
    private var draft: [Character] = []
    private let historyLimit: Int

    private enum EscapeState: Equatable {
        case none
        case escape            // after ESC
        case csi([UInt8])      // after ESC [, collecting parameter bytes
        case ss3               // after ESC O
    }
    private var escape = EscapeState.none
    private var utf8: [UInt8] = []
    private var utf8Needed = 0
    private var lastWasCR = false

    init(historyLimit: Int = 500) {
        self.historyLimit = historyLimit
    }

    var line: String { String(text) }

    /// Starts a fresh, empty line (a new prompt). Half-received escape sequences are dropped.
    mutating func reset(masked: Bool = false) {
        text = []
        cursor = 0
        self.masked = masked
        historyIndex = history.count
        draft = []
        escape = .none
        utf8 = []
        utf8Needed = 0
    }

    /// The remembered lines, oldest first.
    var historyEntries: [String] { history }

    mutating func feed(_ byte: UInt8) -> Outcome {
        let afterCR = lastWasCR
        lastWasCR = false
        if utf8Needed > 0 { return continueUTF8(byte) }
        switch escape {
        case .none: break
        case .escape: return afterEscape(byte)
        case .csi(let params): return inCSI(byte, params: params)
        case .ss3:
            escape = .none
            return finalKey(byte, params: [])
        }
        switch byte {
        case 0x0D:
            lastWasCR = true
            return submit()
        case 0x0A:
            return afterCR ? .none : submit()
        case 0x1B: escape = .escape; return .none
        case 0x01: return moveTo(0)
        case 0x02: return moveTo(cursor - 1)
        case 0x03: return .interrupt
        case 0x04:
            if text.isEmpty { return .endOfInput }
            return deleteForward()
        case 0x05: return moveTo(text.count)
        case 0x06: return moveTo(cursor + 1)
        case 0x08, 0x7F: return deleteBackward()
        case 0x09: return insert(" ")
        case 0x0B: return replace(cursor..<text.count, with: [])
        case 0x0C: return .clearScreen
        case 0x0E: return historyNext()
        case 0x10: return historyPrevious()
        case 0x15: return replace(0..<cursor, with: [])
        case 0x17: return replace(wordStart(before: cursor)..<cursor, with: [])
        case 0x00..<0x20: return .none
        case 0x20..<0x7F: return insert(Character(Unicode.Scalar(byte)))
        case 0xC2...0xDF: return startUTF8(byte, needed: 1)
        case 0xE0...0xEF: return startUTF8(byte, needed: 2)
        case 0xF0...0xF4: return startUTF8(byte, needed: 3)
        default: return .none  // a stray continuation byte or an invalid lead byte
        }
    }

    /// Feeds several bytes; convenient for tests. Returns every outcome that was not `.none`.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Outcome] {
        bytes.map { feed($0) }.filter { $0 != .none }
    }

    // MARK: - Escape sequences

    private mutating func afterEscape(_ byte: UInt8) -> Outcome {
        switch byte {
        case UInt8(ascii: "["): escape = .csi([]); return .none
        case UInt8(ascii: "O"): escape = .ss3; return .none
        case UInt8(ascii: "b"): escape = .none; return moveTo(wordStart(before: cursor))
        case UInt8(ascii: "f"): escape = .none; return moveTo(wordEnd(after: cursor))
        case 0x7F, 0x08:
            escape = .none
            return replace(wordStart(before: cursor)..<cursor, with: [])
        case 0x1B: return .none  // ESC ESC: still waiting for the sequence
        default:
            // Alt plus a key we don't bind: ignore the ESC and take the key as typed.
            escape = .none
            return feed(byte)
        }
    }

    private mutating func inCSI(_ byte: UInt8, params: [UInt8]) -> Outcome {
        if (0x40...0x7E).contains(byte) {
            escape = .none
            return finalKey(byte, params: params)
        }
        if (0x20...0x3F).contains(byte), params.count < 16 {
            escape = .csi(params + [byte])
            return .none
        }
        escape = .none  // not a CSI sequence after all, or an absurdly long one: drop it
        return .none
    }

    private mutating func finalKey(_ byte: UInt8, params: [UInt8]) -> Outcome {
        let fields = String(decoding: params, as: UTF8.self).split(separator: ";")
        let modifier = fields.count > 1 ? Int(fields[1]) ?? 1 : 1
        let withCtrlOrAlt = modifier > 1
        switch byte {
        case UInt8(ascii: "A"): return historyPrevious()
        case UInt8(ascii: "B"): return historyNext()
        case UInt8(ascii: "C"): return moveTo(withCtrlOrAlt ? wordEnd(after: cursor) : cursor + 1)
        case UInt8(ascii: "D"): return moveTo(withCtrlOrAlt ? wordStart(before: cursor) : cursor - 1)
        case UInt8(ascii: "H"): return moveTo(0)
        case UInt8(ascii: "F"): return moveTo(text.count)
        case UInt8(ascii: "~"):
            switch fields.first.flatMap({ Int($0) }) {
            case 1, 7: return moveTo(0)
            case 4, 8: return moveTo(text.count)
            case 3: return deleteForward()
            default: return .none
            }
        default: return .none
        }
    }

    // MARK: - UTF-8

    private mutating func startUTF8(_ byte: UInt8, needed: Int) -> Outcome {
        utf8 = [byte]
        utf8Needed = needed
        return .none
    }

    private mutating func continueUTF8(_ byte: UInt8) -> Outcome {
        guard byte & 0xC0 == 0x80 else {
            // The character was cut short: forget it and read this byte afresh.
            utf8 = []
            utf8Needed = 0
            return feed(byte)
        }
        utf8.append(byte)
        utf8Needed -= 1
        guard utf8Needed == 0 else { return .none }
        defer { utf8 = [] }
        guard let string = String(validating: utf8, as: UTF8.self), let scalar = string.unicodeScalars.first,
              !scalar.properties.generalCategory.isControlOrFormatToDrop else { return .none }
        return insert(Character(scalar))
    }

    // MARK: - Editing

    private mutating func insert(_ character: Character) -> Outcome {
        var before = String(text[..<cursor])
        before.append(character)
        let after = String(text[cursor...])
        // Rebuilt as a string so a combining mark joins the character before it, as it does on screen.
        let joined = Array(before + after)
        let beforeCount = Array(before).count
        text = joined
        cursor = min(beforeCount, joined.count)
        return .changed
    }

    private mutating func deleteBackward() -> Outcome {
        guard cursor > 0 else { return .none }
        return replace(cursor - 1..<cursor, with: [])
    }

    private mutating func deleteForward() -> Outcome {
        guard cursor < text.count else { return .none }
        return replace(cursor..<cursor + 1, with: [])
    }

    private mutating func replace(_ range: Range<Int>, with replacement: [Character]) -> Outcome {
        guard !range.isEmpty || !replacement.isEmpty else { return .none }
        text.replaceSubrange(range, with: replacement)
        cursor = range.lowerBound + replacement.count
        return .changed
    }

    private mutating func moveTo(_ position: Int) -> Outcome {
        let clamped = max(0, min(text.count, position))
        guard clamped != cursor else { return .none }
        cursor = clamped
        return .changed
    }

    private func wordStart(before position: Int) -> Int {
        var i = position
        while i > 0, text[i - 1] == " " { i -= 1 }
        while i > 0, text[i - 1] != " " { i -= 1 }
        return i
    }

    private func wordEnd(after position: Int) -> Int {
        var i = position
        while i < text.count, text[i] == " " { i += 1 }
        while i < text.count, text[i] != " " { i += 1 }
        return i
    }

    private mutating func submit() -> Outcome {
        let line = String(text)
        if !masked, !line.allSatisfy({ $0 == " " }), history.last != line {
            history.append(line)
            if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        }
        let wasMasked = masked
        reset(masked: wasMasked)
        return .submit(line)
    }

    // MARK: - History

    private mutating func historyPrevious() -> Outcome {
        guard !masked, historyIndex > 0 else { return .none }
        if historyIndex == history.count { draft = text }
        historyIndex -= 1
        text = Array(history[historyIndex])
        cursor = text.count
        return .changed
    }

    private mutating func historyNext() -> Outcome {
        guard !masked, historyIndex < history.count else { return .none }
        historyIndex += 1
        text = historyIndex == history.count ? draft : Array(history[historyIndex])
        cursor = text.count
        return .changed
    }
}

extension Unicode.GeneralCategory {
    /// C1 controls and the like never belong in a typed line.
    fileprivate var isControlOrFormatToDrop: Bool {
        self == .control || self == .surrogate || self == .unassigned
    }
}
