import XCTest
@testable import ChatCore

/// docs/PROTOCOL.md §12 in the server's text mode: room commands as typed, and their replies and the other
/// members' events worded exactly as the terminal client prints them.
final class TextModeRoomTests: XCTestCase {
    // -- Parsing ------------------------------------------------------------------------------------------

    func testRoomCommandsParseWithOrWithoutTheHash() {
        XCTAssertEqual(TypedCommand.parse("join general"), .server(.join(room: "general")))
        XCTAssertEqual(TypedCommand.parse("join #general"), .server(.join(room: "general")))
        XCTAssertEqual(TypedCommand.parse("  leave  #r  "), .server(.leave(room: "r")))
        XCTAssertEqual(TypedCommand.parse("members r"), .server(.members(room: "r")))
        XCTAssertEqual(TypedCommand.parse("rooms"), .server(.rooms))
        XCTAssertEqual(TypedCommand.parse("rooms "), .server(.rooms))
        XCTAssertEqual(TypedCommand.parse("say #r hello  there "), .server(.say(room: "r", text: "hello  there ")))
        XCTAssertEqual(TypedCommand.parse("say r #not a room"), .server(.say(room: "r", text: "#not a room")))
        XCTAssertEqual(TypedCommand.parse("kick #r luke"), .server(.kick(room: "r", user: "luke")))
        XCTAssertEqual(TypedCommand.parse("ban r luke"), .server(.ban(room: "r", user: "luke")))
        XCTAssertEqual(TypedCommand.parse("unban #r\tluke"), .server(.unban(room: "r", user: "luke")))
        // Only one leading '#' is the terminal's; the server judges the rest of the name.
        XCTAssertEqual(TypedCommand.parse("join ##r"), .server(.join(room: "#r")))
        XCTAssertEqual(TypedCommand.parse("join bad.name"), .server(.join(room: "bad.name")))
    }

    func testRoomCommandsWithWrongArgumentsAreInvalid() {
        for line in ["join", "join a b", "leave", "leave a b", "members", "members a b", "rooms general", "say",
                     "say r", "say r    ", "kick r", "kick r luke x", "ban", "ban r", "unban r", "unban r a b",
                     "Join r", "room r"] {
            XCTAssertNil(TypedCommand.parse(line), line)
        }
    }

    // -- Against the hub ----------------------------------------------------------------------------------

    private func textLogin(_ h: HubHarness, _ user: String, _ password: String,
                           file: StaticString = #filePath, line: UInt = #line) -> ClientID {
        let t = h.connect(.text)
        h.type(t, user)
        h.type(t, password)
        XCTAssertTrue(h.text(t).hasSuffix(Texts.welcome + "\n"), "login of \(user)", file: file, line: line)
        return t
    }

