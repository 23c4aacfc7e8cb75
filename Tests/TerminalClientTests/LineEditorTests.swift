import XCTest
import ChatCore
@testable import CLI

/// The terminal client's line editor, screen arithmetic, reply lines and request encoding, without a terminal.
final class LineEditorTests: XCTestCase {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    private func typed(_ input: String, into editor: inout LineEditor) -> [LineEditor.Outcome] {
        editor.feed(bytes(input))
    }

    func testTypingAndEnterSubmitsAndEmpties() {
        var editor = LineEditor()
        XCTAssertEqual(typed("whoelse\r", into: &editor).last, .submit("whoelse"))
        XCTAssertEqual(editor.line, "")
        XCTAssertEqual(editor.cursor, 0)
    }

    func testCarriageReturnLineFeedCountsOnce() {
        var editor = LineEditor()
        let outcomes = typed("a\r\nb\n", into: &editor)
        XCTAssertEqual(outcomes.filter { if case .submit = $0 { true } else { false } }, [.submit("a"), .submit("b")])
    }

    func testBackspaceBothCodesAndAtStart() {
        var editor = LineEditor()
        _ = typed("abc\u{7F}\u{08}", into: &editor)
        XCTAssertEqual(editor.line, "a")
        _ = typed("\u{7F}\u{7F}", into: &editor)
        XCTAssertEqual(editor.line, "")
        XCTAssertEqual(editor.feed(0x7F), .none, "backspace on an empty line changes nothing")
    }

    func testLeftRightInsertInTheMiddleAndDelete() {
        var editor = LineEditor()
        _ = typed("helo", into: &editor)
        _ = typed("\u{1B}[D", into: &editor)  // left
        XCTAssertEqual(editor.cursor, 3)
        _ = typed("l", into: &editor)
        XCTAssertEqual(editor.line, "hello")
        XCTAssertEqual(editor.cursor, 4)
        _ = typed("\u{1B}[C\u{1B}[C\u{1B}[C", into: &editor)  // right past the end stops at the end
        XCTAssertEqual(editor.cursor, 5)
        _ = typed("\u{1B}[H", into: &editor)  // home
        XCTAssertEqual(editor.cursor, 0)
        _ = typed("\u{1B}[3~", into: &editor)  // delete
        XCTAssertEqual(editor.line, "ello")
        _ = typed("\u{1B}[F", into: &editor)  // end
        XCTAssertEqual(editor.cursor, 4)
        _ = typed("\u{1}X\u{5}Y", into: &editor)  // ^A, ^E
        XCTAssertEqual(editor.line, "XelloY")
    }

    func testApplicationModeArrowsAndHomeEndVariants() {
        var editor = LineEditor()
        _ = typed("abc\u{1B}OD\u{1B}OD", into: &editor)
        XCTAssertEqual(editor.cursor, 1)
        _ = typed("\u{1B}[4~", into: &editor)
        XCTAssertEqual(editor.cursor, 3)
        _ = typed("\u{1B}[1~", into: &editor)
        XCTAssertEqual(editor.cursor, 0)
    }

    func testWordMovesAndKills() {
        var editor = LineEditor()
        _ = typed("message bob hi there", into: &editor)
        _ = typed("\u{1B}[1;5D", into: &editor)  // ctrl-left
        XCTAssertEqual(editor.cursor, 15)
        _ = typed("\u{1B}b", into: &editor)  // alt-b
        XCTAssertEqual(editor.cursor, 12)
        _ = typed("\u{1B}f", into: &editor)  // alt-f
        XCTAssertEqual(editor.cursor, 14)
        _ = typed("\u{17}", into: &editor)  // ^W deletes "hi"
        XCTAssertEqual(editor.line, "message bob  there")
        _ = typed("\u{B}", into: &editor)  // ^K
        XCTAssertEqual(editor.line, "message bob ")
        _ = typed("\u{15}", into: &editor)  // ^U
        XCTAssertEqual(editor.line, "")
    }

