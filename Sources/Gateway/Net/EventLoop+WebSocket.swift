import Logging

/// The WebSocket side of a loop: frames in through `WebSocketSession`, messages to the route's application,
/// control frames out, keepalive pings, and close frames on every way the gateway ends a WebSocket.
extension EventLoop {
    func receiveWebSocket(_ bytes: ArraySlice<UInt8>, link: WebSocketLink, on connection: Connection) {
        link.awaitingPong = false  // any frame from the peer proves it is alive
        let actions = bytes.withUnsafeBytes { link.session.receive($0) }
        // Whether the application heard of a message since the loop last applied its inbox. The gateway's own
        // answer to a later frame of the same read (a pong, a close frame) must not overtake the application's
        // reply to the message before it, so that work is applied first (`applyPostedWork`).
        var applicationMayHaveReplied = false
        for action in actions {
            guard !connection.isClosed else { return }
            switch action {
            case .text(let message):
                if connection.drainingReason == nil {
                    link.application.streamReceived(message[...], on: connection.id)
                    applicationMayHaveReplied = true
                }
            case .binary(let message):
                if let application = link.binaryApplication {
                    if connection.drainingReason == nil {
                        application.streamReceivedBinary(message[...], on: connection.id)
                        applicationMayHaveReplied = true
                    }
                } else {
                    if applicationMayHaveReplied {
                        applyPostedWork()
                        applicationMayHaveReplied = false
                        guard !connection.isClosed else { return }
                    }
                    // docs/PROTOCOL.md: one JSON object per *text* message.
                    sendWebSocketClose(on: connection, code: .unsupportedData, reason: "binary messages are not accepted")
                    beginDrain(connection, reason: .closedByApplication)
                }
            case .pong:
                break
            case .send(let frame):
                if applicationMayHaveReplied {
                    applyPostedWork()
                    applicationMayHaveReplied = false
                    guard !connection.isClosed else { return }
                }
                enqueueControlFrame(frame, on: connection)
            case .close(let code):
                if code == .messageTooBig, link.session.maxMessageBytes < link.maxMessageBytes {
                    counters.initialLimitExceeded.add(1, ordering: .relaxed)
                }
                // The close frame (ours or the echo of theirs) is queued; RFC 6455 §7.1.1: the server closes the TCP connection.
                if connection.drainingReason == nil { beginDrain(connection, reason: .peerClosed) }
            }
        }
    }

    /// Starts the close handshake with `code` (if not already started) by queueing the close frame.
    func sendWebSocketClose(on connection: Connection, code: WebSocketCloseCode, reason: String = "") {
        guard let link = connection.webSocketLink else { return }
        for case .send(let frame) in link.session.close(code: code, reason: reason) {
            enqueueControlFrame(frame, on: connection)
        }
    }

    /// `GatewayServer.setMessageLimit`: the stream's line or message limit, clamped to the configured maximum.
    func setMessageLimit(_ bytes: Int, on connection: Connection) {
        guard bytes > 0 else { return }
        switch connection.state {
        case .lines(let stream): stream.framer.maxLineBytes = min(bytes, configuration.maxLineBytes)
        case .webSocket(let link): link.session.maxMessageBytes = min(bytes, link.maxMessageBytes)
        case .awaitingFirstByte, .tlsHandshake, .http, .draining, .lingering, .closed: break  // no input is read under a limit
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
        enqueueControlFrame(WebSocketFrame.ping(), on: connection)
        setDeadline(for: connection, after: interval)
    }
}