    func testJoinSayListAndLeaveInTextMode() {
        let h = HubHarness(accounts: [("hans", "solo"), ("leia", "org"), ("luke", "sky")])
        let hans = textLogin(h, "hans", "solo")
        let leia = textLogin(h, "leia", "org")
        let luke = h.login("luke", "sky")
        _ = (h.text(hans), h.text(leia))

        h.type(hans, "rooms")
        XCTAssertEqual(h.text(hans), Texts.inNoRooms + "\n")
        h.type(hans, "join #general")
        XCTAssertEqual(h.text(hans), "You created #general\n")
        h.clock.advance(seconds: 1)
        h.type(leia, "join general")
        XCTAssertEqual(h.text(leia), "You joined #general\n")
        XCTAssertEqual(h.text(hans), "leia joined #general\n")
        h.clock.advance(seconds: 1)
        h.send(luke, #"{"type":"join","room":"general"}"#)
        XCTAssertEqual(h.text(hans), "luke joined #general\n")
        XCTAssertEqual(h.text(leia), "luke joined #general\n")
        h.type(hans, "join general")
        XCTAssertEqual(h.text(hans), "Error. You are already in #general\n")

        h.type(hans, "say #general hello  all ")
        XCTAssertEqual(h.text(hans), "", "the sender sees nothing")
        XCTAssertEqual(h.text(leia), "#general hans: hello  all \n")
        let event = h.events(luke).first { $0["type"]?.stringValue == "room_message" }
        XCTAssertEqual(event?["text"]?.stringValue, "hello  all ")
        h.send(luke, #"{"type":"say","room":"general","text":"hi there"}"#)
        XCTAssertEqual(h.text(hans), "#general luke: hi there\n")

        h.type(leia, "join side")
        _ = h.text(leia)
        h.type(leia, "rooms")
        XCTAssertEqual(Set(h.text(leia).split(separator: "\n")), ["#general (3 members)", "#side (1 members)"])
        h.type(hans, "members #general")
        XCTAssertEqual(h.text(hans).split(separator: "\n").sorted(), ["hans", "leia", "luke"])
        h.type(hans, "members side")
        XCTAssertEqual(h.text(hans), "Error. You are not in #side\n")
        h.type(hans, "say side psst")
        XCTAssertEqual(h.text(hans), "Error. You are not in #side\n")

        // The owner leaves: the room passes on, the others see the leave.
        h.type(hans, "leave #general")
        XCTAssertEqual(h.text(hans), "You left #general\n")
        XCTAssertEqual(h.text(leia), "hans left #general\n")
        h.type(hans, "leave general")
        XCTAssertEqual(h.text(hans), "Error. You are not in #general\n")
        h.type(leia, "kick general luke")
        XCTAssertEqual(h.text(leia), "luke was removed from #general\n", "leia joined first, so she owns it now")
    }

    func testModerationLinesOnBothSides() {
        let h = HubHarness(accounts: [("hans", "solo"), ("leia", "org"), ("luke", "sky")])
        let hans = textLogin(h, "hans", "solo")
        let leia = textLogin(h, "leia", "org")
        let luke = textLogin(h, "luke", "sky")
        h.type(hans, "join r")
        h.type(leia, "join r")
        h.type(luke, "join r")
        _ = (h.text(hans), h.text(leia), h.text(luke))

        h.type(leia, "kick r luke")
        XCTAssertEqual(h.text(leia), "Error. Only the owner of #r can do that\n")
        h.type(leia, "ban nowhere luke")
        XCTAssertEqual(h.text(leia), "Error. Only the owner of #nowhere can do that\n")
        h.type(hans, "kick r hans")
        XCTAssertEqual(h.text(hans), Texts.cannotKickSelf + "\n")
        h.type(hans, "ban r hans")
        XCTAssertEqual(h.text(hans), "Error. Cannot ban self\n")
        h.type(hans, "ban r nobody")
        XCTAssertEqual(h.text(hans), "Error. Invalid user\n")

        h.type(hans, "kick #r luke")
        XCTAssertEqual(h.text(hans), "luke was removed from #r\n")
        XCTAssertEqual(h.text(luke), "You were removed from #r by hans\n")
        XCTAssertEqual(h.text(leia), "luke left #r\n")
        h.type(hans, "kick r luke")
        XCTAssertEqual(h.text(hans), "Error. luke is not in #r\n")

        h.type(hans, "ban r leia")
        XCTAssertEqual(h.text(hans), "leia is banned from #r\n")
        XCTAssertEqual(h.text(leia), "You were banned from #r by hans\n")
        h.type(leia, "join #r")
        XCTAssertEqual(h.text(leia), "Error. You are banned from #r\n")
        h.type(leia, "say r let me in")
        XCTAssertEqual(h.text(leia), "Error. You are not in #r\n")
        h.type(hans, "unban r leia")
        XCTAssertEqual(h.text(hans), "leia is unbanned from #r\n")
        h.type(leia, "join r")
        XCTAssertEqual(h.text(leia), "You joined #r\n")
        XCTAssertEqual(h.text(hans), "leia joined #r\n")
    }

    func testBlockedMemberMissesTheMessageAndTheSenderIsTold() {
        let h = HubHarness(accounts: [("hans", "solo"), ("leia", "org"), ("luke", "sky")])
        let hans = textLogin(h, "hans", "solo")
        let leia = textLogin(h, "leia", "org")
        let luke = textLogin(h, "luke", "sky")
        for t in [hans, leia, luke] { h.type(t, "join r") }
        h.type(luke, "block hans")
        _ = (h.text(hans), h.text(leia), h.text(luke))

        h.type(hans, "say r anyone?")
        XCTAssertEqual(h.text(hans), Texts.someRecipientsMissed + "\n")
        XCTAssertEqual(h.text(leia), "#r hans: anyone?\n")
        XCTAssertEqual(h.text(luke), "")
    }

    func testBadRoomNamesAndArity() {
        let h = HubHarness(accounts: [("hans", "solo")])
        let hans = textLogin(h, "hans", "solo")
        for line in ["join bad.name", "join #", "join " + String(repeating: "x", count: 33), "join caf\u{E9}"] {
            h.type(hans, line)
            XCTAssertEqual(h.text(hans), "Error. Invalid room\n", line)
        }
        for line in ["join", "say r", "kick r", "rooms now"] {
            h.type(hans, line)
            XCTAssertEqual(h.text(hans), "Error. Invalid command\n", line)
        }
    }

    func testMissedRoomMessagesComeAtTheNextLoginOnce() {
        let h = HubHarness(accounts: [("hans", "solo"), ("leia", "org")])
        let hans = textLogin(h, "hans", "solo")
        var leia = textLogin(h, "leia", "org")
        h.type(hans, "join r")
        h.type(leia, "join r")
        h.type(leia, "logout")
        _ = h.text(hans)
        h.type(hans, "say r one")
        h.type(hans, "say #r two")

        leia = h.connect(.text)
        h.type(leia, "leia")
        h.type(leia, "org")
        XCTAssertEqual(h.text(leia), Texts.passwordPrompt + Texts.welcome + "\n#r hans: one\n#r hans: two\n")
        h.type(leia, "logout")
        leia = h.connect(.text)
        h.type(leia, "leia")
        h.type(leia, "org")
        XCTAssertEqual(h.text(leia), Texts.passwordPrompt + Texts.welcome + "\n",
                       "a text session received them when they were written to it")
    }
}
