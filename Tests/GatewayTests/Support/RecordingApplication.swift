import Foundation
import Gateway
import XCTest

/// A tiny stream application for live tests: records every callback and can echo lines back.
///
/// `@unchecked Sendable`: every mutable property is guarded by `condition`, which also wakes
/// tests waiting for an event (no sleeping, no polling).
final class RecordingApplication: StreamApplication, @unchecked Sendable {
    enum Event: Equatable {
        case opened(ConnectionID, StreamKind)
        case received(ConnectionID, String)
        case lineTooLong(ConnectionID)
        case closed(ConnectionID, CloseReason)
    }

    /// What the app does besides recording; set before the server starts.
    struct Behaviour: Sendable {
        /// Send every line back: as is on JSON-lines streams (the gateway ends each JSON line
        /// itself), with "\n" appended on text streams (text payloads carry their own line ends).
        var echo = false
        /// Called for every received line, on the loop thread.
        var onReceived: (@Sendable (GatewayServer, ConnectionID, [UInt8]) -> Void)?
        /// On a too-long line: send "ERROR line too long\n" and close (what the chat app does).
        var answerLineTooLong = true
    }

    private let condition = NSCondition()
    private var recorded: [Event] = []
    private var lengths: [ConnectionID: [Int]] = [:]
    private weak var server: GatewayServer?
    private let behaviour: Behaviour

    init(_ behaviour: Behaviour = Behaviour()) {
        self.behaviour = behaviour
    }

    func attach(_ server: GatewayServer) {
        locked { self.server = server }
    }

    // MARK: StreamApplication

    func streamOpened(_ id: ConnectionID, kind: StreamKind, peer: PeerAddress) {
        XCTAssertTrue(peer.isLoopback, "\(peer)")
        record(.opened(id, kind))
    }

    func streamReceived(_ message: ArraySlice<UInt8>, on id: ConnectionID) {
        let bytes = Array(message)
        // Lines can be 64 KiB: record their text only when short, and every length.
        record(.received(id, bytes.count <= 1_024 ? String(decoding: bytes, as: UTF8.self) : "<\(bytes.count) bytes>"),
               length: (id, bytes.count))
        guard let server = locked({ self.server }) else { return }
        if behaviour.echo {
            server.send(Outbound(kind(of: id) == .jsonLines ? bytes : bytes + [UInt8(ascii: "\n")]), to: [id])
        }
        behaviour.onReceived?(server, id, bytes)
    }

    func streamLineTooLong(_ id: ConnectionID) {
        record(.lineTooLong(id))
        guard behaviour.answerLineTooLong, let server = locked({ self.server }) else { return }
        server.send(Outbound("ERROR line too long\n"), to: [id])
        server.close(id)
    }

    func streamClosed(_ id: ConnectionID, reason: CloseReason) {
        record(.closed(id, reason))
    }

    private func record(_ event: Event, length: (ConnectionID, Int)? = nil) {
        locked {
            recorded.append(event)
            if let (id, count) = length { lengths[id, default: []].append(count) }
            condition.broadcast()
        }
    }

    private func locked<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    // MARK: Queries

    var events: [Event] { locked { recorded } }

    var openedIDs: [ConnectionID] {
        events.compactMap { if case .opened(let id, _) = $0 { id } else { nil } }
    }

    func kind(of id: ConnectionID) -> StreamKind? {
        events.lazy.compactMap { if case .opened(id, let kind) = $0 { kind } else { nil } }.first
    }

    func lines(of id: ConnectionID) -> [String] {
        events.compactMap { if case .received(id, let line) = $0 { line } else { nil } }
    }

    func lineLengths(of id: ConnectionID) -> [Int] {
        locked { lengths[id] ?? [] }
    }

    func closeReason(of id: ConnectionID) -> CloseReason? {
        events.lazy.compactMap { if case .closed(id, let reason) = $0 { reason } else { nil } }.first
    }

    /// Blocks until `predicate` holds, or fails the test after `timeout`. The predicate runs
    /// without the lock held (it may use the queries above) and is re-checked after every event.
    @discardableResult
    func waitUntil(
        timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line,
        _ what: String = "condition", _ predicate: () -> Bool
    ) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            condition.lock()
            let seen = recorded.count
            condition.unlock()
            if predicate() { return true }
            condition.lock()
            while recorded.count == seen {
                if !condition.wait(until: deadline) {
                    condition.unlock()
                    XCTFail("timed out waiting for \(what)", file: file, line: line)
                    return false
                }
            }
            condition.unlock()
        }
    }

    /// Waits for the `count`-th stream to open and returns its ID.
    func waitForOpen(number count: Int, file: StaticString = #filePath, line: UInt = #line) -> ConnectionID? {
        waitUntil(file: file, line: line, "stream \(count) to open") { self.openedIDs.count >= count }
        let ids = openedIDs
        return ids.count >= count ? ids[count - 1] : nil
    }
}