    func testHistoryUpDownKeepsTheDraft() {
        var editor = LineEditor()
        _ = typed("whoelse\rblock bob\rblock bob\r", into: &editor)
        XCTAssertEqual(editor.historyEntries, ["whoelse", "block bob"], "a repeated line is remembered once")
        _ = typed("mess", into: &editor)
        _ = typed("\u{1B}[A", into: &editor)
        XCTAssertEqual(editor.line, "block bob")
        _ = typed("\u{1B}[A", into: &editor)
        XCTAssertEqual(editor.line, "whoelse")
        XCTAssertEqual(editor.feed(bytes("\u{1B}[A")), [], "nothing older")
        _ = typed("\u{1B}[B\u{1B}[B", into: &editor)
        XCTAssertEqual(editor.line, "mess", "down past the newest entry gives back the draft")
        XCTAssertEqual(editor.cursor, 4)
        _ = typed("\u{10}", into: &editor)  // ^P
        XCTAssertEqual(editor.line, "block bob")
        XCTAssertEqual(typed("\r", into: &editor).last, .submit("block bob"))
    }

    func testMaskedLineIsNotRemembered() {
        var editor = LineEditor()
        editor.reset(masked: true)
        XCTAssertEqual(typed("s3cret\r", into: &editor).last, .submit("s3cret"))
        editor.reset()
        XCTAssertEqual(editor.historyEntries, [])
        XCTAssertEqual(editor.feed(bytes("\u{1B}[A")), [])
    }

    func testControlDAndControlC() {
        var editor = LineEditor()
        XCTAssertEqual(editor.feed(0x04), .endOfInput, "^D on an empty line ends the input")
        _ = typed("ab\u{1}", into: &editor)
        XCTAssertEqual(editor.feed(0x04), .changed, "^D on a non-empty line deletes under the cursor")
        XCTAssertEqual(editor.line, "b")
        XCTAssertEqual(editor.feed(0x03), .interrupt)
        XCTAssertEqual(editor.feed(0x0C), .clearScreen)
    }

    func testUTF8SplitAcrossFeedsAndCombiningMarks() {
        var editor = LineEditor()
        let bytes = Array("héllo 日本 👋".utf8)
        for byte in bytes { _ = editor.feed(byte) }
        XCTAssertEqual(editor.line, "héllo 日本 👋")
        XCTAssertEqual(editor.cursor, 10)
        _ = editor.feed(0x7F)
        XCTAssertEqual(editor.line, "héllo 日本 ", "backspace removes a whole character")
        editor.reset()
        _ = typed("e\u{301}", into: &editor)  // e + combining acute
        XCTAssertEqual(editor.text.count, 1)
        XCTAssertEqual(editor.cursor, 1)
    }

    func testBrokenInputIsDropped() {
        var editor = LineEditor()
        _ = editor.feed([0xE6, 0x41])  // a cut-short character, then "A"
        XCTAssertEqual(editor.line, "A")
        _ = editor.feed([0x80, 0xFF, 0x07])  // stray continuation, invalid lead, bell
        XCTAssertEqual(editor.line, "A")
        _ = typed("\u{1B}[99Z\u{1B}x", into: &editor)  // unknown CSI, Alt-x
        XCTAssertEqual(editor.line, "Ax")
    }

    // MARK: - Screen arithmetic

    func testColumnsOfWideAndCombiningCharacters() {
        XCTAssertEqual(LineRenderer.columns(of: "abc"), 3)
        XCTAssertEqual(LineRenderer.columns(of: "日本"), 4)
        XCTAssertEqual(LineRenderer.columns(of: "👋"), 2)
        XCTAssertEqual(LineRenderer.columns(of: "e\u{301}"), 1)
    }

    func testRedrawOnOneRow() {
        let drawn = LineRenderer.redraw(prompt: "> ", text: Array("hello"), cursor: 2, width: 80, fromRow: 0)
        XCTAssertEqual(drawn.output, "\r\u{1B}[J> hello\r\u{1B}[4C")
        XCTAssertEqual(drawn.cursorRow, 0)
    }

