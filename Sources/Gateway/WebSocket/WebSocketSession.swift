/// What the connection must do after `WebSocketSession` read some bytes, in order.
public enum WebSocketAction: Sendable, Equatable {
    /// A complete text message; its bytes are valid UTF-8 (§8.1).
    case text([UInt8])
    /// A complete binary message.
    case binary([UInt8])
    /// A pong arrived with this payload (keepalive bookkeeping; no reply is due).
    case pong([UInt8])
    /// Write these frame bytes (a pong, or a close frame) before anything queued later.
    case send([UInt8])
    /// Close the TCP connection once queued bytes are written (§7.1.1: the server closes first).
    /// The code is the one received from the peer, or the one we failed the connection with.
    case close(WebSocketCloseCode)
}

/// Per-connection WebSocket protocol state after the handshake (RFC 6455 §5–§7): reassembles
/// fragmented messages, validates text as it arrives, answers pings, runs the close handshake,
/// and fails the connection with the right close code on any violation.
///
/// Bytes in, actions out: it never touches a socket. A violation yields `.send(close frame)` then
/// `.close(code)`; after that, and after a completed close handshake, input is ignored.
///
/// Loop-confined: touched only on its connection's event-loop thread. Not Sendable.
public final class WebSocketSession {
    /// Default for `maxMessageBytes`: 64 KiB, inclusive (Autobahn 1.1.6 sends exactly 65,536).
    public static let defaultMaxMessageBytes = 65_536

    public enum State: Sendable, Equatable {
        /// Messages flow both ways.
        case open
        /// We sent a close frame and wait for the peer's (§7.1.2).
        case closeSent
        /// Closed; the connection should be (or is being) torn down.
        case closed
    }

    /// Largest message accepted; larger ones fail the connection with 1009. May be changed between calls
    /// (the gateway raises it once the application has authenticated the connection).
    public var maxMessageBytes: Int {
        get { parser.maxMessageBytes }
        set { parser.maxMessageBytes = newValue }
    }
    public private(set) var state = State.open

    private var parser: WebSocketFrameParser
    private var messageOpcode: WebSocketOpcode?     // text or binary while a fragmented message is open
    private var fragments: [UInt8] = []
    private var utf8 = UTF8Validator()
    private var validatedInFrame = 0                // bytes of the frame in progress already validated

    /// Creates the state for one upgraded connection.
    public init(maxMessageBytes: Int = WebSocketSession.defaultMaxMessageBytes) {
        parser = WebSocketFrameParser(maxMessageBytes: maxMessageBytes)
    }

    /// Processes bytes read from the connection (including an upgrade's leftover bytes).
    public func receive(_ bytes: [UInt8]) -> [WebSocketAction] {
        bytes.withUnsafeBytes { receive($0) }
    }

    /// Processes bytes read from the connection.
    public func receive(_ input: UnsafeRawBufferPointer) -> [WebSocketAction] {
        var actions: [WebSocketAction] = []
        var index = 0
        while state != .closed {
            switch parser.parse(input, index: &index) {
            case .needMoreData:
                // Fail fast (§8.1, Autobahn 6.4.x): check the text received so far now,
                // without waiting for the rest of the frame.
                if let error = validatePendingText() { fail(error, into: &actions) }
                return actions
            case .frame(let frame):
                if let error = handle(frame, into: &actions) { fail(error, into: &actions) }
            case .failed(let error):
                fail(error, into: &actions)
            }
        }
        return actions
    }

    /// Starts a server-initiated close (§7.1.2), e.g. on shutdown with 1001; returns the frame
    /// to send. The connection closes when the peer answers (or at the caller's timeout).
    public func close(code: WebSocketCloseCode, reason: String = "") -> [WebSocketAction] {
        guard state == .open else { return [] }
        state = .closeSent
        return [.send(WebSocketFrame.close(code: code, reason: reason))]
    }

    // MARK: - Frames

