import ChatCore
import Gateway

/// Adapts the hub to the gateway: connection ids become client ids one to one, requests flow in, and the
/// hub's rendered payloads flow out as shared `Outbound`s (encoded once, queued by reference).
///
/// Set up once by `attach` before the gateway starts, immutable afterwards, hence `@unchecked Sendable`.
/// Both references are weak: the hub holds the bridge (its output) and the gateway holds it (its application),
/// so strong ones back would be cycles that keep a stopped server's descriptors and memory alive forever
/// (found by the descriptor count in WholeServerConcurrencyTests; LeakSanitizer would report them too).
final class ChatBridge: StreamApplication, ChatOutput, @unchecked Sendable {
    private weak var chat: ChatService?
    private weak var gateway: GatewayServer?
    /// Open streams per door and slow-consumer disconnects, for `/metrics` (the hub sees clients, not carriers).
    let doors = DoorCounters()

    /// Every socket the gateway holds open on both ports (nil before `attach`), for `/metrics`.
    var openSockets: Int? { gateway?.connectionCount }

    /// What the gateway's per-address and size limits refused (nil before `attach`), for `/metrics`.
    var gatewayLimits: GatewayLimitCounters? { gateway?.limitCounters }

    /// The gateway's output counters (frames, write syscalls, queue high-water mark), for `/metrics`.
    var outputStatistics: GatewayOutputStatistics? { gateway?.outputStatistics }

    func attach(chat: ChatService, gateway: GatewayServer) {
        self.chat = chat
        self.gateway = gateway
    }

    // MARK: StreamApplication (called on the connection's loop thread)

    func streamOpened(_ id: ConnectionID, kind: StreamKind, peer: PeerAddress) {
        doors.opened(id, kind: kind)
        chat?.connect(ClientID(id.rawValue), kind: kind == .textLines ? .text : .json, peerHost: peer.host)
    }

    func streamReceived(_ message: ArraySlice<UInt8>, on id: ConnectionID) {
        chat?.receive(message, from: ClientID(id.rawValue))
    }

    func streamLineTooLong(_ id: ConnectionID) {
        chat?.lineTooLong(from: ClientID(id.rawValue))
    }

    func streamClosed(_ id: ConnectionID, reason: CloseReason) {
        doors.closed(id, reason: reason)
        chat?.disconnected(ClientID(id.rawValue))
    }

    // MARK: ChatOutput (called with the hub's lock held: only enqueue)

    func deliver(_ payload: [UInt8], to clients: [ClientID]) {
        gateway?.send(Outbound(payload), to: clients.map { ConnectionID(rawValue: $0.rawValue) })
    }

    func deliver(_ payload: [UInt8], to client: ClientID) {
        gateway?.send(Outbound(payload), to: ConnectionID(rawValue: client.rawValue))
    }

    func deliver(_ payload: consuming WirePayload, to client: ClientID) {
        let (base, count) = payload.release()
        gateway?.send(Outbound(adopting: base, headroom: WirePayload.headroom, payloadCount: count),
                      to: ConnectionID(rawValue: client.rawValue))
    }

    func deliverCoalesced(_ payload: [UInt8], to clients: [ClientID]) {
        gateway?.send(Outbound(payload), to: clients.map { ConnectionID(rawValue: $0.rawValue) }, coalescing: true)
    }

    func disconnect(_ client: ClientID) {
        gateway?.close(ConnectionID(rawValue: client.rawValue))
    }

    /// Logged in: lift the pre-login size limit to the full one (the gateway clamps to its configured maximum).
    func authenticated(_ client: ClientID) {
        gateway?.setMessageLimit(.max, for: ConnectionID(rawValue: client.rawValue))
    }
}
