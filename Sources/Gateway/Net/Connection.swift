/// One accepted socket and the state of its stream.
///
/// A connection moves one way through its phases:
/// `awaitingFirstByte → open → draining → lingering → closed` (any step may jump to `closed`).
/// The policy that moves it lives in the EventLoop extensions; this type only holds the state and
/// answers questions about it.
///
/// Loop-confined: created, used and released only on its owning loop's thread. Not Sendable.
final class Connection {
    enum Phase {
        /// Accepted; the kind is decided by the first byte, and the app has not been told yet.
        case awaitingFirstByte
        /// Told to the app; lines flow both ways.
        case open(StreamKind)
        /// Closing for `reason`: input is no longer delivered, queued output is being flushed.
        case draining(CloseReason)
        /// Output flushed and FIN sent, app told; input is read and discarded until the peer's FIN
        /// (or a deadline) so that closing with unread input cannot reset away our last bytes.
        case lingering
        /// Descriptor deregistered; waiting for the end-of-tick reap to close it and free the slot.
        case closed
    }

    let fd: Int32
    let id: ConnectionID
    /// The epoll registration token: slot and generation (see `ConnectionTable`).
    let token: UInt64
    let peer: PeerAddress

    var phase: Phase = .awaitingFirstByte
    /// Set when the stream opens and kept through closing, so output keeps its framing.
    private(set) var kind: StreamKind?
    var framer: LineFramer
    var output = OutputQueue()
    /// HTTP state, for connections accepted on the HTTP port (until a WebSocket upgrade).
    var http: HTTPExchange?
    /// WebSocket state, after an upgrade on the HTTP port.
    var webSocket: WebSocketLink?

    /// Whether epoll should report input: false after a too-long line and while draining.
    var wantsRead = true
    /// What epoll currently has registered for this descriptor.
    var registeredInterest: Interest = .readable
    /// The application told `streamOpened`, until it is told `streamClosed`: the gateway's own, or a
    /// WebSocket route's.
    var openedTo: (any StreamApplication)?
    /// The slow-consumer limit: the gateway's, or the WebSocket route's after an upgrade.
    var maxQueuedOutputBytes: Int
    /// The application asked to close: later sends are dropped, as they came after the close.
    var isCloseRequested = false
    /// The reason `streamClosed` will carry.
    var closeReason: CloseReason?
    /// The single pending deadline for the current phase (first byte, line-too-long grace, flush,
    /// linger). One per connection is enough because the phase decides what expiry means.
    var deadline: TimerID?
    /// `output.queuedBytes` as last added to the shared counter, so updates are deltas.
    var reportedQueuedBytes = 0

    /// Membership flags for the loop's per-tick lists, so each connection appears at most once.
    var isInFlushList = false
    var isInCoalescedList = false
    var isInReapList = false

    init(fd: Int32, id: ConnectionID, token: UInt64, peer: PeerAddress, maxLineBytes: Int, maxQueuedOutputBytes: Int) {
        self.fd = fd
        self.id = id
        self.token = token
        self.peer = peer
        framer = LineFramer(maxLineBytes: maxLineBytes)
        self.maxQueuedOutputBytes = maxQueuedOutputBytes
    }

    /// Moves to `open` with the kind its first byte decided.
    func open(as kind: StreamKind) {
        self.kind = kind
        phase = .open(kind)
    }

    /// The interest epoll should have now: input while reading, output only while bytes are queued
    /// (an always-armed EPOLLOUT would report an idle socket as writable on every tick).
    var wantedInterest: Interest {
        var interest: Interest = wantsRead ? .readable : []
        if !output.isEmpty { interest.insert(.writable) }
        return interest
    }

    /// Whether a send should be queued now. Output is still accepted while the gateway itself is
    /// closing the stream (the app has not been told yet), but not after the app's own close.
    var acceptsOutput: Bool {
        guard !isCloseRequested else { return false }
        switch phase {
        case .open, .draining: return true
        case .awaitingFirstByte, .lingering, .closed: return false
        }
    }

    /// Whether a control frame of the gateway's own should be queued now: as `acceptsOutput`, but also after
    /// the application's close, which must not cut the close handshake short.
    var acceptsControlFrames: Bool {
        switch phase {
        case .open, .draining: return true
        case .awaitingFirstByte, .lingering, .closed: return false
        }
    }

    /// Which bytes of an `Outbound` go on this connection's wire.
    var outputPart: Outbound.Part {
        switch kind {
        case .webSocket: .webSocketFrame
        case .jsonLines: .line
        case .textLines, .http, nil: .payload
        }
    }

    var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    var isAwaitingFirstByte: Bool {
        if case .awaitingFirstByte = phase { return true }
        return false
    }

    var isLingering: Bool {
        if case .lingering = phase { return true }
        return false
    }

    /// The reason of a close already under way, if any.
    var drainingReason: CloseReason? {
        if case .draining(let reason) = phase { return reason }
        return nil
    }
}
