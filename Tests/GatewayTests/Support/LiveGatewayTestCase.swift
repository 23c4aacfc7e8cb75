import Foundation
import Gateway
import Logging
import XCTest

/// Base for tests against a real server on 127.0.0.1, port 0, several loops.
class LiveGatewayTestCase: XCTestCase {
    var server: GatewayServer!
    var app: RecordingApplication!
    var port = 0

    /// Starts a server with three loops (so hand-off between loops is always exercised).
    func startServer(
        _ behaviour: RecordingApplication.Behaviour = .init(),
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = GatewayConfiguration(host: "127.0.0.1", tcpPort: 0, loopCount: 3)
        configure(&configuration)
        app = RecordingApplication(behaviour)
        server = GatewayServer(configuration: configuration, application: app, logger: Self.quietLogger)
        app.attach(server)
        port = try server.start()
        XCTAssertGreaterThan(port, 0)
    }

    override func tearDown() {
        server?.stop()
        server = nil
        app = nil
        super.tearDown()
    }

    static let quietLogger = Logger(label: "gateway-tests") { _ in SwiftLogNoOpLogHandler() }

    func connect(receiveBuffer: Int32? = nil) throws -> GatewayTestClient {
        try GatewayTestClient(port: port, receiveBuffer: receiveBuffer)
    }

    /// Connects, sends `first`, and waits for the stream to open; clients must be opened one at
    /// a time for the returned ID to be this client's.
    func openClient(sending first: String = "hello\n", receiveBuffer: Int32? = nil) throws -> (GatewayTestClient, ConnectionID) {
        let before = app.openedIDs.count
        let client = try connect(receiveBuffer: receiveBuffer)
        client.send(first)
        let id = try XCTUnwrap(app.waitForOpen(number: before + 1))
        return (client, id)
    }

    /// Waits for a condition with no event to wait on (a server counter). It re-checks every
    /// millisecond and fails after `timeout`; the pause is only the polling interval.
    func eventually(
        _ what: String, timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () -> Bool
    ) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !condition() {
            if Date() > deadline {
                XCTFail("timed out waiting for \(what)", file: file, line: line)
                return
            }
            usleep(1_000)
        }
    }
}

/// A counter other threads bump and a test waits on.
final class WaitableCounter: @unchecked Sendable {
    // @unchecked: `value` is guarded by `condition`.
    private let condition = NSCondition()
    private var value = 0

    func increment(by amount: Int = 1) {
        condition.lock()
        value += amount
        condition.broadcast()
        condition.unlock()
    }

    var current: Int {
        condition.lock()
        defer { condition.unlock() }
        return value
    }

    /// Waits until the count reaches `target`; returns false after `timeout`.
    @discardableResult
    func wait(atLeast target: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while value < target {
            if !condition.wait(until: deadline) { return value >= target }
        }
        return true
    }
}
