/// One accepted socket and the state of its stream.
///
/// `state` says what the connection is now and carries that stage's protocol state, so input and deadline
/// handling switch on one enum. It moves one way:
/// `awaitingFirstByte (→ tlsHandshake → awaitingFirstByte) → lines | http (→ webSocket) → draining → lingering
/// → closed` (any step may jump to `closed`). TLS is not a state but a layer (`tls`) under all the later ones. The policy that moves it lives in the EventLoop extensions; this type only holds the state
/// and answers questions about it.
///
/// Loop-confined: created, used and released only on its owning loop's thread. Not Sendable.
final class Connection {
    /// Which listener accepted the socket, and so what its first byte starts.
    enum Door {
        /// The line port: the first byte decides JSON or text lines.
        case lines
        /// The HTTP port: the first byte starts a request.
        case http
    }

    /// What an open connection is, with its protocol state; kept by `draining` for what is still due.
    enum Stream {
        case lines(LineStream)
        case http(HTTPExchange)
        case webSocket(WebSocketLink)
    }

    enum State {
        /// Accepted; the application has not been told yet.
        case awaitingFirstByte(Door)
        /// The first byte was a TLS handshake record: the handshake runs (under the accept-time deadline); once
        /// it completes the connection awaits its first decrypted byte.
        case tlsHandshake(Door)
        /// Told to the gateway's application; lines flow both ways.
        case lines(LineStream)
        /// Requests and responses on the HTTP port, answered in order.
        case http(HTTPExchange)
        /// Upgraded from `http`: messages flow both ways with the route's application.
        case webSocket(WebSocketLink)
        /// Closing for `reason`: input is no longer delivered, queued output is being flushed. `was` keeps
        /// the output framing and a response still due; nil if the stream never opened.
        case draining(CloseReason, was: Stream?)
        /// Output flushed and FIN sent, app told; input is read and discarded until the peer's FIN
        /// (or a deadline) so that closing with unread input cannot reset away our last bytes.
        case lingering
        /// Descriptor deregistered; waiting for the end-of-tick reap to close it and free the slot.
        case closed
    }

    // The stored properties a send touches come first, in declaration order (which Swift keeps for a class's
    // layout): a fan-out visits thousands of connections whose objects are cold after the kernel's work of the
    // previous message, and the fields it reads then share two adjacent cache lines instead of four.

    let fd: Int32
    let id: ConnectionID
    /// The epoll registration token: slot and generation (see `ConnectionTable`).
    let token: UInt64

    var state: State {
        didSet { outputPart = Self.outputPart(of: state) ?? outputPart }
    }
    /// Which bytes of an `Outbound` go on this connection's wire: derived from `state` when it changes
    /// (a draining connection keeps its framing), so the per-message path reads a stored value.
    private(set) var outputPart: Outbound.Part = .payload
    /// The application asked to close: later sends are dropped, as they came after the close.
    var isCloseRequested = false
    /// Whether epoll should report input: false after a too-long line, while pipelined HTTP requests wait,
    /// and while draining.
    var wantsRead = true
    /// What epoll currently has registered for this descriptor.
    var registeredInterest: Interest = .readable

    /// Membership flags for the loop's per-tick lists, so each connection appears at most once.
    var isInFlushList = false
    var isInCoalescedList = false
    var isInReapList = false
    var isInTLSInputList = false

    var output = OutputQueue()
    /// The slow-consumer limit: the gateway's, or the WebSocket route's after an upgrade.
    var maxQueuedOutputBytes: Int
    /// `output.queuedBytes` as last added to the shared counter, so updates are deltas.
    var reportedQueuedBytes = 0
    /// The TLS layer, from the first handshake byte to the close; nil for plaintext.
    var tls: TLSSession?

    // Read by other paths than sends.

    let peer: PeerAddress
    /// The first bytes of a TLS connection waiting for one of its loop's handshake slots (reading paused).
    var heldTLSBytes: [UInt8]?
    /// The application told `streamOpened`, until it is told `streamClosed`: the gateway's own, or a
    /// WebSocket route's.
    var openedTo: (any StreamApplication)?
    /// The reason `streamClosed` will carry.
    var closeReason: CloseReason?
    /// The single pending deadline of the current state (first byte, HTTP head or keep-alive, WebSocket
    /// ping, line-too-long grace, flush, linger). One per connection is enough because the state decides
    /// what expiry means.
    var deadline: TimerID?

    init(fd: Int32, id: ConnectionID, token: UInt64, peer: PeerAddress, door: Door, maxQueuedOutputBytes: Int) {
        self.fd = fd
        self.id = id
        self.token = token
        self.peer = peer
        state = .awaitingFirstByte(door)
        self.maxQueuedOutputBytes = maxQueuedOutputBytes
    }

    /// The interest epoll should have now: input while reading, output only while bytes are queued
    /// (an always-armed EPOLLOUT would report an idle socket as writable on every tick).
    var wantedInterest: Interest {
        var interest: Interest = wantsRead ? .readable : []
        // TLS: ciphertext waiting counts as output; plaintext a stalled session cannot encrypt yet does not.
        if (!output.isEmpty && tls?.writeWantsRead != true) || tls?.hasCiphertext == true {
            interest.insert(.writable)
        }
        return interest
    }

    /// Whether a send should be queued now. Output is still accepted while the gateway itself is
    /// closing the stream (the app has not been told yet), but not after the app's own close.
    var acceptsOutput: Bool {
        !isCloseRequested && acceptsControlFrames
    }

    /// Whether a control frame of the gateway's own should be queued now: as `acceptsOutput`, but also after
    /// the application's close, which must not cut the close handshake short.
    var acceptsControlFrames: Bool {
        switch state {
        case .lines, .http, .webSocket, .draining: true
        case .awaitingFirstByte, .tlsHandshake, .lingering, .closed: false
        }
    }

    /// The framing of an open stream; nil for the states that queue nothing new (so the last one stays).
    private static func outputPart(of state: State) -> Outbound.Part? {
        switch state {
        case .lines(let lines): lines.kind == .jsonLines ? .line : .payload
        case .http: .payload
        case .webSocket: .webSocketFrame
        case .awaitingFirstByte, .tlsHandshake, .draining, .lingering, .closed: nil
        }
    }

    /// The open stream, or the one a draining connection was.
    var stream: Stream? {
        switch state {
        case .lines(let lines): .lines(lines)
        case .http(let exchange): .http(exchange)
        case .webSocket(let link): .webSocket(link)
        case .draining(_, let was): was
        case .awaitingFirstByte, .tlsHandshake, .lingering, .closed: nil
        }
    }

    /// The HTTP exchange of an HTTP connection, open or draining (a response may still be due).
    var httpExchange: HTTPExchange? {
        if case .http(let exchange)? = stream { return exchange }
        return nil
    }

    /// The WebSocket link of an upgraded connection, open or draining.
    var webSocketLink: WebSocketLink? {
        if case .webSocket(let link)? = stream { return link }
        return nil
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var isLingering: Bool {
        if case .lingering = state { return true }
        return false
    }

    /// The reason of a close already under way, if any.
    var drainingReason: CloseReason? {
        if case .draining(let reason, _) = state { return reason }
        return nil
    }
}
