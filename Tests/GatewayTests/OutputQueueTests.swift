import Glibc
import XCTest
@testable import Gateway

/// The output queue against a scripted fake kernel: partial writes, would-block, iovec batching.
final class OutputQueueTests: XCTestCase {
    private var iovecs: UnsafeMutablePointer<iovec>!

    override func setUp() {
        iovecs = .allocate(capacity: maxIOVecsPerWrite)
    }

    override func tearDown() {
        iovecs.deallocate()
    }

    /// A fake socket that accepts at most the next scripted number of bytes per write.
    private final class FakeSocket {
        var script: [IOResult<Int>]
        var received: [UInt8] = []
        var iovecCounts: [Int] = []

        init(_ script: [IOResult<Int>]) { self.script = script }

        func write(_ vectors: UnsafeMutablePointer<iovec>, _ count: Int) -> IOResult<Int> {
            iovecCounts.append(count)
            let step = script.isEmpty ? .processed(Int.max) : script.removeFirst()
            guard case .processed(var budget) = step else { return .wouldBlock }
            var written = 0
            for index in 0..<count where budget > 0 {
                let length = min(vectors[index].iov_len, budget)
                let bytes = UnsafeRawBufferPointer(start: vectors[index].iov_base, count: length)
                received.append(contentsOf: bytes)
                written += length
                budget -= length
            }
            return .processed(written)
        }
    }

    private func flush(_ queue: inout OutputQueue, into socket: FakeSocket, capacity: Int = maxIOVecsPerWrite) throws -> FlushOutcome {
        try queue.flush(iovecs: iovecs, capacity: capacity) { vectors, count in socket.write(vectors, count) }
    }

    func testPartialWritesResumeMidMessage() throws {
        var queue = OutputQueue()
        let messages = ["first line\n", "second\n", "third and last\n"].map { Outbound($0) }
        for message in messages { queue.append(message, part: .payload) }
        XCTAssertEqual(queue.queuedBytes, 33)

        let socket = FakeSocket([.processed(4), .wouldBlock, .processed(10), .processed(3), .processed(100)])
        XCTAssertEqual(try flush(&queue, into: socket), .pending)
        XCTAssertEqual(queue.queuedBytes, 29)
        XCTAssertEqual(try flush(&queue, into: socket), .pending, "would-block changes nothing")
        XCTAssertEqual(queue.queuedBytes, 29)
        XCTAssertEqual(try flush(&queue, into: socket), .pending, "ends inside the second message")
        XCTAssertEqual(queue.chunkCount, 2)
        XCTAssertEqual(try flush(&queue, into: socket), .pending, "one byte of the second message left")
        XCTAssertEqual(queue.queuedBytes, 16)
        XCTAssertEqual(try flush(&queue, into: socket), .drained)
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(String(decoding: socket.received, as: UTF8.self), "first line\nsecond\nthird and last\n")
        XCTAssertEqual(socket.iovecCounts, [3, 3, 3, 2, 2], "each write starts at the first unwritten byte")
    }

    func testEveryByteBudgetProducesTheSameStream() throws {
        let messages = (0..<20).map { Outbound("message number \($0)\n") }
        let expected = messages.flatMap(\.payload)
        for budget in 1...30 {
            var queue = OutputQueue()
            for message in messages { queue.append(message, part: .payload) }
            let socket = FakeSocket(Array(repeating: .processed(budget), count: expected.count))
            var rounds = 0
            while try flush(&queue, into: socket) == .pending { rounds += 1 }
            XCTAssertEqual(socket.received, expected, "budget \(budget)")
            XCTAssertEqual(rounds, (expected.count + budget - 1) / budget - 1)
        }
    }

    /// Messages queued between partial writes (the oldest kept inline, the rest behind it) come out whole and
    /// in order, whatever the kernel takes each time, and the queue drains back to empty between bursts.
    func testAppendsBetweenPartialWritesKeepTheStreamInOrder() throws {
        let messages = (0..<12).map { Outbound("m\($0)-" + String(repeating: "x", count: $0) + "\n") }
        let expected = messages.flatMap(\.payload)
        for budget in 1...9 {
            var queue = OutputQueue()
            let socket = FakeSocket(Array(repeating: .processed(budget), count: expected.count * 2))
            var next = 0
            while next < messages.count || !queue.isEmpty {
                // One message, or a burst of two, queued before each write.
                for _ in 0..<(next % 3 == 0 ? 2 : 1) where next < messages.count {
                    queue.append(messages[next], part: .payload)
                    next += 1
                }
                _ = try flush(&queue, into: socket)
                XCTAssertEqual(queue.queuedBytes, messages.prefix(next).reduce(0) { $0 + $1.payload.count } - socket.received.count)
            }
            XCTAssertEqual(socket.received, expected, "budget \(budget)")
            XCTAssertEqual(queue.chunkCount, 0)
        }
    }

    func testOneWriteTakesAtMostTheIOVecCapacity() throws {
        var queue = OutputQueue()
        let message = Outbound("x")
        for _ in 0..<(maxIOVecsPerWrite * 2 + 5) { queue.append(message, part: .payload) }
        let socket = FakeSocket([])
        XCTAssertEqual(try flush(&queue, into: socket), .pending, "more chunks than one writev takes")
        XCTAssertEqual(try flush(&queue, into: socket), .pending)
        XCTAssertEqual(try flush(&queue, into: socket), .drained)
        XCTAssertEqual(socket.iovecCounts, [maxIOVecsPerWrite, maxIOVecsPerWrite, 5])
        XCTAssertEqual(socket.received.count, maxIOVecsPerWrite * 2 + 5)
    }

