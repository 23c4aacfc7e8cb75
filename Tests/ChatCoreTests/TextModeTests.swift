import XCTest
@testable import ChatCore

/// docs/PROTOCOL.md §8: the server itself speaks the terminal dialogue to nc/telnet users.
final class TextModeTests: XCTestCase {
    func testLoginDialogueAndCommands() {
        let h = HubHarness(accounts: [("hans", "solo"), ("luke", "sky")])
        let luke = h.login("luke", "sky")
        let t = h.connect(.text)
        h.type(t, "")
        XCTAssertEqual(h.text(t), Texts.usernamePrompt)
        h.type(t, "hans")
        XCTAssertEqual(h.text(t), Texts.passwordPrompt)
        h.type(t, "wrong")
        XCTAssertEqual(h.text(t), Texts.invalidPassword + "\n" + Texts.passwordPrompt)
        h.type(t, "solo")
        XCTAssertEqual(h.text(t), Texts.welcome + "\n")
        XCTAssertEqual(h.events(luke).last?["user"]?.stringValue, "hans")

        h.type(t, "whoelse")
        XCTAssertEqual(h.text(t), "luke\n")
        h.type(t, "message luke hello there")
        XCTAssertEqual(h.text(t), "")
        XCTAssertEqual(h.events(luke).last?["text"]?.stringValue, "hello there")
        h.send(luke, #"{"type":"message","to":"hans","text":"hi back"}"#)
        XCTAssertEqual(h.text(t), "luke: hi back\n")
        h.type(t, "message hans me")
        XCTAssertEqual(h.text(t), Texts.cannotMessageSelf + "\n")
        h.type(t, "message")
        XCTAssertEqual(h.text(t), Texts.invalidCommand + "\n")
        h.type(t, "whatsthetime")
        XCTAssertEqual(h.text(t), Texts.invalidCommand + "\n")
        h.type(t, "block luke")
        XCTAssertEqual(h.text(t), "luke is blocked\n")
        h.type(t, "block luke")
        XCTAssertEqual(h.text(t), "Error. luke is already blocked\n")
        h.type(t, "unblock luke")
        XCTAssertEqual(h.text(t), "luke is unblocked\n")
        h.type(t, "unblock luke")
        XCTAssertEqual(h.text(t), "Error. luke was not blocked\n")
        h.type(t, "startprivate luke")
        XCTAssertEqual(h.text(t), Texts.privateImpossible("luke") + "\n")
        h.type(t, "private luke psst")
        XCTAssertEqual(h.text(t), Texts.privateNotEnabled("luke") + "\n")
        h.send(luke, #"{"type":"logout"}"#)
        XCTAssertEqual(h.text(t), "luke logged out\n")
        h.type(t, "logout")
        XCTAssertTrue(h.output.isDisconnected(t))
    }

    func testNewUserLockoutAndAlreadyLoggedIn() {
        let h = HubHarness(accounts: [("hans", "solo")])
        let t = h.connect(.text)
        h.type(t, "rey")
        XCTAssertEqual(h.text(t), Texts.newUserPrompt)
        h.type(t, "jakku")
        XCTAssertEqual(h.text(t), Texts.welcome + "\n")

        let u = h.connect(.text)
        h.type(u, "rey")
        h.type(u, "jakku")
        XCTAssertEqual(h.text(u), Texts.passwordPrompt + Texts.alreadyLoggedIn("rey") + "\n" + Texts.usernamePrompt)

        h.type(u, "hans")
        h.type(u, "a")
        h.type(u, "b")
        h.type(u, "c")
        XCTAssertTrue(h.text(u).hasSuffix(Texts.lockedNow + "\n"))
        XCTAssertTrue(h.output.isDisconnected(u))
        let v = h.connect(.text)
        h.type(v, "hans")
        h.type(v, "solo")
        XCTAssertEqual(h.text(v), Texts.passwordPrompt + Texts.lockedAlready + "\n")
        XCTAssertTrue(h.output.isDisconnected(v))
    }

    func testTimeoutLineForTextClients() {
        let h = HubHarness(timeoutSeconds: 5, accounts: [("hans", "solo")])
        let t = h.connect(.text)
        h.type(t, "hans")
        h.type(t, "solo")
        _ = h.text(t)
        h.clock.advance(seconds: 5)
        h.hub.sweep()
        XCTAssertEqual(h.text(t), Texts.timedOut + "\n")
        XCTAssertTrue(h.output.isDisconnected(t))
    }
}
