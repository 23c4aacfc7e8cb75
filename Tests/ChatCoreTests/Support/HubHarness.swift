import Foundation
import XCTest
import ChatCoreTestSupport
@testable import ChatCore

/// A hub wired to in-memory doubles, driven step by step.
final class HubHarness {
    let clock: ManualClock
    let store: MemoryStore
    let hasher: QueuedHasher
    let output = RecordingOutput()
    let hub: ChatService
    private var nextClient: UInt64 = 1
    /// Set by a cluster harness: settling then runs every node's work and the bus too.
    var settleAll: (() -> Void)?

    init(blockSeconds: Int64 = 10, timeoutSeconds: Int64 = 30, accounts: [(String, String)] = [],
         configure: (inout HubConfiguration) -> Void = { _ in }) {
        clock = ManualClock()
        store = MemoryStore()
        hasher = QueuedHasher()
        let snapshot = store.seed(accounts: accounts)
        var config = HubConfiguration(blockDuration: blockSeconds * 1000, idleTimeout: timeoutSeconds * 1000)
        configure(&config)
        hub = ChatService(configuration: config, snapshot: snapshot, store: store, hasher: hasher,
                          output: output, clock: clock)
    }

    /// One node of a cluster: the store, clock and hasher are the cluster harness's, shared by every node.
    init(node link: any ClusterLink, store: MemoryStore, clock: ManualClock, hasher: QueuedHasher,
         timing: ClusterTiming, blockSeconds: Int64 = 10, timeoutSeconds: Int64 = 30) throws {
        self.clock = clock
        self.store = store
        self.hasher = hasher
        let config = HubConfiguration(blockDuration: blockSeconds * 1000, idleTimeout: timeoutSeconds * 1000)
        hub = ChatService(configuration: config, snapshot: try store.loadSnapshot(), store: store, hasher: hasher,
                          output: output, cluster: link, timing: timing, clock: clock)
    }

    /// Runs hashing and store work until nothing is left (completions may queue more).
    func settle() {
        if let settleAll { return settleAll() }
        while hasher.backlog > 0 || store.queuedCount > 0 {
            hasher.runPending()
            store.runPending()
        }
    }

    func connect(_ kind: ClientKind = .json, from peerHost: String = "127.0.0.1") -> ClientID {
        let id = ClientID(nextClient)
        nextClient += 1
        hub.connect(id, kind: kind, peerHost: peerHost)
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

    /// One request as a REST session (`user` nil: anonymous), its one reply collected.
    func rest(_ request: ClientRequest, as user: String?, from peerHost: String? = nil) -> AsyncResult<ServerEvent> {
        let reply = AsyncResult<ServerEvent>()
        hub.handle(request, from: user, peerHost: peerHost) { reply.set($0) }
        return reply
    }

    /// Everything sent to a text client since the last call, as one string.
    func text(_ client: ClientID) -> String {
        output.take(client).map { String(decoding: $0, as: UTF8.self) }.joined()
    }
}

extension ServerEvent {
    /// The `id` of an `ok` reply (a message or broadcast accepted).
    var okID: Int64? {
        if case .ok(_, let ok) = self { return ok.id }
        return nil
    }

    /// The code of an `error` reply.
    var errorCode: ErrorCode? {
        if case .error(_, let error) = self { return error.code }
        return nil
    }
}
