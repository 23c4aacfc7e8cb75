import Foundation
import Glibc
import XCTest
@testable import Gateway

/// Start, stop, timeouts, limits, and connections coming and going faster than events are handled.
final class GatewayLifecycleTests: LiveGatewayTestCase {
    func testStopFlushesClosesEverythingAndReturns() throws {
        try startServer(.init(echo: true))
        var clients: [(GatewayTestClient, ConnectionID)] = []
        for index in 0..<5 {
            let (client, id) = try openClient(sending: "hi \(index)\n")
            XCTAssertEqual(try client.readLine(), "hi \(index)")
            clients.append((client, id))
        }
        let silent = try connect()
        server.send(Outbound("bye\n"), to: clients.map(\.1))
        server.stop()

        XCTAssertEqual(server.connectionCount, 0)
        for (client, id) in clients {
            XCTAssertEqual(try client.readLine(), "bye", "queued output is flushed before the close")
            XCTAssertNil(try client.readLine())
            XCTAssertEqual(app.closeReason(of: id), .serverStopping)
        }
        XCTAssertTrue(try silent.waitForClose())
        XCTAssertEqual(app.openedIDs.count, 5, "the silent client was never opened, so never closed")
        XCTAssertThrowsError(try connect(), "the listener is closed")

        server.stop()
        server.send(Outbound("after stop\n"), to: clients.map(\.1))
        server.close(clients[0].1)
    }

    func testStopBeforeStartAndStartTwice() throws {
        let idle = GatewayServer(
            configuration: GatewayConfiguration(host: "127.0.0.1", loopCount: 1),
            application: RecordingApplication(), logger: Self.quietLogger
        )
        idle.stop()
        XCTAssertThrowsError(try idle.start()) { XCTAssertEqual($0 as? GatewayError, .notStartable) }

        try startServer()
        XCTAssertThrowsError(try server.start()) { XCTAssertEqual($0 as? GatewayError, .notStartable) }
    }

    func testStartReportsBadAddressesAndBusyPorts() throws {
        try startServer()
        let taken = GatewayServer(
            configuration: GatewayConfiguration(host: "127.0.0.1", tcpPort: port, loopCount: 1),
            application: RecordingApplication(), logger: Self.quietLogger
        )
        XCTAssertThrowsError(try taken.start()) {
            XCTAssertEqual($0 as? GatewayError, .systemCall("bind", errno: EADDRINUSE))
        }
        let nonsense = GatewayServer(
            configuration: GatewayConfiguration(host: "chat.example", loopCount: 1),
            application: RecordingApplication(), logger: Self.quietLogger
        )
        XCTAssertThrowsError(try nonsense.start()) {
            XCTAssertEqual($0 as? GatewayError, .invalidAddress("chat.example"))
        }
        let zeroLoops = GatewayServer(
            configuration: GatewayConfiguration(host: "127.0.0.1", loopCount: 0),
            application: RecordingApplication(), logger: Self.quietLogger
        )
        XCTAssertThrowsError(try zeroLoops.start())
    }

    func testConnectionsOpenedAndClosedRapidlyNeverConfuseEvents() throws {
        try startServer(.init(echo: true)) { $0.loopCount = 2 }
        let (steady, steadyID) = try openClient(sending: "start\n")
        XCTAssertEqual(try steady.readLine(), "start")

        for index in 0..<400 {
            let client = try connect()
            switch index % 4 {
            case 0: break                                              // connect, then FIN
            case 1: client.send("line \(index)\n")                     // a line, then FIN
            case 2: client.send("line \(index)\n"); client.reset()     // a line, then RST
            default: client.send("partial \(index)")                   // no newline, then FIN
            }
            if index % 20 == 0 {
                steady.send("\(index)\n")
                XCTAssertEqual(try steady.readLine(), "\(index)")
            }
        }
        eventually("only the steady connection to remain") { server.connectionCount == 1 }

        let events = app.events
        var lastEvent: [ConnectionID: RecordingApplication.Event] = [:]
        var opens: [ConnectionID: Int] = [:], closes: [ConnectionID: Int] = [:]
        for event in events {
            switch event {
            case .opened(let id, _):
                XCTAssertNil(lastEvent[id], "\(id) opened twice or after other events")
                opens[id, default: 0] += 1
                lastEvent[id] = event
            case .received(let id, _), .lineTooLong(let id):
                XCTAssertNotNil(opens[id], "\(id) received before it opened")
                XCTAssertNil(closes[id], "\(id) received after it closed")
                lastEvent[id] = event
            case .closed(let id, let reason):
                XCTAssertNotNil(opens[id], "\(id) closed without opening")
                XCTAssertNil(closes[id], "\(id) closed twice")
                XCTAssertEqual(reason, .peerClosed)
                closes[id, default: 0] += 1
                lastEvent[id] = event
            }
        }
        XCTAssertGreaterThanOrEqual(opens.count, 201, "every client that sent bytes before FIN was opened")
        XCTAssertEqual(closes.count, opens.count - 1, "every opened stream but the steady one closed once")
        XCTAssertNil(closes[steadyID])
        steady.send("still here\n")
        XCTAssertEqual(try steady.readLine(), "still here")
    }