    func testRedrawWrappedLineFindsItsWayBack() {
        // Prompt 2 + 15 characters on a 10-column screen: rows 0 and 1; cursor at character 3 → column 5 of row 0.
        let text = Array("abcdefghijklmno")
        let drawn = LineRenderer.redraw(prompt: "> ", text: text, cursor: 3, width: 10, fromRow: 1)
        XCTAssertEqual(drawn.output, "\u{1B}[1A\r\u{1B}[J> abcdefghijklmno\u{1B}[1A\r\u{1B}[5C")
        XCTAssertEqual(drawn.cursorRow, 0)
        // Exactly filling the row: the cursor is put on the next row explicitly.
        let full = LineRenderer.redraw(prompt: "> ", text: Array("abcdefgh"), cursor: 8, width: 10, fromRow: 0)
        XCTAssertEqual(full.output, "\r\u{1B}[J> abcdefgh\r\n\r")
        XCTAssertEqual(full.cursorRow, 1)
        XCTAssertEqual(LineRenderer.erase(fromRow: 1), "\u{1B}[1A\r\u{1B}[J")
    }

    func testPrintableNeutralisesControlCharacters() {
        XCTAssertEqual(LineRenderer.printable("a\u{1B}[2Jb\nc\td"), "a\u{FFFD}[2Jb\u{FFFD}c d")
    }

    // MARK: - Replies and requests

    private func frame(_ json: String) -> ServerFrame {
        ServerFrame(value: try! JSONParser.parse(Array(json.utf8)))
    }

    func testReplyLinesFollowTheSpec() {
        var printer = ReplyPrinter()
        XCTAssertEqual(printer.output(for: frame(#"{"type":"ok","re":1}"#), answering: .block(user: "bob")).lines,
                       ["bob is blocked"])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"ok","re":2,"partial":true}"#),
                                      answering: .broadcast(text: "x")).lines,
                       [Texts.someRecipientsMissed])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"ok","re":3,"id":9,"stored":true}"#),
                                      answering: .message(to: "bob", text: "x")).lines, [])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"error","re":4,"code":"already_blocked","message":"m"}"#),
                                      answering: .block(user: "bob")).lines, ["Error. bob is already blocked"])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"error","re":5,"code":"self","message":"m"}"#),
                                      answering: .message(to: "me", text: "x")).lines, [Texts.cannotMessageSelf])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"users","re":6,"users":["a","b"]}"#),
                                      answering: .whoelse).lines, ["a", "b"])
        XCTAssertEqual(printer.output(for: frame(#"{"type":"presence","user":"bob","state":"out"}"#),
                                      answering: nil).lines, ["bob logged out"])
        let timeout = printer.output(for: frame(#"{"type":"timeout"}"#), answering: nil)
        XCTAssertEqual(timeout, .init(lines: [Texts.timedOut], end: .timedOut))
        XCTAssertEqual(printer.output(for: frame(#"{"type":"bye"}"#), answering: nil), .init(end: .loggedOut))
    }

    func testAMessageDeliveredTwiceIsShownOnce() {
        var printer = ReplyPrinter()
        let message = frame(#"{"type":"message","id":7,"from":"bob","text":"hi","at":1,"offline":true}"#)
        XCTAssertEqual(printer.output(for: message, answering: nil).lines, ["bob: hi"])
        XCTAssertEqual(printer.output(for: message, answering: nil).lines, [])
    }

    func testEncodedRequestsDecodeOnTheServerSide() throws {
        let requests: [ClientRequest] = [
            .lookup(user: "hans"),
            .login(user: "hans", credential: .password("p \"w\""), peer: .none),
            .login(user: "hans", credential: .password("pw"), peer: .tcp(port: 4100), acks: true),
            .register(user: "new", password: "pw", peer: .none, acks: true), .ack(seq: 12),
            .message(to: "luke", text: "hi there\nyou"),
            .broadcast(text: "all"),
            .whoelse, .whoelsesince(seconds: 30), .block(user: "x"), .unblock(user: "x"),
            .startprivate(user: "x"), .privatereply(user: "x", accept: true), .activity, .logout,
        ]
        for (i, request) in requests.enumerated() {
            let encoded = RequestEncoder.encode(request, id: Int64(i))
            let decoded = try RequestDecoder.decode(encoded).get()
            XCTAssertEqual(decoded.request, request)
            XCTAssertEqual(decoded.id, .number(Int64(i)))
        }
    }
}
