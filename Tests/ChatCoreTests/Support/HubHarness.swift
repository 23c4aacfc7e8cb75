import Foundation
import XCTest
@testable import ChatCore

/// A clock the test moves by hand.
final class ManualClock: ChatClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64 = 1_700_000_000_000) { value = start }
    func now() -> Int64 { lock.withLock { value } }
    func advance(seconds: Double) { lock.withLock { value += Int64(seconds * 1000) } }
}

/// Test double for the password hasher: queues work until the test runs it, so tests decide when a check
/// "finishes". Its scheme is deliberately trivial; the real Argon2Hasher has its own tests.
final class QueuedHasher: PasswordHasher, @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [() -> Void] = []
    var backlog: Int { lock.withLock { queue.count } }

    static func encode(_ password: String) -> String { "test$" + password }

    func hash(_ password: String, done: @escaping @Sendable (String) -> Void) {
        lock.withLock { queue.append { done(Self.encode(password)) } }
    }

    func verify(_ password: String, encoded: String, done: @escaping @Sendable (Bool) -> Void) {
        lock.withLock { queue.append { done(encoded == Self.encode(password)) } }
    }

    /// Runs queued jobs; returns how many ran.
    @discardableResult
    func runPending() -> Int {
        let jobs = lock.withLock { () -> [() -> Void] in
            defer { queue.removeAll() }
            return queue
        }
        jobs.forEach { $0() }
        return jobs.count
    }
}

/// Records what the hub sends, per client, decoded for assertions.
final class RecordingOutput: ChatOutput, @unchecked Sendable {
    private let lock = NSLock()
    private var payloads: [ClientID: [[UInt8]]] = [:]
    private(set) var disconnected: [ClientID] = []

    func deliver(_ payload: [UInt8], to clients: [ClientID]) {
        lock.withLock { for c in clients { payloads[c, default: []].append(payload) } }
    }

    func disconnect(_ client: ClientID) {
        lock.withLock { disconnected.append(client) }
    }

    func isDisconnected(_ client: ClientID) -> Bool { lock.withLock { disconnected.contains(client) } }

    /// Takes everything sent to `client` so far.
    func take(_ client: ClientID) -> [[UInt8]] {
        lock.withLock { payloads.removeValue(forKey: client) ?? [] }
    }
}

/// A hub wired to in-memory doubles, driven step by step.
final class HubHarness {
    let clock = ManualClock()
    let store = MemoryStore()
    let hasher = QueuedHasher()
    let output = RecordingOutput()
    let hub: ChatService
    private var nextClient: UInt64 = 1

    init(blockSeconds: Int64 = 10, timeoutSeconds: Int64 = 30, accounts: [(String, String)] = [],
             configure: (inout HubConfiguration) -> Void = { _ in }) {
        var snapshot = StoreSnapshot(accounts: [], blocks: [:], tokens: [], lastMessageID: 0)
        for (name, password) in accounts {
            let record = AccountRecord(name: name, passwordHash: QueuedHasher.encode(password), createdAt: 0)
            snapshot.accounts.append(record)
            store.perform([.createAccount(record)]) { _ in }
        }
        store.runPending()
        var config = HubConfiguration(blockDuration: blockSeconds * 1000, idleTimeout: timeoutSeconds * 1000)
        configure(&config)
        hub = ChatService(configuration: config, snapshot: snapshot, store: store, hasher: hasher,
                          output: output, clock: clock)
    }

    /// Runs hashing and store work until nothing is left (completions may queue more).
    func settle() {
        while hasher.backlog > 0 || store.queuedCount > 0 {
            hasher.runPending()
            store.runPending()
        }
    }

    func connect(_ kind: ClientKind = .json) -> ClientID {
        let id = ClientID(nextClient)
        nextClient += 1
        hub.connect(id, kind: kind, peerHost: "127.0.0.1")
        return id
    }

    func send(_ client: ClientID, _ json: String) {
        hub.receive(Array(json.utf8), from: client)
        settle()
    }

    func type(_ client: ClientID, _ line: String) {
        hub.receive(Array(line.utf8), from: client)
        settle()
    }

    /// Connects and logs in (or registers) `user`; fails the test if no welcome arrives.
    @discardableResult
    func login(_ user: String, _ password: String, p2pPort: Int? = nil, file: StaticString = #filePath,
               line: UInt = #line) -> ClientID {
        let client = connect()
        let port = p2pPort.map { ",\"p2pPort\":\($0)" } ?? ""
        send(client, #"{"type":"login","user":"\#(user)","password":"\#(password)"\#(port)}"#)
        let first = events(client).first
        XCTAssertEqual(first?["type"]?.stringValue, "welcome", "login of \(user)", file: file, line: line)
        return client
    }

    /// Everything sent to a JSON client since the last call, parsed.
    func events(_ client: ClientID) -> [JSONValue] {
        output.take(client).map { try! JSONParser.parse($0) }
    }

    /// Event types only, for compact assertions.
    func types(_ client: ClientID) -> [String] {
        events(client).compactMap { $0["type"]?.stringValue }
    }

    /// Everything sent to a text client since the last call, as one string.
    func text(_ client: ClientID) -> String {
        output.take(client).map { String(decoding: $0, as: UTF8.self) }.joined()
    }
}
