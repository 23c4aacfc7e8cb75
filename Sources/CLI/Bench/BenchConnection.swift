import Gateway
import Glibc

/// One client connection of `parley bench`, in clear or over TLS: non-blocking, with its own buffers, speaking
/// the protocol (docs/PROTOCOL.md) as JSON lines or as WebSocket text messages (client frames masked, RFC 6455 §5.3). The lines and
/// frames are cut by the gateway's own `LineFramer` and `WebSocketFrameParser` (in its mode for the server's
/// frames), and frames masked by its encoder: the tool has no framing code of its own.
final class BenchConnection {
    enum Role: Equatable {
        /// A fan-out client: receives everything, and sends if its index is below the sender count.
        case member(Int)
        /// A login-storm attempt: logs in, logs out, goes away.
        case storm
        /// Logs in, then never reads again (a slow consumer, as a stalled phone would be).
        case stalled
    }

    enum Phase: Equatable {
        case connecting
        /// TLS only: connected, the handshake under way.
        case handshaking
        case upgrading
        case loggingIn
        /// With a room: welcomed, the room's join not answered yet.
        case joining
        case online
        case closed
    }

    let socket: ClientSocket
    /// What is read and written: the socket itself, or TLS over it once connected.
    private(set) var stream: ClientStream
    private let tls: TLSClientContext?
    /// While handshaking: the poll() event the handshake waits for.
    private(set) var handshakeWaitsFor = Int16(POLLOUT)
    let role: Role
    let user: String
    let webSocket: Bool
    var phase: Phase = .connecting
    /// When the connection was opened (monotonic ns), for the login latency.
    let openedAt: UInt64
    var triedRegister = false
    /// Refused as `busy` while logging in: when to try again (monotonic ns).
    var retryLoginAt: UInt64?
    /// While upgrading: the HTTP response received so far.
    private var responseHead: [UInt8] = []
    /// Native TCP: the JSON lines. WebSocket: the server's frames, and a message arriving in several of them.
    private var lines = LineFramer(maxLineBytes: BenchConnection.maxMessageBytes)
    private var frames = WebSocketFrameParser(maxMessageBytes: BenchConnection.maxMessageBytes, reading: .server)
    private var fragments: [UInt8] = []
    private var output: [UInt8] = []
    private var outputStart = 0
    private var maskState: UInt32

    /// Far above anything a Parley server sends (a message is at most 64 KiB of text): only a broken server
    /// comes near it.
    private static let maxMessageBytes = 1 << 24

    init(socket: ClientSocket, role: Role, user: String, webSocket: Bool, tls: TLSClientContext? = nil, now: UInt64) {
        self.socket = socket
        stream = socket
        self.tls = tls
        self.role = role
        self.user = user
        self.webSocket = webSocket
        openedAt = now
        maskState = UInt32(truncatingIfNeeded: now) | 1
    }

    var fd: Int32 { socket.fd }

    var hasPendingOutput: Bool { outputStart < output.count }

    /// Starts a non-blocking TCP connection to `address`; the connect completes later (POLLOUT).
    static func open(_ address: sockaddr_in, receiveBuffer: Int32? = nil) -> ClientSocket? {
        switch ClientSocket.startConnecting(to: address, receiveBufferBytes: receiveBuffer) {
        case .connected(let socket), .inProgress(let socket): socket
        case .failed: nil
        }
    }

    /// The connect finished: start the TLS handshake, the WebSocket upgrade, or go straight to the login on
    /// native TCP.
    func connected(host: String, port: Int, path: String) -> Bool {
        guard socket.connectError == nil else { return false }
        if let tls {
            guard let secured = try? TLSClientStream(socket: socket, context: tls, serverName: host) else { return false }
            stream = secured
            phase = .handshaking
            return true
        }
        startProtocol(host: host, port: port, path: path)
        return true
    }

    enum HandshakeProgress: Equatable {
        case pending
        /// The WebSocket upgrade or the login may begin.
        case done
        case failed(String)
    }

    /// Takes the TLS handshake one step further (call when `handshakeWaitsFor` is ready).
    func continueHandshake(host: String, port: Int, path: String) -> HandshakeProgress {
        guard phase == .handshaking, let secured = stream as? TLSClientStream else { return .failed("not handshaking") }
        switch secured.handshake() {
        case .done:
            startProtocol(host: host, port: port, path: path)
            return .done
        case .waitFor(let event):
            handshakeWaitsFor = event
            return .pending
        case .failed(let reason):
            return .failed(reason)
        }
    }

    private func startProtocol(host: String, port: Int, path: String) {
        if webSocket {
            phase = .upgrading
            // The key is not secret (RFC 6455 §4.1 asks for a random nonce; the server only echoes its hash).
            let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: cGFybGV5IGJlbmNoIGtleQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            output.append(contentsOf: request.utf8)
        } else {
            phase = .loggingIn
        }
    }

