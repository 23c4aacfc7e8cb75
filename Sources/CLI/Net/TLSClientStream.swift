import COpenSSL
import Glibc

/// The client end of one TLS connection, over a connected non-blocking `ClientSocket` (OpenSSL reads and
/// writes the descriptor itself, SSL_set_fd). Every call returns at once: what would block comes back as
/// `.wouldBlock` with the poll() event to wait for, so the owner's poll() loop drives the handshake and the
/// traffic, and nothing spins.
final class TLSClientStream: ClientStream {
    let socket: ClientSocket
    /// The `SSL`; freed on deinit.
    private let ssl: OpaquePointer
    /// The name or address the certificate must be for, as the user gave it.
    let serverName: String
    private(set) var readWaitsFor = Int16(POLLIN)
    private(set) var writeWaitsFor = Int16(POLLOUT)
    private var isShutDown = false

    /// Prepares the handshake with `serverName` (a DNS name, sent as SNI and checked against the certificate,
    /// or an IP address, checked against its IP entries). Sets the socket non-blocking.
    init(socket: ClientSocket, context: TLSClientContext, serverName: String) throws(ConnectFailure) {
        guard let ssl = SSL_new(context.handle) else {
            throw ConnectFailure(description: "cannot set up TLS: \(TLSErrorQueue.takeReason() ?? "out of memory")")
        }
        self.ssl = ssl
        self.socket = socket
        self.serverName = serverName
        let flags = fcntl(socket.fd, F_GETFL)
        _ = fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK)
        _ = SSL_set_fd(ssl, socket.fd)
        SSL_set_connect_state(ssl)
        if Self.isIPAddress(serverName) {
            // RFC 6066: no SNI for an address literal.
            if context.verifies { _ = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), serverName) }
        } else {
            // SSL_set_tlsext_host_name is a macro over SSL_ctrl.
            _ = serverName.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
            if context.verifies { _ = SSL_set1_host(ssl, serverName) }
        }
    }

    deinit {
        SSL_free(ssl)
    }

    var fd: Int32 { socket.fd }

    func close() { socket.close() }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    // MARK: Handshake

    enum HandshakeStep: Equatable {
        case done
        /// Call again when poll() reports this event (POLLIN or POLLOUT).
        case waitFor(Int16)
        case failed(String)
    }

    /// One step of the handshake: call when the socket is connected, then each time the awaited event comes.
    func handshake() -> HandshakeStep {
        TLSErrorQueue.clear()
        errno = 0
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done }
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ: return .waitFor(Int16(POLLIN))
        case SSL_ERROR_WANT_WRITE: return .waitFor(Int16(POLLOUT))
        default: return .failed(handshakeFailure(error))
        }
    }

    /// Runs the whole handshake, waiting in poll() for at most `timeoutMilliseconds` in all.
    func handshake(timeoutMilliseconds: Int32) throws(ConnectFailure) {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMilliseconds))
        while true {
            switch handshake() {
            case .done:
                return
            case .failed(let reason):
                throw ConnectFailure(description: reason)
            case .waitFor(let event):
                let left = ContinuousClock.now.duration(to: deadline)
                let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
                guard milliseconds > 0, SystemCall.waitFor(event, on: fd, timeoutMilliseconds: milliseconds) else {
                    throw ConnectFailure(description: "the TLS handshake did not finish in time")
                }
            }
        }
    }

    /// Why the handshake failed, in words that say what to do about it.
    private func handshakeFailure(_ error: Int32) -> String {
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK) {
            TLSErrorQueue.clear()
            return Self.verificationFailure(verify, serverName: serverName)
        }
        let reason = TLSErrorQueue.takeReason()
        if error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN || reason == nil
            || reason?.contains("unexpected eof") == true {
            return errno == 0 || errno == ECONNRESET || errno == EPIPE
                ? "the server closed the connection during the handshake (does it serve TLS on this port?)"
                : "the handshake failed: \(OSError(code: errno).message)"
        }
        let text = reason ?? "error \(error)"
        if text.contains("wrong version number") || text.contains("packet length too long") {
            return "the server did not answer in TLS (\(text)); does it serve TLS on this port?"
        }
        return "the handshake failed: \(text)"
    }

    static func verificationFailure(_ code: Int, serverName: String) -> String {
        let detail = String(cString: X509_verify_cert_error_string(code))
        switch Int32(code) {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return "the server's certificate is not valid for \(serverName) (\(detail))"
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
             X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return "the server's certificate is signed by an unknown certificate authority (\(detail)); "
                + "trust its CA with --ca FILE"
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
            return "the server's certificate is outside its validity period (\(detail))"
        default:
            return "the server's certificate was refused (\(detail))"
        }
    }

    // MARK: Traffic

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        TLSErrorQueue.clear()
        errno = 0
        let result = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if result > 0 {
            readWaitsFor = Int16(POLLIN)
            return .bytes(Int(result))
        }
        return outcome(of: result, settingWait: &readWaitsFor)
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        guard !bytes.isEmpty else { return .bytes(0) }
        TLSErrorQueue.clear()
        errno = 0
        let result = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if result > 0 {
            writeWaitsFor = Int16(POLLOUT)
            return .bytes(Int(result))
        }
        return outcome(of: result, settingWait: &writeWaitsFor)
    }

    private func outcome(of result: Int32, settingWait wait: inout Int16) -> IOResult {
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ:
            wait = Int16(POLLIN)
            return .wouldBlock
        case SSL_ERROR_WANT_WRITE:
            wait = Int16(POLLOUT)
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_SYSCALL:
            TLSErrorQueue.clear()
            return errno == 0 || errno == EPIPE || errno == ECONNRESET ? .closed : .failed(OSError(code: errno))
        default:
            TLSErrorQueue.clear()
            return .failed(OSError(code: EIO))
        }
    }

    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    func shutdownWrite() {
        if !isShutDown {
            isShutDown = true
            // One try: the close_notify goes out if the socket has room, which it has unless the server stopped
            // reading; nobody waits for the server's answer.
            TLSErrorQueue.clear()
            _ = SSL_shutdown(ssl)
            TLSErrorQueue.clear()
        }
        socket.shutdownWrite()
    }
}
