import XCTest
import ChatCore
@testable import CLI

/// The terminal client's side of rooms (docs/PROTOCOL.md §12): the lines printed for room replies and events,
/// each room message shown once, and each room's cursor acknowledged on its own schedule.
final class RoomLinesTests: XCTestCase {
    private let start = ContinuousClock.now
    private func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    private func frame(_ json: String) -> ServerFrame {
        ServerFrame(value: try! JSONParser.parse(Array(json.utf8)))
    }

    private func lines(_ printer: inout ReplyPrinter, _ json: String, _ request: ClientRequest? = nil) -> [String] {
        printer.output(for: frame(json), answering: request).lines
    }

    // -- Lines ----------------------------------------------------------------------------------------------

    func testRepliesToRoomCommands() {
        var p = ReplyPrinter()
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1,"room":"r","created":true,"owner":"a"}"#, .join(room: "r")),
                       ["You created #r"])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1,"room":"r","created":false,"owner":"b"}"#, .join(room: "r")),
                       ["You joined #r"])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1}"#, .leave(room: "r")), ["You left #r"])
        let say = ClientRequest.say(room: "r", text: "x")
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1,"id":5,"seq":2,"partial":false}"#, say), [])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1,"id":5,"seq":2,"partial":true}"#, say), [Texts.someRecipientsMissed])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1}"#, .kick(room: "r", user: "bob")), ["bob was removed from #r"])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1}"#, .ban(room: "r", user: "bob")), ["bob is banned from #r"])
        XCTAssertEqual(lines(&p, #"{"type":"ok","re":1}"#, .unban(room: "r", user: "bob")), ["bob is unbanned from #r"])
        let two = #"[{"room":"a","members":3,"owner":"x"},{"room":"b","members":1,"owner":null}]"#
        XCTAssertEqual(lines(&p, #"{"type":"rooms","re":1,"rooms":\#(two)}"#, .rooms), ["#a (3 members)", "#b (1 members)"])
        XCTAssertEqual(lines(&p, #"{"type":"rooms","re":1,"rooms":[]}"#, .rooms), ["You are in no rooms"])
        XCTAssertEqual(lines(&p, #"{"type":"users","re":1,"users":["a","b"],"online":["a"]}"#, .members(room: "r")),
                       ["a", "b"])
    }

    func testErrorsOfRoomCommands() {
        var p = ReplyPrinter()
        XCTAssertEqual(lines(&p, #"{"type":"error","re":1,"code":"invalid_room","message":"Error. Invalid room"}"#,
                             .join(room: "a.b")), ["Error. Invalid room"])
        let notMember = #"{"type":"error","re":1,"code":"not_member","message":"x"}"#
        XCTAssertEqual(lines(&p, notMember, .say(room: "r", text: "x")), ["Error. You are not in #r"])
        XCTAssertEqual(lines(&p, notMember, .kick(room: "r", user: "bob")), ["Error. bob is not in #r"])
        XCTAssertEqual(lines(&p, #"{"type":"error","re":1,"code":"not_owner","message":"x"}"#, .ban(room: "r", user: "bob")),
                       ["Error. Only the owner of #r can do that"])
        XCTAssertEqual(lines(&p, #"{"type":"error","re":1,"code":"banned","message":"x"}"#, .join(room: "r")),
                       ["Error. You are banned from #r"])
        // A room ack (sent without an id) that crossed the user's removal: refused, and not worth a line.
        XCTAssertEqual(lines(&p, #"{"type":"error","code":"not_member","message":"Error. You are not in #r"}"#), [])
    }

    func testRoomEvents() {
        var p = ReplyPrinter()
        XCTAssertEqual(lines(&p, #"{"type":"room_message","room":"r","id":9,"seq":1,"from":"alice","text":"hi","at":1}"#),
                       ["#r alice: hi"])
        let offline = #"{"type":"room_message","room":"r","id":10,"seq":2,"from":"alice","text":"old","at":1,"offline":true}"#
        XCTAssertEqual(lines(&p, offline), ["#r alice: old"], "a message missed while away prints the same")
        XCTAssertEqual(lines(&p, #"{"type":"room_join","room":"r","user":"bob"}"#), ["bob joined #r"])
        XCTAssertEqual(lines(&p, #"{"type":"room_leave","room":"r","user":"bob","reason":"left"}"#), ["bob left #r"])
        XCTAssertEqual(lines(&p, #"{"type":"room_leave","room":"r","user":"bob","reason":"removed"}"#), ["bob left #r"])
        XCTAssertEqual(lines(&p, #"{"type":"room_leave","room":"r","user":"me","reason":"removed","by":"alice"}"#),
                       ["You were removed from #r by alice"])
        XCTAssertEqual(lines(&p, #"{"type":"room_leave","room":"s","user":"me","reason":"banned","by":"alice"}"#),
                       ["You were banned from #s by alice"])
        let escapes = #"{"type":"room_message","room":"r","id":11,"seq":3,"from":"a\u001b[2Jb","text":"x\ty","at":1}"#
        XCTAssertEqual(lines(&p, escapes), ["#r a\u{FFFD}[2Jb: x y"], "control characters never reach the terminal")
    }

    // -- Shown once, acknowledged per room ------------------------------------------------------------------

    func testEachRoomHasItsOwnSeqs() {
        var p = ReplyPrinter()
        let r1 = #"{"type":"room_message","room":"r","id":1,"seq":1,"from":"a","text":"one","at":1}"#
        let s1 = #"{"type":"room_message","room":"s","id":2,"seq":1,"from":"a","text":"other","at":1}"#
        let r1Again = String(r1.dropLast()) + #","offline":true}"#
        XCTAssertEqual(lines(&p, r1), ["#r a: one"])
        XCTAssertEqual(lines(&p, s1), ["#s a: other"], "seq 1 of another room is another message")
        XCTAssertEqual(lines(&p, r1Again), [], "a replayed (room, seq) already shown is dropped")
        XCTAssertEqual(p.shownRooms.highestSeqs, ["r": 1, "s": 1])
        XCTAssertNil(p.shown.highestSeq, "room seqs never move the inbox's ack")
    }

    func testLeavingOrBeingRemovedStopsTheRoomsAcks() {
        var p = ReplyPrinter()
        _ = lines(&p, #"{"type":"room_message","room":"r","id":1,"seq":4,"from":"a","text":"x","at":1}"#)
        _ = lines(&p, #"{"type":"room_message","room":"s","id":2,"seq":7,"from":"a","text":"y","at":1}"#)
        _ = lines(&p, #"{"type":"room_message","room":"t","id":3,"seq":2,"from":"a","text":"z","at":1}"#)
        _ = lines(&p, #"{"type":"ok","re":1}"#, .leave(room: "r"))
        _ = lines(&p, #"{"type":"room_leave","room":"s","user":"me","reason":"banned","by":"a"}"#)
        _ = lines(&p, #"{"type":"room_leave","room":"t","user":"b","reason":"left"}"#)
        XCTAssertEqual(p.shownRooms.highestSeqs, ["t": 2])
    }

    func testRoomAcksAreCoalescedPerRoom() {
        var schedule = RoomAckSchedule()
        func due(_ shown: [String: Int64], _ ms: Int) -> [String] {
            schedule.due(highestShown: shown, now: at(ms)).map { "\($0.room)=\($0.seq)" }
        }
        XCTAssertEqual(due(["a": 3, "b": 1], 0), ["a=3", "b=1"], "the first batch of each room goes at once")
        XCTAssertEqual(due(["a": 5, "b": 1], 30), [], "a held back by the spacing, b unchanged")
        XCTAssertEqual(schedule.deadline, at(100))
        XCTAssertEqual(due(["a": 6, "b": 1, "c": 2], 60), ["c=2"], "a new room is not held back by another's spacing")
        XCTAssertEqual(due(["a": 6, "b": 1, "c": 2], 100), ["a=6"], "the trailing ack")
        XCTAssertNil(schedule.deadline)
        XCTAssertEqual(due(["a": 6, "c": 2], 400), [], "nothing new; b was left")
        XCTAssertEqual(schedule.final(highestShown: ["a": 7, "c": 2], now: at(410)).map { "\($0.room)=\($0.seq)" },
                       ["a=7"], "before logout, spacing or not")
        XCTAssertEqual(schedule.final(highestShown: ["a": 7, "c": 2], now: at(420)).count, 0)
    }

    func testRoomRequestsAndTheRoomAckOnTheWire() throws {
        let say = try JSONParser.parse(RequestEncoder.encode(.say(room: "r", text: "hi  all"), id: 4))
        XCTAssertEqual(say["type"]?.stringValue, "say")
        XCTAssertEqual(say["room"]?.stringValue, "r")
        XCTAssertEqual(say["text"]?.stringValue, "hi  all")
        XCTAssertEqual(String(decoding: RequestEncoder.encodeRoomAck("r", upTo: 12), as: UTF8.self),
                       #"{"type":"ack","room":"r","seq":12}"#)
    }
}
