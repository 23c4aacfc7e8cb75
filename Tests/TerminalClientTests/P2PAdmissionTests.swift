import XCTest
import ChatCore
@testable import CLI

/// The pure rules of the terminal client's private chat: the token check of the listener, the P2P wire lines,
/// the consent questions (including their 60 s expiry) and the terminal lines of the P2P replies and events.
final class P2PAdmissionTests: XCTestCase {
    private let t0 = ContinuousClock.now

    // MARK: TokenBook

    func testTheServersTokenForThatUserIsAcceptedOnce() {
        var book = TokenBook()
        book.expect(user: "hans", token: "t-1", now: t0)
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: t0), .accept)
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: t0), .hold(until: t0 + .seconds(5)),
                       "a used token is no better than an unknown one")
        XCTAssertEqual(book.count, 0)
    }

    func testATokenIsBoundToItsUser() {
        var book = TokenBook()
        book.expect(user: "hans", token: "t-1", now: t0)
        let late = t0 + .seconds(6)
        XCTAssertEqual(book.check(user: "leia", token: "t-1", arrivedAt: t0, now: late), .refuse)
        XCTAssertEqual(book.check(user: "hans", token: "t-2", arrivedAt: t0, now: late), .refuse)
        XCTAssertEqual(book.check(user: "Hans", token: "t-1", arrivedAt: t0, now: late), .refuse, "names are case-sensitive")
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: late), .accept,
                       "the wrong guesses did not use the token up")
    }

    func testAnEarlyHelloIsHeldFiveSecondsForItsToken() {
        var book = TokenBook()
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: t0 + .seconds(1)),
                       .hold(until: t0 + .seconds(5)))
        book.expect(user: "hans", token: "t-1", now: t0 + .seconds(2))
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: t0 + .seconds(2)), .accept)
        // Five seconds after the hello came, it is refused even if the token turns up later.
        XCTAssertEqual(book.check(user: "leia", token: "t-9", arrivedAt: t0, now: t0 + .seconds(5)), .refuse)
    }

    func testUnusedTokensExpireAndAreBounded() {
        var book = TokenBook()
        book.expect(user: "hans", token: "t-1", now: t0)
        let later = t0 + TokenBook.lifetime
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: later, now: later), .hold(until: later + .seconds(5)))
        for i in 0..<(TokenBook.capacity + 10) { book.expect(user: "u\(i)", token: "t\(i)", now: later) }
        XCTAssertEqual(book.count, TokenBook.capacity)
        XCTAssertEqual(book.check(user: "u0", token: "t0", arrivedAt: later, now: later + .seconds(6)), .refuse,
                       "the oldest went first")
        XCTAssertEqual(book.check(user: "u70", token: "t70", arrivedAt: later, now: later), .accept)
    }

    func testForgetDropsAUsersTokens() {
        var book = TokenBook()
        book.expect(user: "hans", token: "t-1", now: t0)
        book.forget(user: "hans")
        XCTAssertEqual(book.check(user: "hans", token: "t-1", arrivedAt: t0, now: t0 + .seconds(5)), .refuse)
    }

    func testSecretComparison() {
        XCTAssertTrue(TokenBook.sameSecret("abc", "abc"))
        XCTAssertFalse(TokenBook.sameSecret("abc", "abd"))
        XCTAssertFalse(TokenBook.sameSecret("abc", "abcd"))
        XCTAssertFalse(TokenBook.sameSecret("", "a"))
        XCTAssertTrue(TokenBook.sameSecret("", ""))
    }

    // MARK: PeerMessage

    func testWireLinesRoundTrip() {
        let messages: [PeerMessage] = [.hello(from: "hans", token: "a\"b"), .text("hi \u{1B} \n there"), .stop, .logout]
        for message in messages {
            let line = message.encoded()
            XCTAssertEqual(line.last, 0x0A)
            XCTAssertEqual(line.filter { $0 == 0x0A }.count, 1, "one line, whatever the text holds")
            XCTAssertEqual(PeerMessage.decode(line.dropLast()), message)
        }
        XCTAssertEqual(String(decoding: PeerMessage.hello(from: "hans", token: "t").encoded(), as: UTF8.self),
                       "{\"type\":\"p2p_hello\",\"from\":\"hans\",\"token\":\"t\"}\n")
    }

    func testBadLinesDecodeToNothingAndUnknownTypesAreKnownAsSuch() {
        for bad in ["", "not json", "[1,2]", "\"p2p_hello\"", "{\"type\":5}", "{}", "{\"type\":\"p2p_hello\",\"from\":\"hans\"}",
                    "{\"type\":\"p2p_hello\",\"from\":1,\"token\":\"t\"}", "{\"type\":\"private\"}",
                    "{\"type\":\"private\",\"text\":null}", "{\"type\":\"private\",\"text\":\"a\"} trailing"] {
            XCTAssertNil(PeerMessage.decode(Array(bad.utf8)), bad)
        }
        XCTAssertEqual(PeerMessage.decode(Array("{\"type\":\"typing\",\"extra\":[1]}".utf8)), .unknown)
        XCTAssertEqual(PeerMessage.decode(Array("{\"type\":\"private\",\"text\":\"x\",\"extra\":1}".utf8)), .text("x"))
    }

    // MARK: ConsentQueue

    func testAnswers() {
        for yes in ["y", "Y", " yes ", "YES"] { XCTAssertEqual(ConsentQueue.answer(yes), .yes, yes) }
        for no in ["n", "N", "\tno", "No"] { XCTAssertEqual(ConsentQueue.answer(no), .no, no) }
        for other in ["", "yep", "y n", "whoelse", "message hans y"] { XCTAssertNil(ConsentQueue.answer(other), other) }
    }

    func testQuestionsAreAskedOneAtATimeInOrder() {
        var queue = ConsentQueue()
        XCTAssertTrue(queue.add("hans", now: t0))
        XCTAssertFalse(queue.add("leia", now: t0), "hans is still being asked")
        XCTAssertFalse(queue.add("hans", now: t0), "asking again asks once")
        XCTAssertEqual(queue.current, "hans")
        XCTAssertFalse(queue.remove("leia"), "leia was not being asked")
        XCTAssertEqual(queue.current, "hans")
        _ = queue.add("leia", now: t0)
        XCTAssertTrue(queue.remove("hans"), "answered: the next one is asked")
        XCTAssertEqual(queue.current, "leia")
        XCTAssertTrue(queue.remove("leia"))
        XCTAssertNil(queue.current)
        XCTAssertTrue(queue.isEmpty)
    }

    /// The hub declines an unanswered request after 60 s (its own test covers that); the question goes then too.
    func testUnansweredQuestionsExpireWithTheServersDecline() {
        var queue = ConsentQueue()
        _ = queue.add("hans", now: t0)
        _ = queue.add("leia", now: t0 + .seconds(30))
        XCTAssertEqual(queue.nextExpiry, t0 + .seconds(60))
        XCTAssertFalse(queue.expire(now: t0 + .seconds(59)))
        XCTAssertTrue(queue.expire(now: t0 + .seconds(60)))
        XCTAssertEqual(queue.current, "leia")
        XCTAssertTrue(queue.expire(now: t0 + .seconds(90)))
        XCTAssertNil(queue.nextExpiry)
    }

    // MARK: Lines of the P2P replies and events

    private func frame(_ json: String) -> ServerFrame {
        ServerFrame(value: try! JSONParser.parse(Array(json.utf8)))
    }

    func testReplyLines() {
        var printer = ReplyPrinter()
        XCTAssertEqual(printer.output(for: frame("{\"type\":\"ok\",\"re\":1}"), answering: .startprivate(user: "luke")).lines,
                       ["Start private messaging with luke"])
        XCTAssertEqual(printer.output(for: frame("{\"type\":\"private_declined\",\"user\":\"luke\"}"), answering: nil).lines,
                       ["luke declines private messaging"])
        XCTAssertEqual(printer.output(for: frame("{\"type\":\"ok\",\"re\":2}"), answering: .activity).lines, [])
        XCTAssertEqual(printer.output(for: frame("{\"type\":\"private_request\",\"from\":\"hans\"}"), answering: nil).lines, [],
                       "the command loop asks the question")
        let errors: [(String, String)] = [
            ("no_p2p", "Error. Private messaging with luke is not possible from this client"),
            ("offline", "Error. luke is offline"),
            ("blocked", "Error. luke has blocked you"),
            ("self", "Error. Cannot start private messaging with self"),
            ("invalid_user", "Error. Invalid user"),
        ]
        for (code, line) in errors {
            let reply = frame("{\"type\":\"error\",\"re\":3,\"code\":\"\(code)\",\"message\":\"x\"}")
            XCTAssertEqual(printer.output(for: reply, answering: .startprivate(user: "luke")).lines, [line], code)
        }
        let late = frame("{\"type\":\"error\",\"re\":4,\"code\":\"no_request\",\"message\":\"no pending private request\"}")
        XCTAssertEqual(printer.output(for: late, answering: .privatereply(user: "hans", accept: true)).lines,
                       [ClientTexts.privateRequestGone("hans")])
    }
}
