import ParleySupport

/// How a connection frames its messages, decided once per connection.
public enum StreamKind: Sendable {
    /// Newline-delimited JSON over raw TCP: the client's first byte was `{`.
    case jsonLines
    /// Plain text lines over raw TCP (`nc`, `telnet`): any other first byte.
    case textLines
    /// WebSocket text messages, after an HTTP upgrade.
    case webSocket
    /// Plain HTTP request/response exchanges on the HTTP port. Never reported to a
    /// `StreamApplication`: requests go to the `HTTPApplication` (or static files) instead.
    case http
}

/// The remote end of a connection, as numeric host and port.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    /// Numeric address: dotted quad for IPv4, RFC 5952 text for IPv6.
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z).
    public var isLoopback: Bool { ClientAddress.isLoopback(host) }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Why a stream ended; each has exactly one cause in the gateway.
public enum CloseReason: Sendable, Equatable {
    /// The peer finished sending (EOF) or reset the connection.
    case peerClosed
    /// `GatewayServer.close(_:)` was called; queued output was flushed first.
    case closedByApplication
    /// Queued output passed `maxQueuedOutputBytes`; the queue was dropped.
    case slowConsumer
    /// A line passed `maxLineBytes` and the application did not close the stream itself.
    case lineTooLong
    /// The client sent nothing within `firstByteTimeout` (or, later, did not finish its handshake).
    case handshakeTimeout
    /// Any other socket error, with its errno.
    case ioError(Int32)
    /// `GatewayServer.stop()` closed the stream.
    case serverStopping
}

/// The application seam: what the gateway tells an application about its streams. The line port and the
/// HTTP port's `webSocketPath` share the gateway's application; each `WebSocketRoute` has its own, which
/// hears only of that route's connections.
///
/// Every call for a connection happens on that connection's loop thread, in order:
/// `streamOpened`, then any number of `streamReceived` / `streamLineTooLong`, then exactly one
/// `streamClosed`. A connection that closes before it sends its first byte was never opened and
/// produces no calls at all. Calls for different connections may come from different threads at the
/// same time. Callbacks must return quickly (hand slow work to another thread); they may call
/// `GatewayServer.send`, `close` and `scheduleRepeating`, which take effect after the callback
/// returns, in call order.
public protocol StreamApplication: AnyObject, Sendable {
    /// A connection sent its first byte, which decided `kind`.
    func streamOpened(_ id: ConnectionID, kind: StreamKind, peer: PeerAddress)

    /// One complete line (without "\n" and without a trailing "\r") or one WebSocket text message.
    /// Empty lines are delivered too. The slice is a view of the loop's read buffer: keep
    /// a copy, not the slice, if it must outlive the call (keeping it is safe, just not free).
    func streamReceived(_ message: ArraySlice<UInt8>, on id: ConnectionID)

    /// A line exceeded the limit. The gateway stops reading this connection; the app normally sends
    /// an error and calls close(_:).
    func streamLineTooLong(_ id: ConnectionID)

    /// The stream is finished; sends to `id` are ignored from now on.
    func streamClosed(_ id: ConnectionID, reason: CloseReason)
}

/// A `StreamApplication` that also takes binary WebSocket messages. On a route whose application is not one,
/// a binary message closes the connection with 1003 (unsupported data) and the application never sees it:
/// the chat's protocol is one JSON object per text message (docs/PROTOCOL.md).
public protocol BinaryMessageApplication: StreamApplication {
    /// One complete binary WebSocket message; the slice lives as long as the call (as in `streamReceived`).
    func streamReceivedBinary(_ message: ArraySlice<UInt8>, on id: ConnectionID)
}
