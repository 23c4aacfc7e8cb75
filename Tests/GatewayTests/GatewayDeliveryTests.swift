import Foundation
import XCTest
@testable import Gateway

/// Output over real sockets: ordering across threads, broadcast, slow consumers, close-after-send.
final class GatewayDeliveryTests: LiveGatewayTestCase {
    func testSendsFromManyThreadsKeepEachThreadsOrderAndCloseComesLast() throws {
        try startServer()
        let (client, id) = try openClient()
        let threads = 8, perThread = 500
        let server = self.server!
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for number in 0..<perThread {
                // Half the threads use the one-connection send: the two kinds keep one order between them.
                if thread % 2 == 0 {
                    server.send(Outbound("\(thread) \(number)\n"), to: [id])
                } else {
                    server.send(Outbound("\(thread) \(number)\n"), to: id)
                }
            }
        }
        server.close(id)
        var next = [Int](repeating: 0, count: threads)
        var total = 0
        while let line = try client.readLine() {
            let parts = line.split(separator: " ").compactMap { Int($0) }
            XCTAssertEqual(parts.count, 2, line)
            guard parts.count == 2 else { break }
            XCTAssertEqual(parts[1], next[parts[0]], "thread \(parts[0]) out of order")
            next[parts[0]] = parts[1] + 1
            total += 1
        }
        XCTAssertEqual(total, threads * perThread, "every send before the close arrives, then EOF")
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .closedByApplication)
    }

    func testOneOutboundBroadcastToTwoHundredClients() throws {
        try startServer()
        var clients: [GatewayTestClient] = []
        for _ in 0..<200 {
            let client = try connect()
            client.send("{\"type\":\"hello\"}\n")
            clients.append(client)
        }
        app.waitUntil("200 streams") { self.app.openedIDs.count == 200 }
        let ids = app.openedIDs
        XCTAssertEqual(Set(ids).count, 200)
        XCTAssertEqual(Set(ids.map(\.loop)), [0, 1, 2], "accepted sockets are dealt to every loop")

        // JSON-lines streams: the gateway adds the "\n" from the shared buffer.
        let message = Outbound("{\"type\":\"broadcast\",\"n\":1}")
        server.send(message, to: ids)
        var delivered = 0
        for client in clients {
            if try client.readLine() == "{\"type\":\"broadcast\",\"n\":1}" { delivered += 1 }
        }
        XCTAssertEqual(delivered, 200)
        eventually("queues to drain") { server.queuedOutputBytes == 0 }
    }

    /// Fan-outs (one `Outbound` for several connections, regrouped per loop) and single sends mixed in one
    /// drain of each loop's inbox: every connection gets them in call order, whichever kind of send it was.
    func testFanOutsAndSingleSendsMixedInOneDrainKeepCallOrder() throws {
        try startServer()
        var clients: [(client: GatewayTestClient, id: ConnectionID)] = []
        for _ in 0..<6 { clients.append(try openClient()) }
        let ids = clients.map(\.id)
        XCTAssertEqual(Set(ids.map(\.loop)), [0, 1, 2], "two connections on every loop: fan-outs of two or more")
        var expected = [[String]](repeating: [], count: ids.count)
        for number in 0..<1_000 {
            server.send(Outbound("fan \(number)\n"), to: ids)
            for index in ids.indices { expected[index].append("fan \(number)") }
            let one = number % ids.count
            server.send(Outbound("one \(number)\n"), to: ids[one])
            expected[one].append("one \(number)")
            let pair = [one, (one + 3) % ids.count]  // the same loop's other connection when loops deal in turn
            server.send(Outbound("pair \(number)\n"), to: pair.map { ids[$0] })
            for index in pair { expected[index].append("pair \(number)") }
        }
        for (index, client) in clients.enumerated() {
            for line in expected[index] {
                let got = try client.client.readLine()
                XCTAssertEqual(got, line, "connection \(index)")
                if got != line { return }
            }
        }
        eventually("queues to drain") { self.server.queuedOutputBytes == 0 }
    }

    func testSlowConsumerIsClosedWhileOthersKeepReceivingAndMemoryStaysBounded() throws {
        let limit = 256 * 1024
        try startServer { $0.maxQueuedOutputBytes = limit }
        let (slow, slowID) = try openClient(sending: "slow\n", receiveBuffer: 4_096)
        let (fast, fastID) = try openClient(sending: "fast\n")

        let received = WaitableCounter()
        let reader = Thread { [fast] in
            while let line = try? fast.readLine() {
                if line.hasPrefix("m") { received.increment() }
            }
        }
        reader.start()

        let line = Outbound([UInt8(ascii: "m")] + [UInt8](repeating: UInt8(ascii: "x"), count: 16_382) + [10])
        var sent = 0
        var peakQueued = 0
        while app.closeReason(of: slowID) == nil && sent < 20_000 {
            server.send(line, to: [slowID, fastID])
            sent += 1
            peakQueued = max(peakQueued, server.queuedOutputBytes)
            // Pace the sender by the fast reader (a condition, not a sleep) so only the slow one lags.
            XCTAssertTrue(received.wait(atLeast: sent - 4), "fast client stalled at \(received.current)/\(sent)")
        }
        app.waitUntil("slow consumer closed") { self.app.closeReason(of: slowID) != nil }
        XCTAssertEqual(app.closeReason(of: slowID), .slowConsumer)
        XCTAssertLessThanOrEqual(peakQueued, limit + 6 * line.payload.count, "queued output stayed bounded")

        for _ in 0..<10 { server.send(line, to: [slowID, fastID]) }
        XCTAssertTrue(received.wait(atLeast: sent + 10), "the fast client keeps receiving")
        XCTAssertNil(app.closeReason(of: fastID))
        XCTAssertTrue(try slow.waitForClose())
        eventually("queues to drain") { server.queuedOutputBytes == 0 }
        // The counters behind /metrics saw the same story.
        let stats = server.outputStatistics
        XCTAssertEqual(stats.slowConsumerCloses, 1)
        XCTAssertGreaterThan(stats.queueHighWaterBytes, limit - line.payload.count)
        XCTAssertLessThanOrEqual(stats.queueHighWaterBytes, limit)
    }

    func testCoalescedSendsKeepOrderRideWithLaterOutputAndLeaveWithinTheDelayOnTheirOwn() throws {
        try startServer()
        let (client, id) = try openClient()
        // Alone: written by the coalescing timer, well within a second.
        let started = Date()
        server.send(Outbound("presence 1\n"), to: [id], coalescing: true)
        XCTAssertEqual(try client.readLine(), "presence 1")
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
        // Mixed with ordinary sends: call order is wire order, and nothing waits once other output goes.
        for number in 0..<50 {
            server.send(Outbound("coalesced \(number)\n"), to: [id], coalescing: true)
            server.send(Outbound("now \(number)\n"), to: [id])
        }
        for number in 0..<50 {
            XCTAssertEqual(try client.readLine(), "coalesced \(number)")
            XCTAssertEqual(try client.readLine(), "now \(number)")
        }
        // A close flushes coalesced output queued before it.
        server.send(Outbound("late\n"), to: [id], coalescing: true)
        server.close(id)
        XCTAssertEqual(try client.readLine(), "late", "close flushes what was queued before it")
        XCTAssertTrue(try client.waitForClose())
    }

    func testOutputCountersCountFramesAndGatherWrites() throws {
        try startServer()
        let (client, id) = try openClient()
        let before = server.outputStatistics
        // Queued from one thread faster than a tick: several lines share a gather write.
        let lines = 2_000
        for number in 0..<lines { server.send(Outbound("line \(number)\n"), to: [id]) }
        var received = 0
        while received < lines, let line = try client.readLine(), line.hasPrefix("line") { received += 1 }
        XCTAssertEqual(received, lines)
        eventually("counters published") { self.server.outputStatistics.framesWritten - before.framesWritten >= lines }
        let stats = server.outputStatistics
        let frames = stats.framesWritten - before.framesWritten
        let writes = stats.writeCalls - before.writeCalls
        XCTAssertEqual(frames, lines)
        XCTAssertGreaterThan(writes, 0)
        XCTAssertLessThan(writes, frames, "lines queued in the same tick leave in one gather write")
        XCTAssertGreaterThanOrEqual(stats.bytesWritten - before.bytesWritten, lines * 7)
        XCTAssertEqual(stats.queuedBytes, 0)
    }

    func testCloseAfterSendFlushesEverythingFirstAndDropsLaterSends() throws {
        let chunk = [UInt8](repeating: UInt8(ascii: "b"), count: 8_191) + [10]
        try startServer(.init(onReceived: { server, id, line in
            guard line == Array("big".utf8) else { return }
            for _ in 0..<64 { server.send(Outbound(chunk), to: [id]) }
            server.send(Outbound("END\n"), to: [id])
            server.close(id)
            server.send(Outbound("too late\n"), to: [id])
        }))
        // A tiny receive window makes the server meet a full socket and finish on EPOLLOUT.
        let (client, id) = try openClient(sending: "big\n", receiveBuffer: 4_096)
        let everything = try client.readToEnd()
        XCTAssertEqual(everything.count, 64 * chunk.count + 4)
        XCTAssertEqual(Array(everything.suffix(4)), Array("END\n".utf8))
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .closedByApplication)
    }

    func testHalfClosedPeerStillGetsItsReply() throws {
        try startServer(.init(echo: true))
        let (client, id) = try openClient(sending: "ping\n")
        client.shutdownWrites()
        XCTAssertEqual(try client.readLine(), "ping")
        XCTAssertNil(try client.readLine())
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .peerClosed)
    }

    func testSendsToUnknownOrClosedConnectionsAreIgnored() throws {
        try startServer(.init(echo: true))
        let (client, id) = try openClient(sending: "x\n")
        XCTAssertEqual(try client.readLine(), "x")
        server.send(Outbound("nobody\n"), to: [ConnectionID(loop: 1, slot: 0, sequence: 999_999), ConnectionID(loop: 200, slot: 0, sequence: 1)])
        server.send(Outbound("nobody\n"), to: ConnectionID(loop: 1, slot: 0, sequence: 999_999))
        server.send(Outbound("nobody\n"), to: ConnectionID(loop: 200, slot: 0, sequence: 1))
        server.close(ConnectionID(loop: 250, slot: 0, sequence: 3))
        server.send(Outbound("y\n"), to: [id])
        server.send(Outbound("z\n"), to: id)
        XCTAssertEqual(try client.readLine(), "y")
        XCTAssertEqual(try client.readLine(), "z")
    }
}
