import ChatCore
import Gateway
#if canImport(Glibc)
import Glibc
#endif

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

/// The native TCP connection to the server, speaking NDJSON (docs/PROTOCOL.md §1.2), in clear or over TLS. The session's
/// poll() loop calls `readAvailable()` only when the socket is ready for `pollEvents`, so nothing here waits
/// needlessly. Requests carry increasing numeric ids; the caller matches replies by `re`.
final class ChatConnection {
    private let stream: ClientStream
    /// A line from the server longer than this is a broken server, not a message: the connection is dropped.
    private var framer = LineFramer(maxLineBytes: 1 << 20)
    private var nextID: Int64 = 1

    private init(stream: ClientStream) {
        self.stream = stream
    }

    var fd: Int32 { stream.fd }

    /// What the session's poll() waits for on this connection: input, and with TLS also room to write when a
    /// read needs to send something first.
    var pollEvents: Int16 { Int16(POLLIN) | stream.readWaitsFor }

    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address), trying each address in turn,
    /// giving up on each after `timeoutMilliseconds`. With `tls`, the TLS handshake follows (bounded by the
    /// same time) and the server's certificate is checked as `tls` says, against `host`.
    static func open(host: String, port: Int, tls: TLSClientContext? = nil,
                     timeoutMilliseconds: Int32 = 10_000) throws(ConnectFailure) -> ChatConnection {
        let socket = try ClientSocket.connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
        guard let tls else { return ChatConnection(stream: socket) }
        let stream = try TLSClientStream(socket: socket, context: tls, serverName: host)
        do {
            try stream.handshake(timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            throw ConnectFailure(description: "TLS with \(host) port \(port) failed: \(error.description)")
        }
        return ChatConnection(stream: stream)
    }

    /// Sends one request with a fresh id and returns the id. Nil: the connection is gone.
    @discardableResult
    func send(_ request: ClientRequest) -> Int64? {
        let id = nextID
        nextID += 1
        var line = RequestEncoder.encode(request, id: id)
        line.append(0x0A)
        return stream.writeAllWaiting(line) ? id : nil
    }

    /// Acknowledges the inbox up to `seq`. No id: the server answers an ack without
    /// one with nothing, so no reply is awaited and the prompt never waits for it. False: the connection is gone.
    func sendAck(upTo seq: Int64) -> Bool {
        var line = RequestEncoder.encodeAck(upTo: seq)
        line.append(0x0A)
        return stream.writeAllWaiting(line)
    }

    /// Acknowledges `room` up to `seq`, without an id like `sendAck`. False: the connection is gone.
    func sendRoomAck(_ room: String, upTo seq: Int64) -> Bool {
        var line = RequestEncoder.encodeRoomAck(room, upTo: seq)
        line.append(0x0A)
        return stream.writeAllWaiting(line)
    }

    enum ReadResult {
        case frames([ServerFrame])
        case closed
    }

    /// Reads what the connection holds (call when poll() reports `pollEvents`) and returns the complete lines
    /// as frames. A line that is not JSON is skipped: one bad line must not end the session. With TLS it reads
    /// on while the stream holds decrypted bytes poll() cannot see.
    func readAvailable() -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var frames: [ServerFrame] = []
        repeat {
            switch buffer.withUnsafeMutableBytes({ stream.read(into: $0) }) {
            case .bytes(let n):
                let outcome = framer.feed(buffer[..<n]) { line in
                    if let value = try? JSONParser.parse(line) { frames.append(ServerFrame(value: value)) }
                }
                if outcome != .needMoreData { return .closed }
            case .wouldBlock:
                return .frames(frames)
            case .closed, .failed:
                // Frames that came with the end still count (a `bye`, then the close).
                return frames.isEmpty ? .closed : .frames(frames)
            }
        } while stream.hasBufferedInput
        return .frames(frames)
    }

    /// Stops sending; the server sees the end of the stream.
    func shutdownWrite() {
        stream.shutdownWrite()
    }
}
