import XCTest
import ChatCore
@testable import CLI

/// The terminal client's side of inbox acknowledgements (docs/PROTOCOL.md §11.2): which messages are shown
/// once, and when an ack goes out, with the clock passed in.
final class InboxAcksTests: XCTestCase {
    private let start = ContinuousClock.now
    private func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    private func frame(_ json: String) -> ServerFrame {
        ServerFrame(value: try! JSONParser.parse(Array(json.utf8)))
    }

    // -- Shown once ---------------------------------------------------------------------------------------

    func testASeqIsShownOnceWhetherLiveOrReplayed() {
        var printer = ReplyPrinter()
        let live = frame(#"{"type":"message","id":812,"seq":17,"from":"luke","text":"hi","at":1}"#)
        let replayed = frame(#"{"type":"message","id":812,"seq":17,"from":"luke","text":"hi","at":1,"offline":true}"#)
        XCTAssertEqual(printer.output(for: live, answering: nil).lines, ["luke: hi"])
        XCTAssertEqual(printer.output(for: replayed, answering: nil).lines, [])
        XCTAssertEqual(printer.shown.highestSeq, 17)
    }

    func testSeqIsTheKeyWhenPresentNotTheID() {
        var shown = ShownMessages()
        XCTAssertTrue(shown.firstShowing(seq: 1, id: 50))
        XCTAssertTrue(shown.firstShowing(seq: 2, id: 50), "another inbox place is another message")
        XCTAssertFalse(shown.firstShowing(seq: 1, id: 51))
    }

    func testWithoutSeqTheOldDedupeByIDStaysAndNothingIsToAcknowledge() {
        var printer = ReplyPrinter()
        let message = frame(#"{"type":"message","id":7,"from":"bob","text":"hi","at":1}"#)
        XCTAssertEqual(printer.output(for: message, answering: nil).lines, ["bob: hi"])
        XCTAssertEqual(printer.output(for: message, answering: nil).lines, [])
        XCTAssertNil(printer.shown.highestSeq)
        var schedule = AckSchedule()
        XCTAssertNil(schedule.due(highestShown: printer.shown.highestSeq, now: at(0)))
        XCTAssertNil(schedule.deadline)
    }

    func testBroadcastsHaveNoSeqAndAreNotDeduplicated() {
        var printer = ReplyPrinter()
        let broadcast = frame(#"{"type":"broadcast","id":3,"from":"bob","text":"all","at":1}"#)
        XCTAssertEqual(printer.output(for: broadcast, answering: nil).lines, ["bob: all"])
        XCTAssertNil(printer.shown.highestSeq)
    }

    func testOutOfOrderSeqsAreAllShownAndTheHighestCounts() {
        var shown = ShownMessages()
        XCTAssertTrue(shown.firstShowing(seq: 5, id: nil))
        XCTAssertTrue(shown.firstShowing(seq: 3, id: nil))
        XCTAssertTrue(shown.firstShowing(seq: 4, id: nil))
        XCTAssertFalse(shown.firstShowing(seq: 3, id: nil))
        XCTAssertEqual(shown.highestSeq, 5)
    }

    func testALongInboxKeepsMemoryBoundedAndStillDropsEveryRepeat() {
        var shown = ShownMessages()
        let count = Int64(3 * ShownMessages.memory)
        for seq in 1...count { XCTAssertTrue(shown.firstShowing(seq: seq, id: seq)) }
        for seq in 1...count { XCTAssertFalse(shown.firstShowing(seq: seq, id: seq), "seq \(seq) again") }
        XCTAssertTrue(shown.firstShowing(seq: count + 1, id: nil))
        XCTAssertEqual(shown.highestSeq, count + 1)
    }

    // -- Coalesced acks -----------------------------------------------------------------------------------

    func testTheFirstBatchIsAcknowledgedAtOnce() {
        var schedule = AckSchedule()
        XCTAssertEqual(schedule.due(highestShown: 3, now: at(0)), 3)
        XCTAssertEqual(schedule.acked, 3)
        XCTAssertNil(schedule.deadline)
        XCTAssertNil(schedule.due(highestShown: 3, now: at(500)), "nothing new, nothing sent")
    }

    func testUnderLoadAtMostOneAckPer100msAndATrailingOne() {
        var schedule = AckSchedule()
        var sent: [(Int, Int64)] = []
        // A batch every 10 ms for one second, each showing one more message.
        for tick in 0..<100 {
            let now = tick * 10
            if let due = schedule.deadline, due <= at(now), let seq = schedule.due(highestShown: Int64(tick), now: at(now)) {
                sent.append((now, seq))
            }
            if let seq = schedule.due(highestShown: Int64(tick + 1), now: at(now)) { sent.append((now, seq)) }
        }
        XCTAssertEqual(sent.count, 10, "\(sent)")
        for (a, b) in zip(sent, sent.dropFirst()) { XCTAssertGreaterThanOrEqual(b.0 - a.0, 100) }
        // Traffic stopped at 990 ms with 100 shown: the trailing ack is due within 100 ms of the last ack.
        let deadline = try! XCTUnwrap(schedule.deadline)
        XCTAssertLessThanOrEqual(deadline, at(990 + 100))
        XCTAssertEqual(schedule.due(highestShown: 100, now: deadline), 100)
        XCTAssertNil(schedule.deadline)
        XCTAssertEqual(schedule.acked, 100)
    }

    func testAHeldBackAckIsNotSentBeforeItsTime() {
        var schedule = AckSchedule()
        XCTAssertEqual(schedule.due(highestShown: 1, now: at(0)), 1)
        XCTAssertNil(schedule.due(highestShown: 2, now: at(30)))
        XCTAssertEqual(schedule.deadline, at(100))
        XCTAssertNil(schedule.due(highestShown: 2, now: at(99)))
        XCTAssertEqual(schedule.due(highestShown: 2, now: at(100)), 2)
    }

    func testTheFinalAckBeforeLogoutIgnoresTheSpacingButNeverRepeats() {
        var schedule = AckSchedule()
        XCTAssertEqual(schedule.due(highestShown: 4, now: at(0)), 4)
        XCTAssertNil(schedule.due(highestShown: 6, now: at(10)))
        XCTAssertEqual(schedule.final(highestShown: 6, now: at(20)), 6)
        XCTAssertNil(schedule.final(highestShown: 6, now: at(30)))
        XCTAssertNil(schedule.deadline)
    }

    func testLowerSeqsNeverMoveTheAckBack() {
        var schedule = AckSchedule()
        XCTAssertEqual(schedule.due(highestShown: 10, now: at(0)), 10)
        XCTAssertNil(schedule.due(highestShown: 8, now: at(500)))
        XCTAssertNil(schedule.deadline)
    }

    // -- On the wire --------------------------------------------------------------------------------------

    func testLoginAndRegisterAskForAcksAndTheAckHasNoID() throws {
        let login = try JSONParser.parse(RequestEncoder.encode(.login(user: "a", credential: .password("p"), peer: .none,
                                                                      acks: true), id: 1))
        let register = try JSONParser.parse(RequestEncoder.encode(.register(user: "a", password: "p", peer: .none,
                                                                            acks: true), id: 2))
        let lookup = try JSONParser.parse(RequestEncoder.encode(.lookup(user: "a"), id: 3))
        XCTAssertEqual(login["acks"]?.boolValue, true)
        XCTAssertEqual(register["acks"]?.boolValue, true)
        XCTAssertNil(lookup["acks"])
        XCTAssertEqual(String(decoding: RequestEncoder.encodeAck(upTo: 18), as: UTF8.self), #"{"type":"ack","seq":18}"#)
    }
}