    private func handle(_ frame: WebSocketFrame, into actions: inout [WebSocketAction]) -> WebSocketProtocolError? {
        switch frame.opcode {
        case .text, .binary:
            // The parser has enforced §5.4 sequencing and the size limit already.
            messageOpcode = frame.opcode
            if frame.opcode == .text, let error = validateText(frame.payload, final: frame.fin) { return error }
            if frame.fin {
                deliver(frame.opcode, frame.payload, into: &actions)
            } else {
                fragments = frame.payload
            }
        case .continuation:
            if messageOpcode == .text, let error = validateText(frame.payload, final: frame.fin) { return error }
            fragments.append(contentsOf: frame.payload)
            if frame.fin, let opcode = messageOpcode {
                let message = fragments
                fragments = []
                deliver(opcode, message, into: &actions)
            }
        case .ping:
            // §5.5.2/§5.5.3: answer with a pong carrying the same payload, even mid-message.
            if state == .open { actions.append(.send(WebSocketFrame.pong(frame.payload))) }
        case .pong:
            actions.append(.pong(frame.payload))
        case .close:
            return handleClose(frame.payload, into: &actions)
        }
        return nil
    }

    private func deliver(_ opcode: WebSocketOpcode, _ payload: [UInt8], into actions: inout [WebSocketAction]) {
        messageOpcode = nil
        utf8.reset()
        // §5.5.1: after sending a close frame we may drop data; nothing more reaches the app.
        guard state == .open else { return }
        actions.append(opcode == .text ? .text(payload) : .binary(payload))
    }

    /// §5.5.1 and §7.4: check the close payload, echo the code, then close.
    private func handleClose(_ payload: [UInt8], into actions: inout [WebSocketAction]) -> WebSocketProtocolError? {
        var code = WebSocketCloseCode.noStatusReceived
        if payload.count == 1 { return .invalidClosePayload }
        if payload.count >= 2 {
            code = WebSocketCloseCode(rawValue: UInt16(payload[0]) << 8 | UInt16(payload[1]))
            if !code.isValidInCloseFrame { return .invalidCloseCode(code.rawValue) }
            // §5.5.1: the reason, if any, is UTF-8 (Autobahn 7.5.1 expects 1007).
            if !UTF8Validator.isValid(Array(payload[2...])) { return .invalidUTF8 }
        }
        if state == .open {
            // Echo the peer's code (an empty close is answered with an empty close).
            actions.append(.send(WebSocketFrame.close(code: payload.isEmpty ? nil : code)))
        }
        state = .closed
        actions.append(.close(code))
        return nil
    }

    private func fail(_ error: WebSocketProtocolError, into actions: inout [WebSocketAction]) {
        guard state != .closed else { return }
        // §7.1.7: fail the connection: send a close frame with the code, then close.
        if state == .open { actions.append(.send(WebSocketFrame.close(code: error.closeCode))) }
        state = .closed
        actions.append(.close(error.closeCode))
    }

    // MARK: - UTF-8 across fragments and reads

    /// Validates the not-yet-validated tail of a completed text frame; at the last fragment the
    /// text must also end on a character boundary.
    private func validateText(_ payload: [UInt8], final: Bool) -> WebSocketProtocolError? {
        defer { validatedInFrame = 0 }
        guard utf8.validate(payload[validatedInFrame...]) else { return .invalidUTF8 }
        return final && !utf8.isComplete ? .invalidUTF8 : nil
    }

    /// Validates the part of a text frame that has arrived so far.
    private func validatePendingText() -> WebSocketProtocolError? {
        guard let opcode = parser.pendingOpcode,
              opcode == .text || (opcode == .continuation && messageOpcode == .text) else { return nil }
        let pending = parser.pendingPayload
        guard pending.count > validatedInFrame else { return nil }
        defer { validatedInFrame = pending.count }
        return utf8.validate(pending[validatedInFrame...]) ? nil : .invalidUTF8
    }
}
