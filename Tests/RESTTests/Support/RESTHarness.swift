import Foundation
import Gateway
import Synchronization
import XCTest
import ChatCoreTestSupport
@testable import ChatCore
@testable import CLI

/// A real hub on an in-memory store with the REST router in front of it, driven request by request.
/// Socket clients can join the same hub, so a test sees a REST message arrive on a JSON-lines session.
final class RESTHarness {
    let clock = ManualClock()
    let store = MemoryStore()
    let hasher = QueuedHasher()
    let output = RecordingOutput()
    let hub: ChatService
    let router: RESTRouter
    let doors = DoorCounters()
    private var nextClient: UInt64 = 1

    init(accounts: [(String, String)] = [("hans", "falcon*solo"), ("luke", "jedi"), ("yoda", "green")],
         blockSeconds: Int64 = 10, timeoutSeconds: Int64 = 30, openAPI: OpenAPIDocument? = nil,
         configure: (inout HubConfiguration) -> Void = { _ in }) {
        let snapshot = store.seed(accounts: accounts)
        var config = HubConfiguration(blockDuration: blockSeconds * 1000, idleTimeout: timeoutSeconds * 1000)
        configure(&config)
        hub = ChatService(configuration: config, snapshot: snapshot, store: store, hasher: hasher,
                          output: output, clock: clock)
        router = RESTRouter(chat: hub, openAPI: openAPI ?? OpenAPIDocument(body: Array("openapi: 3.1.0\n".utf8),
                                                                           searched: ["test"]),
                            doors: doors, openSockets: { 10 })
    }

    /// Runs hashing and store work until nothing is left.
    func settle() {
        while hasher.backlog > 0 || store.queuedCount > 0 {
            hasher.runPending()
            store.runPending()
        }
    }

    /// Sends one request through the router and waits (settling the hub) for its response. Nil if the router
    /// declined the request (a path for the gateway's static files).
    @discardableResult
    func call(_ method: HTTPMethod, _ target: String, headers: [(String, String)] = [], json body: String? = nil,
              settle: Bool = true, file: StaticString = #filePath, line: UInt = #line) -> HTTPResponse? {
        var fields = HTTPHeaders(headers)
        if body != nil, !fields.contains("Content-Type") { fields.add(name: "Content-Type", value: "application/json") }
        let request = HTTPRequest(method: method, target: target, headers: fields, body: Array((body ?? "").utf8))
        return send(request, settle: settle, file: file, line: line)
    }

    @discardableResult
    func send(_ request: HTTPRequest, settle: Bool = true, file: StaticString = #filePath, line: UInt = #line) -> HTTPResponse? {
        let box = ResponseBox()
        let handled = router.handleHTTP(request, peer: PeerAddress(host: "127.0.0.1", port: 50_000),
                                        responder: HTTPResponder { box.set($0) })
        guard handled else { return nil }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if settle { self.settle() }
            if let response = box.get() { return response }
            usleep(500)
        }
        XCTFail("no response to \(request.method) \(request.target)", file: file, line: line)
        return nil
    }

    /// Starts a request without settling, for tests that hold password checks back.
    func start(_ method: HTTPMethod, _ target: String, headers: [(String, String)] = [], json body: String? = nil) -> ResponseBox {
        var fields = HTTPHeaders(headers)
        if body != nil { fields.add(name: "Content-Type", value: "application/json") }
        let request = HTTPRequest(method: method, target: target, headers: fields, body: Array((body ?? "").utf8))
        let box = ResponseBox()
        _ = router.handleHTTP(request, peer: PeerAddress(host: "127.0.0.1", port: 50_000),
                              responder: HTTPResponder { box.set($0) })
        return box
    }

    /// `POST /api/login`, returning the bearer header for later calls.
    func bearer(_ user: String, _ password: String, file: StaticString = #filePath, line: UInt = #line) -> [(String, String)] {
        let response = call(.post, "/api/login", json: #"{"user":"\#(user)","password":"\#(password)"}"#, file: file, line: line)
        XCTAssertEqual(response?.status, 200, "login of \(user)", file: file, line: line)
        guard let token = response.flatMap({ Self.json($0)["token"]?.stringValue }) else { return [] }
        return [("Authorization", "Bearer \(token)")]
    }

    static func basic(_ user: String, _ password: String) -> [(String, String)] {
        [("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())]
    }

    static func json(_ response: HTTPResponse) -> JSONValue {
        (try? JSONParser.parse(response.body)) ?? .null
    }

    static func errorCode(_ response: HTTPResponse?) -> String? {
        response.flatMap { json($0)["error"]?["code"]?.stringValue }
    }

    // MARK: Socket clients on the same hub

    func connect() -> ClientID {
        let id = ClientID(nextClient)
        nextClient += 1
        hub.connect(id, kind: .json, peerHost: "127.0.0.1")
        return id
    }

    func socketSend(_ client: ClientID, _ json: String) {
        hub.receive(Array(json.utf8), from: client)
        settle()
    }

    @discardableResult
    func socketLogin(_ user: String, _ password: String, file: StaticString = #filePath, line: UInt = #line) -> ClientID {
        let client = connect()
        socketSend(client, #"{"type":"login","user":"\#(user)","password":"\#(password)"}"#)
        XCTAssertEqual(events(client).first?["type"]?.stringValue, "welcome", "login of \(user)", file: file, line: line)
        return client
    }

    func events(_ client: ClientID) -> [JSONValue] {
        output.take(client).compactMap { try? JSONParser.parse($0) }
    }
}

/// Holds the one response a responder delivers, for any thread to fill and the test to read.
final class ResponseBox: Sendable {
    private let value = Mutex<HTTPResponse?>(nil)
    func set(_ response: HTTPResponse) { value.withLock { if $0 == nil { $0 = response } } }
    func get() -> HTTPResponse? { value.withLock { $0 } }
}