    /// Queues one protocol request (a JSON object without its newline).
    func send(_ json: [UInt8]) {
        if webSocket {
            output.append(contentsOf: WebSocketFrame.encodeMasked(opcode: .text, payload: json, maskKey: nextMaskKey()))
        } else {
            output.append(contentsOf: json)
            output.append(UInt8(ascii: "\n"))
        }
    }

    /// xorshift: masks only need to be unpredictable to browsers' scripts, not to us.
    private func nextMaskKey() -> UInt32 {
        maskState ^= maskState << 13
        maskState ^= maskState >> 17
        maskState ^= maskState << 5
        return maskState
    }

    /// Writes what the kernel takes. Returns false when the socket failed.
    func flush() -> Bool {
        while outputStart < output.count {
            switch output.withUnsafeBytes({ stream.write(UnsafeRawBufferPointer(rebasing: $0[outputStart...])) }) {
            case .bytes(let written): outputStart += written
            case .wouldBlock: return true
            case .closed, .failed: return false
            }
        }
        output.removeAll(keepingCapacity: output.capacity <= 65_536)
        outputStart = 0
        return true
    }

    /// Reads what is there and hands each complete message to `message`. Returns false on EOF or error.
    func read(into buffer: UnsafeMutableRawBufferPointer, _ message: (ArraySlice<UInt8>) -> Void) -> Bool {
        while true {
            switch stream.read(into: buffer) {
            case .bytes(let count):
                guard parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), message) else { return false }
                if count < buffer.count && !stream.hasBufferedInput { return true }
            case .wouldBlock:
                return true
            case .closed, .failed:
                return false
            }
        }
    }

    /// For a client that stopped reading: reads (and discards) whatever is queued for it, and says whether the
    /// server closed the connection behind it.
    func discardInputAndCheckClosed(using buffer: UnsafeMutableRawBufferPointer) -> Bool {
        while true {
            switch stream.read(into: buffer) {
            case .bytes: continue
            case .wouldBlock: return false
            case .closed, .failed: return true
            }
        }
    }

    private func parse(_ chunk: UnsafeRawBufferPointer, _ message: (ArraySlice<UInt8>) -> Void) -> Bool {
        if phase == .upgrading {
            responseHead.append(contentsOf: chunk)
            guard let end = Self.find([13, 10, 13, 10], in: responseHead[...]) else { return true }
            guard responseHead.starts(with: Array("HTTP/1.1 101".utf8)) else { return false }
            let rest = Array(responseHead[(end + 4)...])
            responseHead = []
            phase = .loggingIn
            return rest.withUnsafeBytes { parseMessages($0, message) }
        }
        return parseMessages(chunk, message)
    }

    private func parseMessages(_ chunk: UnsafeRawBufferPointer, _ message: (ArraySlice<UInt8>) -> Void) -> Bool {
        guard webSocket else { return lines.feed(Array(chunk)[...], message) == .needMoreData }
        var index = 0
        while true {
            switch frames.parse(chunk, index: &index) {
            case .needMoreData:
                return true
            case .failed:
                return false
            case .frame(let frame):
                switch frame.opcode {
                case .text, .continuation:
                    if frame.fin && fragments.isEmpty {
                        message(frame.payload[...])
                    } else {
                        fragments.append(contentsOf: frame.payload)
                        if frame.fin {
                            message(fragments[...])
                            fragments.removeAll()
                        }
                    }
                case .ping:
                    output.append(contentsOf: WebSocketFrame.encodeMasked(opcode: .pong, payload: frame.payload,
                                                                          maskKey: nextMaskKey()))
                case .close:
                    return false
                case .binary, .pong:
                    break
                }
            }
        }
    }

    /// The index in `haystack` where `needle` first starts.
    static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == needle[0] {
                var match = true
                for k in 1..<needle.count where haystack[index + k] != needle[k] {
                    match = false
                    break
                }
                if match { return index }
            }
            index += 1
        }
        return nil
    }

    private static let stampKey = Array(#""text":"pb"#.utf8)

    /// The bytes of the JSON string value right after `key` (Parley writes no escapes in the fields read here).
    static func stringValue(after key: [UInt8], in message: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard let at = find(key, in: message) else { return nil }
        let start = at + key.count
        guard let end = message[start...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return message[start..<end]
    }

    /// The send time a text of this tool carries (`"text":"pb<ns>_…`), nil in anything else.
    static func stamp(in message: ArraySlice<UInt8>) -> UInt64? {
        guard let at = find(stampKey, in: message) else { return nil }
        var value: UInt64 = 0
        var index = at + stampKey.count
        while index < message.endIndex, message[index] >= 48, message[index] <= 57 {
            value = value &* 10 &+ UInt64(message[index] - 48)
            index += 1
        }
        return value
    }
}
