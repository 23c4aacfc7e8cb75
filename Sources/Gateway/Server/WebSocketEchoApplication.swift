/// A ready-made WebSocket application that sends every message straight back, text as text and binary as
/// binary: the endpoint a conformance suite (Autobahn) drives to test the gateway's RFC 6455 implementation.
///
/// It lives in Gateway, next to the code it exercises, and is an ordinary application on the public seam:
/// it is mounted as a `WebSocketRoute` (see `route`) and answers through `GatewayServer.send` like any other.
/// Off unless a server mounts it; it holds no per-connection state.
///
/// `@unchecked Sendable`: `server` is set once by `attach` before the gateway starts and only read afterwards.
public final class WebSocketEchoApplication: BinaryMessageApplication, @unchecked Sendable {
    /// Large enough for Autobahn's 9.x performance cases (messages up to 16 MiB).
    public static let maxMessageBytes = 16 * 1_048_576
    /// Room for a few of those messages on their way back before a reader counts as slow.
    public static let maxQueuedOutputBytes = 40 * 1_048_576

    /// Weak: the gateway holds this application through its configuration.
    private weak var server: GatewayServer?

    public init() {}

    /// The route to mount this application on, with the limits the conformance cases need.
    public var route: WebSocketRoute {
        WebSocketRoute(application: self, maxMessageBytes: Self.maxMessageBytes,
                       maxQueuedOutputBytes: Self.maxQueuedOutputBytes)
    }

    /// Names the gateway to answer through; call once, before the gateway starts.
    public func attach(_ server: GatewayServer) {
        self.server = server
    }

    public func streamOpened(_ id: ConnectionID, kind: StreamKind, peer: PeerAddress) {}

    public func streamReceived(_ message: ArraySlice<UInt8>, on id: ConnectionID) {
        server?.send(Outbound(Array(message)), to: [id])
    }

    public func streamReceivedBinary(_ message: ArraySlice<UInt8>, on id: ConnectionID) {
        server?.send(Outbound(Array(message), webSocketOpcode: .binary), to: [id])
    }

    /// Never called: a WebSocket route has messages, not lines.
    public func streamLineTooLong(_ id: ConnectionID) {}

    public func streamClosed(_ id: ConnectionID, reason: CloseReason) {}
}
