import ChatCore
import Gateway

/// One JSON object the server sent: a reply (with `re`) or an event.
struct ServerFrame {
    let value: JSONValue

    var type: String { value["type"]?.stringValue ?? "" }
    /// The request id this frame answers (the client only sends numeric ids).
    var re: Int64? { value["re"]?.integerValue }
    subscript(key: String) -> JSONValue? { value[key] }
    func string(_ key: String) -> String? { value[key]?.stringValue }
    func bool(_ key: String) -> Bool { value[key]?.boolValue ?? false }

    /// An `error` frame as a `ChatError`; an unknown code keeps the server's text.
    var chatError: ChatError {
        let code = string("code").flatMap(ErrorCode.init(rawValue:)) ?? .internalError
        return ChatError(code, string("message") ?? "", attemptsLeft: value["attemptsLeft"]?.integerValue.map(Int.init),
                         retryAfter: value["retryAfter"]?.integerValue.map(Int.init))
    }
}

/// The native TCP connection to the server, speaking NDJSON (PROTOCOL.md). Blocking socket; the session's
/// poll() loop calls `readAvailable()` only when the socket is readable, so nothing here waits needlessly.
/// Requests carry increasing numeric ids; the caller matches replies by `re`.
final class ChatConnection {
    private let socket: ClientSocket
    /// A line from the server longer than this is a broken server, not a message: the connection is dropped.
    private var framer = LineFramer(maxLineBytes: 1 << 20)
    private var nextID: Int64 = 1

    private init(socket: ClientSocket) {
        self.socket = socket
    }

    var fd: Int32 { socket.fd }

    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address), trying each address in turn,
    /// giving up on each after `timeoutMilliseconds`.
    static func open(host: String, port: Int, timeoutMilliseconds: Int32 = 10_000) throws(ConnectFailure) -> ChatConnection {
        ChatConnection(socket: try ClientSocket.connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds))
    }

    /// Sends one request with a fresh id and returns the id. Nil: the connection is gone.
    @discardableResult
    func send(_ request: ClientRequest) -> Int64? {
        let id = nextID
        nextID += 1
        var line = RequestEncoder.encode(request, id: id)
        line.append(0x0A)
        return socket.writeAll(line) ? id : nil
    }

    /// Acknowledges the inbox up to `seq` (docs/PROTOCOL.md §11.2). No id: the server answers an ack without
    /// one with nothing, so no reply is awaited and the prompt never waits for it. False: the connection is gone.
    func sendAck(upTo seq: Int64) -> Bool {
        var line = RequestEncoder.encodeAck(upTo: seq)
        line.append(0x0A)
        return socket.writeAll(line)
    }

    enum ReadResult {
        case frames([ServerFrame])
        case closed
    }

    /// Reads what the socket holds (call when poll() says it is readable) and returns the complete lines as
    /// frames. A line that is not JSON is skipped: one bad line must not end the session.
    func readAvailable() -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        switch buffer.withUnsafeMutableBytes({ socket.read(into: $0) }) {
        case .bytes(let n):
            var frames: [ServerFrame] = []
            let outcome = framer.feed(buffer[..<n]) { line in
                if let value = try? JSONParser.parse(line) { frames.append(ServerFrame(value: value)) }
            }
            return outcome == .needMoreData ? .frames(frames) : .closed
        case .wouldBlock:
            return .frames([])
        case .closed, .failed:
            return .closed
        }
    }

    /// Stops sending; the server sees the end of the stream.
    func shutdownWrite() {
        socket.shutdownWrite()
    }
}
