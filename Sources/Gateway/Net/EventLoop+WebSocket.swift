import Logging

/// The WebSocket side of a loop: frames in through `WebSocketSession`, messages to the application (or
/// straight back on the echo endpoint), control frames out, keepalive pings, and close frames on every
/// way the gateway ends a WebSocket.
extension EventLoop {
    func receiveWebSocket(_ bytes: ArraySlice<UInt8>, link: WebSocketLink, on connection: Connection) {
        link.awaitingPong = false  // any frame from the peer proves it is alive
        let actions = bytes.withUnsafeBytes { link.session.receive($0) }
        for action in actions {
            guard !connection.isClosed else { return }
            switch action {
            case .text(let message):
                if link.isEcho {
                    enqueue(Outbound(WebSocketFrame.encode(opcode: .text, fin: true, payload: message)), on: connection, raw: true)
                } else if connection.isOpenedToApp && connection.drainingReason == nil {
                    application.streamReceived(message[...], on: connection.id)
                }
            case .binary(let message):
                if link.isEcho {
                    enqueue(Outbound(WebSocketFrame.binary(message)), on: connection, raw: true)
                } else {
                    // PROTOCOL.md: one JSON object per *text* message.
                    sendWebSocketClose(on: connection, code: .unsupportedData, reason: "binary messages are not accepted")
                    beginDrain(connection, reason: .closedByApplication)
                }
            case .pong:
                break
            case .send(let frame):
                enqueue(Outbound(frame), on: connection, raw: true)
            case .close(let code):
                if code == .messageTooBig, !link.isEcho, let services = httpServices,
                   link.session.maxMessageBytes < services.configuration.maxWebSocketMessageBytes {
                    counters.initialLimitExceeded.add(1, ordering: .relaxed)
                }
                // The close frame (ours or the echo of theirs) is queued; RFC 6455 §7.1.1: the server closes the TCP connection.
                if connection.drainingReason == nil { beginDrain(connection, reason: .peerClosed) }
            }
        }
    }

    /// Starts the close handshake with `code` (if not already started) by queueing the close frame.
    func sendWebSocketClose(on connection: Connection, code: WebSocketCloseCode, reason: String = "") {
        guard let link = connection.webSocket else { return }
        for case .send(let frame) in link.session.close(code: code, reason: reason) {
            enqueue(Outbound(frame), on: connection, raw: true)
        }
    }

    /// `GatewayServer.setMessageLimit`: the stream's line or message limit, clamped to the configured maximum.
    func setMessageLimit(_ bytes: Int, on connection: Connection) {
        guard bytes > 0 else { return }
        connection.framer.maxLineBytes = min(bytes, configuration.maxLineBytes)
        if let link = connection.webSocket, !link.isEcho, let services = httpServices {
            link.session.maxMessageBytes = min(bytes, services.configuration.maxWebSocketMessageBytes)
        }
    }

    /// Keepalive: ping an idle WebSocket; drop one that did not answer the previous ping.
    func webSocketDeadlinePassed(on connection: Connection, link: WebSocketLink) {
        guard let interval = httpServices?.configuration.webSocketPingInterval else { return }
        if link.awaitingPong {
            logger.debug("websocket did not answer a ping", metadata: ["connection": "\(connection.id)"])
            close(connection, reason: .peerClosed)
            return
        }
        link.awaitingPong = true
        enqueue(Outbound(WebSocketFrame.ping()), on: connection, raw: true)
        setDeadline(for: connection, after: interval)
    }
}
