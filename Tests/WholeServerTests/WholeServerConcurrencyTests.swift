import Foundation
import Glibc
import Logging
import XCTest
@testable import ChatCore
@testable import CLI

/// The whole server in-process on its real threads, for the sanitizers (scripts/sanitize asan|tsan) as much as
/// for itself: two event loops, the hub's lock, the password worker pool (argon2id), the SQLite writer thread,
/// and every door at once — JSON lines, WebSocket, text mode, REST, metrics scrapes, registrations — then a
/// graceful stop in the middle of a flood. Every acknowledged message must be in the database afterwards.
final class WholeServerConcurrencyTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "parley-concurrency-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let users = (0..<8).map { "u\($0) pw\($0)\n" }.joined()
        try users.write(toFile: directory + "/credentials.txt", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func startServer() throws -> (ServerAssembly, tcp: Int, http: Int) {
        let options = try ServeCommand.parse([
            "0", "60", "600", "--host", "127.0.0.1", "--http-port", "0", "--loops", "2",
            "--data-dir", directory + "/data", "--credentials", directory + "/credentials.txt",
            "--limit", "messages=off",  // the clients below flood on purpose
        ])
        let server = try ServerAssembly(options: options, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let ports = try server.start()
        return (server, ports.tcp, try XCTUnwrap(ports.http))
    }

    func testEveryDoorAtOnceOnRealThreadsThenAGracefulStopLosesNothing() throws {
        let (server, tcp, http) = try startServer()
        let acked = Acks()
        let failures = Notes()
        var threads: [Thread] = []
        let done = DispatchGroup()
        func spawn(_ body: @escaping @Sendable () throws -> Void) {
            done.enter()
            let thread = Thread {
                do { try body() } catch { failures.add("\(error)") }
                done.leave()
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }

        // Six JSON-lines users message each other in a ring, with broadcasts, whoelse and history mixed in.
        for n in 0..<6 {
            spawn {
                let c = try LineSocket(port: tcp)
                try c.expect(c.request(#"{"type":"login","user":"u\#(n)","password":"pw\#(n)"}"#), type: "welcome")
                for k in 0..<40 {
                    let reply = try c.request(#"{"type":"message","to":"u\#((n + 1) % 6)","text":"m-\#(n)-\#(k)"}"#)
                    try c.expect(reply, type: "ok")
                    acked.add(try XCTUnwrap(reply["id"] as? Int64))
                    if k % 10 == 0 { try c.expect(c.request(#"{"type":"broadcast","text":"b-\#(n)-\#(k)"}"#), type: "ok") }
                    if k % 13 == 0 { try c.expect(c.request(#"{"type":"whoelse"}"#), type: "users") }
                }
                try c.expect(c.request(#"{"type":"history","limit":20}"#), type: "history")
            }
        }
        // A WebSocket user.
        spawn {
            let ws = try WebSocketSocket(port: http)
            try ws.expect(ws.request(#"{"type":"login","user":"u6","password":"pw6"}"#), type: "welcome")
            for k in 0..<20 {
                let reply = try ws.request(#"{"type":"message","to":"u0","text":"ws-\#(k)"}"#)
                try ws.expect(reply, type: "ok")
                acked.add(try XCTUnwrap(reply["id"] as? Int64))
            }
        }
        // A text-mode (nc) user.
        spawn {
            let t = try LineSocket(port: tcp)
            t.send("u7\n")
            _ = try t.readUntil("Password: ")
            t.send("pw7\n")
            _ = try t.readUntil("Welcome")
            for k in 0..<10 { t.send("message u1 text-\(k)\n") }
            t.send("block nobody\n")  // a reply that does not depend on who is online by now
            _ = try t.readUntil("Error. Invalid user")
        }
        // New accounts while all that runs (argon2id on the worker pool).
        spawn {
            for k in 0..<4 {
                let c = try LineSocket(port: tcp)
                try c.expect(c.request(#"{"type":"register","user":"new\#(k)","password":"pw"}"#), type: "welcome")
                try c.expect(c.request(#"{"type":"logout"}"#), type: "bye")
            }
        }
        // REST: a token login, messages, history, and metrics scrapes.
        spawn {
            let login = try httpCall(http, "POST", "/api/login", body: #"{"user":"u5","password":"pw5"}"#)
            XCTAssertEqual(login.status, 200)
            let token = try XCTUnwrap(login.json?["token"] as? String)
            for k in 0..<15 {
                let sent = try httpCall(http, "POST", "/api/messages", token: token, body: #"{"to":"u2","text":"rest-\#(k)"}"#)
                XCTAssertEqual(sent.status, 201)
                acked.add(try XCTUnwrap(sent.json?["id"] as? Int64))
                if k % 5 == 0 { XCTAssertEqual(try httpCall(http, "GET", "/metrics").status, 200) }
            }
            XCTAssertEqual(try httpCall(http, "GET", "/api/history?limit=50", token: token).status, 200)
        }
        for thread in threads { thread.start() }
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the clients finished")
        XCTAssertEqual(failures.all, [])

        // A graceful stop in the middle of a flood (by accounts made above, so surely offline now): whatever was
        // acknowledged is committed, and the flooders see their connection end, not a hang.
        let flooding = DispatchGroup()
        let flooded = Acks()
        for n in 0..<2 {
            flooding.enter()
            Thread {
                defer { flooding.leave() }
                do {
                    let c = try LineSocket(port: tcp)
                    try c.expect(c.request(#"{"type":"login","user":"new\#(n)","password":"pw"}"#), type: "welcome")
                    for k in 0... {
                        let reply = try c.request(#"{"type":"message","to":"u4","text":"flood-\#(n)-\#(k)"}"#)
                        guard reply["type"] as? String == "ok", let id = reply["id"] as? Int64 else { return }
                        acked.add(id)
                        flooded.add(id)
                    }
                } catch {
                    // The stop closed the connection: that ends the flood.
                }
            }.start()
        }
        usleep(300_000)
        server.stop()
        XCTAssertEqual(flooding.wait(timeout: .now() + 30), .success)
        XCTAssertGreaterThan(flooded.ids.count, 0, "the flood ran before the stop")

        let stored = try storedMessageIDs(senders: (0..<8).map { "u\($0)" } + ["new0", "new1"])
        let missing = acked.ids.subtracting(stored)
        XCTAssertTrue(missing.isEmpty, "\(missing.count) acknowledged messages not in the database")
        XCTAssertGreaterThan(acked.ids.count, 6 * 40 + 20 + 15)
    }

    /// A stopped and released server gives back every descriptor it opened (listeners, epoll and eventfd of each
    /// loop, the database, client sockets): a leak here once came from reference cycles through the bridge.
    func testAStoppedServerReleasesEveryDescriptor() throws {
        func openDescriptors() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
        }
        let before = openDescriptors()
        do {
            let (server, tcp, _) = try startServer()
            let c = try LineSocket(port: tcp)
            try c.expect(c.request(#"{"type":"login","user":"u0","password":"pw0"}"#), type: "welcome")
            try c.expect(c.request(#"{"type":"message","to":"u1","text":"bye"}"#), type: "ok")
            server.stop()
        }
        let deadline = Date(timeIntervalSinceNow: 5)
        while openDescriptors() > before, Date() < deadline { usleep(10_000) }
        XCTAssertEqual(openDescriptors(), before)
    }

    /// Every direct-message id each of `senders` has in the database, read through a fresh store.
    private func storedMessageIDs(senders: [String]) throws -> Set<Int64> {
        let store = try SQLiteStore(directory: URL(fileURLWithPath: directory + "/data"),
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        defer { store.close() }
        var ids = Set<Int64>()
        for sender in senders {
            // Page back through the whole history: a flood's recipient has far more than one page, and its own
            // sent messages are older than the flood, so a single newest page would hide them.
            var before: Int64?
            while true {
                let box = Box<Result<[StoredMessage], any Error>>()
                store.history(HistoryQuery(owner: sender, with: nil, before: before, limit: HistoryQuery.maxLimit)) { box.set($0) }
                let page = try box.wait().get()
                guard let oldest = page.map(\.id).min() else { break }
                for message in page where message.from == sender { ids.insert(message.id) }
                before = oldest
            }
        }
        return ids
    }
}

// MARK: - Small blocking clients (one thread each)

/// Acknowledged message ids, from many threads.
private final class Acks: @unchecked Sendable {
    private let lock = NSLock()
    private var set = Set<Int64>()
    func add(_ id: Int64) { _ = lock.withLock { set.insert(id) } }
    var ids: Set<Int64> { lock.withLock { set } }
}

/// Client threads' failures, reported once all have finished.
private final class Notes: @unchecked Sendable {
    private let lock = NSLock()
    private var notes: [String] = []
    func add(_ note: String) { lock.withLock { notes.append(note) } }
    var all: [String] { lock.withLock { notes } }
}

private final class Box<T>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var value: T?
    func set(_ value: T) { self.value = value; ready.signal() }
    func wait() throws -> T {
        guard ready.wait(timeout: .now() + 30) == .success, let value else { throw ClientError.timeout }
        return value
    }
}

private enum ClientError: Error { case timeout, closed, unexpected(String) }

private func openSocket(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var time = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if result != 0 { close(fd); throw ClientError.closed }
    return fd
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n <= 0 { return }
        offset += n
    }
}

private func receive(_ fd: Int32, into buffer: inout [UInt8]) throws {
    var chunk = [UInt8](repeating: 0, count: 65_536)
    let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    if n == 0 { throw ClientError.closed }
    if n < 0 { throw errno == EAGAIN ? ClientError.timeout : ClientError.closed }
    buffer += chunk[..<n]
}

private func parse(_ bytes: some Collection<UInt8>) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
}

/// JSON lines (and text mode) over TCP.
private final class LineSocket {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1

    init(port: Int) throws { fd = try openSocket(port: port) }
    deinit { close(fd) }

    func send(_ text: String) { sendAll(fd, Array(text.utf8)) }

    /// Sends `json` with a fresh id and returns the reply carrying it (events meanwhile are skipped).
    func request(_ json: String) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        send(String(json.dropLast()) + #","id":\#(id)}"# + "\n")
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                let line = buffer[..<newline]
                buffer.removeFirst(newline + 1)
                if let object = parse(line), object["re"] as? Int == id { return object }
                continue
            }
            try receive(fd, into: &buffer)
        }
    }

    func readUntil(_ marker: String) throws -> String {
        while !String(decoding: buffer, as: UTF8.self).contains(marker) { try receive(fd, into: &buffer) }
        defer { buffer.removeAll() }
        return String(decoding: buffer, as: UTF8.self)
    }

    func expect(_ reply: [String: Any], type: String) throws {
        guard reply["type"] as? String == type else { throw ClientError.unexpected("\(reply)") }
    }
}

/// The same protocol over a WebSocket (client frames masked, RFC 6455 §5.3).
private final class WebSocketSocket {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1

    init(port: Int) throws {
        fd = try openSocket(port: port)
        sendAll(fd, Array(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
        while true {
            if let end = String(decoding: buffer, as: UTF8.self).range(of: "\r\n\r\n") {
                let head = String(decoding: buffer, as: UTF8.self)[..<end.lowerBound]
                guard head.hasPrefix("HTTP/1.1 101") else { throw ClientError.unexpected(String(head)) }
                buffer.removeFirst(String(decoding: buffer, as: UTF8.self)[..<end.upperBound].utf8.count)
                return
            }
            try receive(fd, into: &buffer)
        }
    }
    deinit { close(fd) }

    func request(_ json: String) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let payload = Array((String(json.dropLast()) + #","id":\#(id)}"#).utf8)
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var frame: [UInt8] = [0x81]
        if payload.count < 126 { frame.append(0x80 | UInt8(payload.count)) }
        else { frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] }
        frame += key + payload.enumerated().map { $1 ^ key[$0 & 3] }
        sendAll(fd, frame)
        while true {
            if buffer.count >= 2 {
                var length = Int(buffer[1] & 0x7F)
                var start = 2
                if length == 126, buffer.count >= 4 { length = Int(buffer[2]) << 8 | Int(buffer[3]); start = 4 }
                if length < 126 || start == 4, buffer.count >= start + length {
                    let opcode = buffer[0] & 0x0F
                    let body = Array(buffer[start..<start + length])
                    buffer.removeFirst(start + length)
                    if opcode == 8 { throw ClientError.closed }
                    if opcode == 1, let object = parse(body), object["re"] as? Int == id { return object }
                    continue
                }
            }
            try receive(fd, into: &buffer)
        }
    }

    func expect(_ reply: [String: Any], type: String) throws {
        guard reply["type"] as? String == type else { throw ClientError.unexpected("\(reply)") }
    }
}

/// One HTTP/1.1 request on its own connection.
private func httpCall(_ port: Int, _ method: String, _ path: String, token: String? = nil,
                      body: String? = nil) throws -> (status: Int, json: [String: Any]?) {
    let fd = try openSocket(port: port)
    defer { close(fd) }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if let token { head += "Authorization: Bearer \(token)\r\n" }
    if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    sendAll(fd, Array((head + "\r\n" + (body ?? "")).utf8))
    var buffer: [UInt8] = []
    while true {
        do { try receive(fd, into: &buffer) } catch ClientError.closed { break }
    }
    let text = String(decoding: buffer, as: UTF8.self)
    guard let status = Int(text.split(separator: " ").dropFirst().first ?? "") else { throw ClientError.unexpected(text) }
    let json = text.range(of: "\r\n\r\n").flatMap { parse(Array(text[$0.upperBound...].utf8)) }
    return (status, json)
}
