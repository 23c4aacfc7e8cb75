import Gateway
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the user did at a prompt.
enum InputEvent: Equatable {
    case line(String)
    /// ^D on an empty line, or the end of piped input.
    case endOfInput
    /// ^C at the keyboard (when the input is not a terminal, ^C is a signal and the session handles it).
    case interrupt
}

/// The one place that writes to the screen and reads what the user types, so output is never garbled.
///
/// Interactive (a terminal on both sides): the terminal is in raw mode and `LineEditor` owns the input line.
/// A line printed while the user is half-way through typing erases the input line, is printed on its own
/// line, and the prompt and the half-typed text (and cursor) are drawn again below it.
///
/// Plain (a pipe or a script): input is taken line by line, prompts are written as they are, and after a
/// prompt's answer is read the output moves to a new line, so every printed text starts a line of its own.
final class Console {
    let interactive: Bool
    private let rawMode: RawMode?
    private let outputFD: Int32

    private var editor = LineEditor()
    /// The prompt of the input line being typed (nil: no input is wanted right now).
    private var prompt: String?
    /// Whether the prompt is shown when the input is not a terminal.
    private var promptShownWhenPlain = true
    /// Plain mode: a prompt was written and the line it is on is not finished yet.
    private var plainLineOpen = false
    /// Interactive: the row of the input area (prompt + text, maybe wrapped) that the terminal's cursor is on.
    private var cursorRow = 0

    /// Interactive: keys received and not yet given to the editor.
    private var pending: [UInt8] = []
    /// Plain: the input split into lines. No limit: the input is the user's own script.
    private var plainFramer = LineFramer(maxLineBytes: .max - 1)
    /// Plain: whole lines received and not yet taken by a prompt.
    private var plainLines: [String] = []
    private var inputEnded = false

    init(interactive: Bool, outputFD: Int32 = STDOUT_FILENO) {
        self.interactive = interactive
        self.outputFD = outputFD
        if interactive {
            let raw = RawMode()
            self.rawMode = raw.enable() ? raw : nil
        } else {
            self.rawMode = nil
        }
    }

    /// Whether the session should read the keyboard: a prompt is waiting for its answer.
    var wantsInput: Bool { prompt != nil }

    /// Shows `text` and waits for a line. `masked`: a password (nothing is echoed, nothing remembered).
    /// `shownWhenPlain: false` is for the command prompt, which scripts have no use for.
    func prompt(_ text: String, masked: Bool = false, shownWhenPlain: Bool = true) {
        prompt = text
        promptShownWhenPlain = shownWhenPlain
        if interactive {
            editor.reset(masked: masked)
            cursorRow = 0
            emit(redraw(fromRow: 0))
        } else if shownWhenPlain {
            emit(text)
            plainLineOpen = true
        }
    }

    /// Swaps the text of the prompt being shown, keeping whatever is half-typed after it (a question that
    /// arrives while the user types, and goes away again). Nothing happens when no prompt is shown.
    func changePrompt(_ text: String, shownWhenPlain: Bool = true) {
        guard let shown = prompt, shown != text else { return }
        prompt = text
        promptShownWhenPlain = shownWhenPlain
        if interactive {
            emit(redraw(fromRow: cursorRow))
            return
        }
        // Plain: a prompt can't be taken back, so the new one goes on a line of its own.
        if plainLineOpen {
            emit("\n")
            plainLineOpen = false
        }
        if shownWhenPlain {
            emit(text)
            plainLineOpen = true
        }
    }

    /// Prints one whole line (a received message, a reply) without disturbing what the user is typing.
    func printLine(_ line: String) {
        var out = ""
        if interactive, prompt != nil { out += LineRenderer.erase(fromRow: cursorRow) }
        if plainLineOpen {
            out += "\n"
            plainLineOpen = false
        }
        out += line + "\n"
        if interactive, prompt != nil { out += redraw(fromRow: 0) }
        emit(out)
    }

    /// Bytes read from the keyboard (or the pipe).
    func receive(_ bytes: ArraySlice<UInt8>) {
        if interactive {
            pending.append(contentsOf: bytes)
        } else {
            _ = plainFramer.feed(bytes) { plainLines.append(String(decoding: $0, as: UTF8.self)) }
        }
    }

    /// The keyboard or the pipe was closed.
    func receiveEndOfInput() {
        guard !inputEnded else { return }
        inputEnded = true
        // A script's last line may lack its newline; it is a line all the same.
        if !interactive, plainFramer.bufferedByteCount > 0 { receive([0x0A]) }
    }

    var hasEndedInput: Bool { inputEnded }

