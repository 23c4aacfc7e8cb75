import ChatCore
import Gateway
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One direct TCP connection to another terminal client: a non-blocking socket with a line reader and an
/// output queue. It joins the client's poll() set; nothing here ever waits. Both buffers are bounded, so a
/// peer that sends endless bytes or never reads costs a fixed amount of memory and then loses the link.
final class PeerLink {
    enum Phase: Equatable {
        /// Ours, towards the peer's listener: the connect has not finished yet.
        case connecting
        /// Theirs, accepted by our listener: waiting for (or holding) its `p2p_hello`.
        case greeting
        /// Authenticated both ways: carries `private`, `stopprivate` and `logout`.
        case open
    }

    enum ReadResult: Equatable {
        case alive
        /// The peer closed, the socket failed, or the peer sent a line over the limit.
        case gone
    }

    /// Queued output beyond this means the peer stopped reading: the link is dropped.
    static let maxQueued = 1 << 20
    private static let readChunk = 16_384

    let socket: ClientSocket
    var phase: Phase
    /// The user at the other end: known from the start for our links, from the hello for theirs.
    var peer: String?
    /// When something must happen if nothing else does first (connect timeout, hello timeout, flush timeout).
    var deadline: ContinuousClock.Instant?
    /// A held hello: the user and token it named, waiting for the server's `private_pending`.
    var heldHello: (user: String, token: String, arrivedAt: ContinuousClock.Instant)?
    /// Close as soon as the output is written (after a `stopprivate`).
    var closeWhenFlushed = false

    private var framer = LineFramer(maxLineBytes: PeerMessage.maxLine)
    private var lines: [[UInt8]] = []
    private var outbox: [UInt8] = []
    private var sent = 0

    init(socket: ClientSocket, phase: Phase, peer: String? = nil, deadline: ContinuousClock.Instant? = nil) {
        self.socket = socket
        self.phase = phase
        self.peer = peer
        self.deadline = deadline
    }

    /// The descriptor, which is also the link's key in the session table while the link is open.
    var fd: Int32 { socket.fd }

    /// Closes the socket now (the session table may still hold the object for a moment).
    func closeNow() {
        socket.close()
    }

    /// What to poll for. Reading pauses while a hello is held, so a peer cannot pile up input meanwhile;
    /// a closing link reads nothing more.
    var pollEvents: Int16 {
        var events: Int16 = 0
        if phase == .connecting || hasOutput { events |= Int16(POLLOUT) }
        if phase != .connecting, heldHello == nil, !closeWhenFlushed { events |= Int16(POLLIN) }
        return events
    }

    var hasOutput: Bool { sent < outbox.count }

    // MARK: Reading

    /// Reads what the socket holds and splits it into lines (call when poll() reports it readable or hung up).
    /// Lines received before an end of stream, or before a line over the limit, are kept: a `logout` just
    /// before the close must still be seen.
    func readAvailable() -> ReadResult {
        var buffer = [UInt8](repeating: 0, count: Self.readChunk)
        switch buffer.withUnsafeMutableBytes({ socket.read(into: $0) }) {
        case .bytes(let n):
            let outcome = framer.feed(buffer[..<n]) { lines.append(Array($0)) }
            return outcome == .needMoreData ? .alive : .gone
        case .wouldBlock:
            return .alive
        case .closed, .failed:
            return .gone
        }
    }

    /// The next complete line received, without its newline (or the CR before it).
    func nextLine() -> [UInt8]? {
        lines.isEmpty ? nil : lines.removeFirst()
    }

    var hasLines: Bool { !lines.isEmpty }

    // MARK: Writing

    /// Queues one message and writes what the socket takes now. False: the link is broken (a write failed, or
    /// the peer has not read for so long that the queue is full).
    func send(_ message: PeerMessage) -> Bool {
        outbox.append(contentsOf: message.encoded())
        if outbox.count - sent > Self.maxQueued { return false }
        return phase == .connecting ? true : flush()
    }

    /// Writes queued output until the socket would block. False: the connection is broken.
    func flush() -> Bool {
        while sent < outbox.count {
            let result = outbox.withUnsafeBytes { socket.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            guard case .bytes(let n) = result else {
                if result == .wouldBlock { break }
                return false
            }
            sent += n
        }
        if sent == outbox.count {
            outbox.removeAll(keepingCapacity: true)
            sent = 0
        } else if sent > 65_536 {
            outbox.removeFirst(sent)
            sent = 0
        }
        return true
    }
}

/// One line of the client-to-client protocol (docs/PROTOCOL.md §9): NDJSON, one object per line.
enum PeerMessage: Equatable {
    /// The asker's first line: who it is and the one-time token the server gave it.
    case hello(from: String, token: String)
    case text(String)
    case stop
    /// The sender logged out or was logged out for inactivity.
    case logout
    /// A well-formed object of a type this client does not know. Ignored on an open link, so a newer peer may
    /// add types without breaking an older one; refused as a first line.
    case unknown

    /// The longest line either side sends or takes, newline (and a CR before it) excluded (the server's limit,
    /// docs/PROTOCOL.md §9).
    static let maxLine = 65_536

    /// Decodes one line (without its newline). Nil: not a JSON object, or a known type with missing or ill-typed
    /// fields. A peer that sends that is broken or hostile, and its link is closed.
    static func decode(_ line: some Collection<UInt8>) -> PeerMessage? {
        guard let value = try? JSONParser.parse(line), case .object = value,
              let type = value["type"]?.stringValue else { return nil }
        switch type {
        case "p2p_hello":
            guard let from = value["from"]?.stringValue, let token = value["token"]?.stringValue else { return nil }
            return .hello(from: from, token: token)
        case "private":
            guard let text = value["text"]?.stringValue else { return nil }
            return .text(text)
        case "stopprivate":
            return .stop
        case "logout":
            return .logout
        default:
            return .unknown
        }
    }

    /// The line to send, newline included.
    func encoded() -> [UInt8] {
        var w = JSONWriter()
        switch self {
        case .hello(let from, let token):
            w.field("type", "p2p_hello")
            w.field("from", from)
            w.field("token", token)
        case .text(let text):
            w.field("type", "private")
            w.field("text", text)
        case .stop:
            w.field("type", "stopprivate")
        case .logout:
            w.field("type", "logout")
        case .unknown:
            w.field("type", "unknown")
        }
        var line = w.finish()
        line.append(0x0A)
        return line
    }
}
