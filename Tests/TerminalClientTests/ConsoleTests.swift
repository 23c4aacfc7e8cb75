import Foundation
import XCTest
@testable import CLI

/// The console when the input is not a terminal (a script, a pipe): lines are cut as the server cuts them, and
/// output to a screen that cannot take it yet waits for room instead of spinning.
final class ConsoleTests: XCTestCase {
    func testPipedLinesAnswerOnePromptEachAndTheLastNeedsNoNewline() throws {
        let (output, input) = try makePipe()
        defer { close(output); close(input) }
        let console = Console(interactive: false, outputFD: input)
        console.prompt("Username: ")
        XCTAssertNil(console.nextEvent(), "nothing typed yet")
        console.receive(Array("hans\r\nsec".utf8)[...])
        XCTAssertEqual(console.nextEvent(), .line("hans"), "CRLF counts as one end of line")
        console.prompt("Password: ")
        XCTAssertNil(console.nextEvent(), "half a line is not an answer")
        console.receive(Array("ret\n\nwho".utf8)[...])
        XCTAssertEqual(console.nextEvent(), .line("secret"))
        console.prompt("> ", shownWhenPlain: false)
        XCTAssertEqual(console.nextEvent(), .line(""), "an empty line is a line")
        console.receiveEndOfInput()
        console.prompt("> ", shownWhenPlain: false)
        XCTAssertEqual(console.nextEvent(), .line("who"))
        console.prompt("> ", shownWhenPlain: false)
        XCTAssertEqual(console.nextEvent(), .endOfInput)
        XCTAssertEqual(String(decoding: drain(output), as: UTF8.self), "Username: \nPassword: \n")
    }

    func testAFullScreenIsWaitedForWithoutSpinning() throws {
        let (output, input) = try makePipe()
        defer { close(output); close(input) }
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
        var filled = 0
        let block = [UInt8](repeating: 0x2E, count: 4096)
        while true {
            let n = block.withUnsafeBytes { write(input, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            filled += n
        }
        let console = Console(interactive: false, outputFD: input)
        let expected = filled + 6
        let received = Received()
        let done = DispatchSemaphore(value: 0)
        let drainer = Thread {
            usleep(400_000)
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while received.bytes.count < expected {
                let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                received.bytes += chunk[..<n]
            }
            done.signal()
        }
        let cpuBefore = threadCPUTime()
        let wallBefore = ContinuousClock.now
        drainer.start()
        console.printLine("hello")
        let waited = ContinuousClock.now - wallBefore
        let spent = threadCPUTime() - cpuBefore
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertGreaterThan(waited, .milliseconds(300), "it did wait for the reader")
        XCTAssertLessThan(spent, 0.1, "waiting in poll() costs no CPU; retrying at once would burn the whole wait")
        XCTAssertEqual(Array(received.bytes.suffix(6)), Array("hello\n".utf8), "and the line arrived whole")
    }

    // MARK: Helpers

    /// What the reader thread got; the semaphore it signals orders its writes before the test's reads.
    private final class Received: @unchecked Sendable {
        var bytes: [UInt8] = []
    }

    private func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw XCTSkip("no pipe") }
        return (fds[0], fds[1])
    }

    private func drain(_ fd: Int32) -> [UInt8] {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        return n > 0 ? Array(chunk[..<n]) : []
    }

    /// CPU seconds this thread has used.
    private func threadCPUTime() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