    /// The next answer to the current prompt, if the bytes received so far complete one. Bytes after it stay
    /// pending for the next prompt (a pasted username and password, a script's lines).
    func nextEvent() -> InputEvent? {
        guard prompt != nil else { return nil }
        return interactive ? nextKeyboardEvent() : nextPlainEvent()
    }

    /// The terminal changed width. Terminals re-wrap the input line themselves, so the cursor's row within it
    /// is worked out again for the new width before the line is drawn afresh.
    func screenResized() {
        guard interactive, let prompt else { return }
        let typed = editor.masked ? 0 : LineRenderer.columns(of: editor.text[..<editor.cursor])
        cursorRow = (LineRenderer.columns(of: prompt) + typed) / RawMode.screenWidth(fd: outputFD)
        emit(redraw(fromRow: cursorRow))
    }

    /// Stops waiting for an answer: the prompt and anything half-typed are erased.
    func cancelPrompt() {
        if interactive, prompt != nil { emit(LineRenderer.erase(fromRow: cursorRow)) }
        prompt = nil
        cursorRow = 0
    }

    /// Erases the input line (if any) and gives the terminal back as it was found.
    func finish() {
        if interactive, prompt != nil { emit(LineRenderer.erase(fromRow: cursorRow)) }
        if plainLineOpen { emit("\n") }
        prompt = nil
        plainLineOpen = false
        rawMode?.restore()
    }

    // MARK: - Input

    private func nextKeyboardEvent() -> InputEvent? {
        var changed = false
        var consumed = 0
        var event: InputEvent?
        var clearScreen = false
        for byte in pending {
            consumed += 1
            switch editor.feed(byte) {
            case .none: continue
            case .changed: changed = true
            case .clearScreen: clearScreen = true
            case .submit(let line): event = .line(line)
            case .endOfInput: event = .endOfInput
            case .interrupt: event = .interrupt
            }
            if event != nil { break }
        }
        pending.removeFirst(consumed)
        if event == nil, inputEnded, pending.isEmpty { event = .endOfInput }
        if clearScreen {
            emit("\(LineRenderer.escape)H\(LineRenderer.escape)2J" + redraw(fromRow: 0))
        } else if let event {
            // The line is left on the screen whole, with the cursor after it, wherever it was being edited.
            let shown: String
            if case .line(let line) = event { shown = line } else { shown = editor.line }
            emit(redraw(fromRow: cursorRow, submitted: shown))
        } else if changed {
            emit(redraw(fromRow: cursorRow))
        }
        if event != nil {
            // The answered line stays on the screen; the output goes on below it.
            emit("\n")
            prompt = nil
            cursorRow = 0
        }
        return event
    }

    private func nextPlainEvent() -> InputEvent? {
        let event: InputEvent
        if !plainLines.isEmpty {
            event = .line(plainLines.removeFirst())
        } else if inputEnded {
            event = .endOfInput
        } else {
            return nil
        }
        if plainLineOpen {
            emit("\n")
            plainLineOpen = false
        }
        prompt = nil
        return event
    }

    // MARK: - Output

    /// The bytes that redraw the input line. `submitted`: the line just ended, drawn in full with the cursor
    /// at its end (after Enter the editor itself is already empty again).
    private func redraw(fromRow row: Int, submitted: String? = nil) -> String {
        guard let prompt else { return "" }
        let text: [Character]
        let cursor: Int
        if editor.masked {
            (text, cursor) = ([], 0)
        } else if let submitted {
            text = Array(submitted)
            cursor = text.count
        } else {
            (text, cursor) = (editor.text, editor.cursor)
        }
        let drawn = LineRenderer.redraw(prompt: prompt, text: text, cursor: cursor,
                                        width: RawMode.screenWidth(fd: outputFD), fromRow: row)
        cursorRow = drawn.cursorRow
        return drawn.output
    }

    /// Writes all of `string`. The screen's descriptor may be non-blocking (its open file is shared with whatever
    /// made it so): when it is full, this waits in poll() until there is room, rather than retrying at once.
    private func emit(_ string: String) {
        guard !string.isEmpty else { return }
        let bytes = Array(string.utf8)
        var offset = 0
        while offset < bytes.count {
            switch bytes.withUnsafeBytes({ SystemCall.write(outputFD, UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case .bytes(let n):
                offset += n
            case .wouldBlock:
                if !SystemCall.waitUntilWritable(outputFD) { return }
            case .closed, .failed:
                return  // the screen is gone (a closed pipe): nothing useful left to do with this output
            }
        }
    }
}
