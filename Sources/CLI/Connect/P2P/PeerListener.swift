/// The socket on which this client takes direct connections from other terminal clients (docs/PROTOCOL.md §9).
/// Opened before login, so its port goes into the `login` request as `p2pPort`.
///
/// It is bound to the local address of the connection to the server, on a port the kernel picks. The server
/// hands peers the address it sees us on, which (without NAT) is that same local address, so binding there
/// is all peers need; a client talking to a server on 127.0.0.1 opens nothing to the network.
final class PeerListener {
    private let socket: ListeningSocket
    /// Pending connections the kernel keeps before `acceptAll()` takes them.
    private static let backlog: Int32 = 16

    private init(socket: ListeningSocket) {
        self.socket = socket
    }

    var fd: Int32 { socket.fd }
    var port: Int { socket.port }

    /// Listens beside the server connection `serverFD`. Nil if that fails: the client then declares no
    /// `p2pPort`, and `startprivate` gets the server's "not possible from this client" answer.
    static func open(beside serverFD: Int32) -> PeerListener? {
        guard var address = SocketAddress.local(of: serverFD) else { return nil }
        SocketAddress.setPort(0, in: &address)
        return ListeningSocket.open(on: address, backlog: backlog).map(PeerListener.init(socket:))
    }

    /// Takes every connection waiting (call when poll() says the socket is readable). The new sockets are
    /// non-blocking; the caller owns them.
    func acceptAll() -> [ClientSocket] {
        socket.acceptAll()
    }
}