    func testSharedMessageIsQueuedByReference() throws {
        let message = Outbound("shared\n")
        var first = OutputQueue(), second = OutputQueue()
        first.append(message, part: .payload)
        second.append(message, part: .payload)
        let socket = FakeSocket([.processed(3)])
        XCTAssertEqual(try flush(&first, into: socket), .pending)
        XCTAssertEqual(try flush(&second, into: FakeSocket([])), .drained, "one queue's progress is not another's")
        XCTAssertEqual(first.queuedBytes, 4)
    }

    func testWebSocketPartQueuesHeaderAndPayloadAsOneRange() throws {
        var queue = OutputQueue()
        queue.append(Outbound("Hello"), part: .webSocketFrame)
        let socket = FakeSocket([])
        XCTAssertEqual(try flush(&queue, into: socket), .drained)
        XCTAssertEqual(socket.received, [0x81, 0x05] + Array("Hello".utf8), "RFC 6455 §5.7 unmasked text frame")
        XCTAssertEqual(socket.iovecCounts, [1])
    }

    func testEmptyMessagesAreNotQueued() throws {
        var queue = OutputQueue()
        queue.append(Outbound([]), part: .payload)
        XCTAssertTrue(queue.isEmpty)
        XCTAssertEqual(queue.chunkCount, 0)
        XCTAssertEqual(try flush(&queue, into: FakeSocket([])), .drained)
    }

    func testWriteErrorsPropagateAndLeaveTheQueueIntact() {
        var queue = OutputQueue()
        queue.append(Outbound("data\n"), part: .payload)
        XCTAssertThrowsError(try queue.flush(iovecs: iovecs) { _, _ throws(SystemError) in
            throw SystemError(code: EPIPE, call: "sendmsg")
        })
        XCTAssertEqual(queue.queuedBytes, 5)
        queue.removeAll()
        XCTAssertTrue(queue.isEmpty)
    }

    func testSteadyBacklogStaysCompact() throws {
        var queue = OutputQueue()
        let message = Outbound("0123456789")
        let socket = FakeSocket([])
        for round in 0..<1000 {
            queue.append(message, part: .payload)
            queue.append(message, part: .payload)
            socket.script = [.processed(10)]
            _ = try flush(&queue, into: socket)
            XCTAssertEqual(queue.queuedBytes, (round + 1) * 10)
        }
        XCTAssertEqual(queue.chunkCount, 1000)
    }

    // MARK: - Outbound

    func testWebSocketHeaderLengthEncodings() {
        XCTAssertEqual(Outbound([]).webSocketHeader, [0x81, 0])
        XCTAssertEqual(Outbound([UInt8](repeating: 1, count: 125)).webSocketHeader, [0x81, 125])
        XCTAssertEqual(Outbound([UInt8](repeating: 1, count: 126)).webSocketHeader, [0x81, 126, 0, 126])
        XCTAssertEqual(Outbound([UInt8](repeating: 1, count: 65_535)).webSocketHeader, [0x81, 126, 0xFF, 0xFF])
        XCTAssertEqual(Outbound([UInt8](repeating: 1, count: 65_536)).webSocketHeader, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    func testABinaryOutboundHasABinaryFrameHeaderAndTheSamePayload() {
        let message = Outbound([1, 2, 3], webSocketOpcode: .binary)
        XCTAssertEqual(message.webSocketHeader, [0x82, 3])
        XCTAssertEqual(message.payload, [1, 2, 3])
        XCTAssertEqual(Outbound([UInt8](repeating: 0, count: 300), webSocketOpcode: .binary).webSocketHeader, [0x82, 126, 1, 44])
    }

    func testOutboundKeepsPayloadAsGiven() {
        let message = Outbound("héllo\n")
        XCTAssertEqual(message.payload, Array("héllo\n".utf8))
        XCTAssertEqual(message.range(of: .payload).count, message.payload.count)
    }

    func testFlushTalliesWriteCallsBytesAndCompletedMessages() throws {
        var queue = OutputQueue()
        for text in ["abc", "defg", "hi"] { queue.append(Outbound(text), part: .payload) }
        let socket = FakeSocket([.processed(5), .wouldBlock, .processed(100)])
        var tally = OutputTally()
        let write = { (vectors: UnsafeMutablePointer<iovec>, count: Int) -> IOResult<Int> in socket.write(vectors, count) }
        XCTAssertEqual(try queue.flush(iovecs: iovecs, tally: &tally, write: write), .pending)
        XCTAssertEqual(tally.writeCalls, 1)
        XCTAssertEqual(tally.bytesWritten, 5)
        XCTAssertEqual(tally.framesWritten, 1, "the first message is out, the second only in part")
        XCTAssertEqual(try queue.flush(iovecs: iovecs, tally: &tally, write: write), .pending)
        XCTAssertEqual(tally.writeCalls, 2, "a refused write still counts as a syscall")
        XCTAssertEqual(tally.bytesWritten, 5)
        XCTAssertEqual(try queue.flush(iovecs: iovecs, tally: &tally, write: write), .drained)
        XCTAssertEqual(tally.writeCalls, 3)
        XCTAssertEqual(tally.bytesWritten, 9)
        XCTAssertEqual(tally.framesWritten, 3)
        XCTAssertEqual(String(decoding: socket.received, as: UTF8.self), "abcdefghi")
    }
}