    func testSilentConnectionIsClosedAfterTheFirstByteTimeout() throws {
        try startServer { $0.firstByteTimeout = .milliseconds(200) }
        let silent = try connect()
        XCTAssertTrue(try silent.waitForClose())
        eventually("the connection to be released") { server.connectionCount == 0 }
        XCTAssertTrue(app.events.isEmpty, "a stream that never opened produces no callbacks")
        let (_, id) = try openClient(sending: "late\n")
        XCTAssertEqual(app.kind(of: id), .textLines)
    }

    func testConnectionsBeyondTheLimitAreRefused() throws {
        try startServer { $0.maxConnections = 2; $0.loopCount = 1 }
        let (first, firstID) = try openClient(sending: "a\n")
        let (second, _) = try openClient(sending: "b\n")
        let third = try connect()
        third.send("c\n")
        XCTAssertTrue(try third.waitForClose())
        XCTAssertEqual(app.openedIDs.count, 2)

        first.shutdownWrites()
        app.waitUntil("first to close") { self.app.closeReason(of: firstID) != nil }
        eventually("a free place") { server.connectionCount == 1 }
        let (_, fourthID) = try openClient(sending: "d\n")
        XCTAssertEqual(app.openedIDs.count, 3)
        XCTAssertNotEqual(fourthID, firstID, "IDs are never reused")
        _ = second
    }

    func testPeerResetIsReportedAsPeerClosed() throws {
        try startServer()
        let (client, id) = try openClient(sending: "a\n")
        app.waitUntil("the line") { self.app.lines(of: id) == ["a"] }
        client.reset()
        app.waitUntil("close") { self.app.closeReason(of: id) != nil }
        XCTAssertEqual(app.closeReason(of: id), .peerClosed)
        eventually("release") { server.connectionCount == 0 }
    }

    func testRepeatingJobRunsOnLoopZeroUntilStop() throws {
        try startServer()
        let runs = WaitableCounter()
        server.scheduleRepeating(every: .milliseconds(5)) { runs.increment() }
        XCTAssertTrue(runs.wait(atLeast: 5), "ran \(runs.current) times")
        server.stop()
        let afterStop = runs.current
        XCTAssertFalse(runs.wait(atLeast: afterStop + 1, timeout: 0.05), "no runs once stop returned")
    }
}

/// Running out of descriptors must neither spin the loop nor lose the waiting clients.
final class GatewayDescriptorExhaustionTests: LiveGatewayTestCase {
    func testOutOfDescriptorsPausesAcceptingAndRecovers() throws {
        try startServer { $0.loopCount = 1 }
        // Client sockets first: the limit below must starve the server's accept, not our socket().
        let clients = try (0..<4).map { _ in try GatewayTestClient(port: port, connectNow: false) }

        var original = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        let probe = open("/dev/null", O_RDONLY)
        Glibc.close(probe)
        var lowered = original
        lowered.rlim_cur = rlim_t(probe + 2) // room for exactly two accepted sockets
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered), 0)
        var restored = false
        defer { if !restored { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original) } }

        for (index, client) in clients.enumerated() {
            try client.connect() // completes in the kernel's backlog whether or not we accept
            client.send("client \(index)\n")
        }
        app.waitUntil("two streams") { self.app.openedIDs.count == 2 }

        // The other two wait in the backlog while accept4 fails with EMFILE. A level-triggered
        // listener that kept retrying would burn a core for the whole window.
        let before = Self.processCPUSeconds()
        let window = Date(timeIntervalSinceNow: 0.3)
        while Date() < window { usleep(10_000) }
        let spent = Self.processCPUSeconds() - before
        XCTAssertLessThan(spent, 0.1, "the loop kept retrying accept (\(spent) s of CPU in 0.3 s)")
        XCTAssertEqual(app.openedIDs.count, 2)

        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        restored = true
        app.waitUntil("the waiting clients to be accepted") { self.app.openedIDs.count == 4 }
    }

    private static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }
}
