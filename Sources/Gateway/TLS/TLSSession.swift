private import COpenSSL
import Glibc

/// One connection's TLS state: an OpenSSL session whose records go through two memory BIOs instead of the
/// socket. The loop reads ciphertext from the socket into `feed`, takes plaintext out with `read`, puts its
/// queued output in with `encrypt`, and writes the ciphertext that gathered meanwhile with `sendCiphertext`:
/// OpenSSL never touches the descriptor, so it never blocks, and every socket write stays the loop's own (one
/// per connection per tick, as without TLS).
///
/// With memory BIOs OpenSSL's WANT_READ means "feed me more ciphertext" and WANT_WRITE cannot happen (the
/// write BIO grows); a read that wants a write (a TLS 1.3 key update, an alert) leaves records in the write BIO,
/// which the loop sends like any other output (`hasCiphertext`).
///
/// Loop-confined: made, used and freed on its connection's loop. Not Sendable.
final class TLSSession {
    /// What a handshake step came to.
    enum HandshakeProgress: Equatable {
        case complete
        /// More ciphertext from the peer is needed (whatever we must answer is in the write BIO).
        case needsInput
        case failed(String)
    }

    /// What one `read` came to.
    enum ReadOutcome: Equatable {
        /// This many plaintext bytes are at the start of the buffer.
        case plaintext(Int)
        /// Nothing decryptable yet: the rest of a record has not arrived.
        case needsInput
        /// The peer's close_notify: it sends nothing more.
        case closed
        case failed(String)
    }

    private let ssl: OpaquePointer
    /// Ciphertext received and not yet consumed by OpenSSL.
    private let inputBIO: OpaquePointer
    /// Ciphertext OpenSSL produced and the socket has not taken yet.
    private let outputBIO: OpaquePointer
    /// Kept alive for the session's lifetime (OpenSSL holds its own reference too).
    private let context: TLSContext
    private(set) var isHandshakeComplete = false
    /// The last `encrypt` wanted the peer's bytes first (only a renegotiation-like exchange can, and none is
    /// allowed, but it costs nothing to be right): output waits for input instead of spinning on EPOLLOUT.
    var writeWantsRead = false

    init?(context: TLSContext) {
        guard let ssl = SSL_new(context.pointer) else { return nil }
        guard let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        // SSL_set_bio hands both BIOs to the session: SSL_free releases them.
        SSL_set_bio(ssl, input, output)
        SSL_set_accept_state(ssl)
        self.ssl = ssl
        inputBIO = input
        outputBIO = output
        self.context = context
    }

    deinit {
        SSL_free(ssl)
    }

    /// Appends ciphertext read from the socket (a memory BIO takes it all).
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        _ = BIO_write(inputBIO, base, Int32(bytes.count))
    }

    /// Runs the handshake as far as the ciphertext fed so far allows.
    func advanceHandshake() -> HandshakeProgress {
        guard !isHandshakeComplete else { return .complete }
        // The error queue is per thread and shared by every session of the loop: start each call clean so
        // SSL_get_error cannot blame this session for another's failure.
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            isHandshakeComplete = true
            return .complete
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsInput
        default:
            return .failed(TLSSetupError.drainOpenSSLErrors())
        }
    }

    /// Decrypts into `buffer`. Call until it stops returning plaintext: OpenSSL may hold a whole decrypted
    /// record (SSL_pending) or more ciphertext than one call returns, and epoll will not report it again.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadOutcome {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return .needsInput }
        var count = 0
        ERR_clear_error()
        if SSL_read_ex(ssl, base, buffer.count, &count) == 1 { return .plaintext(count) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsInput
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            return .failed(TLSSetupError.drainOpenSSLErrors())
        }
    }

    /// Ciphertext received and not yet consumed (bounded during the handshake by the loop).
    var unreadCiphertextBytes: Int {
        Int(BIO_ctrl_pending(inputBIO))
    }

    /// Whether input is held that a paused reader has not taken: decrypted bytes, or ciphertext not yet decrypted.
    var hasBufferedInput: Bool {
        SSL_pending(ssl) > 0 || BIO_ctrl_pending(inputBIO) > 0
    }

    /// Encrypts `bytes` into the write BIO as one or more records; returns how many were taken, 0 if the session
    /// cannot write now (retried later with the same bytes, which stay queued), nil on a fatal error.
    func encrypt(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        var written = 0
        ERR_clear_error()
        if SSL_write_ex(ssl, base, bytes.count, &written) == 1 { return written }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ:
            writeWantsRead = true
            return 0
        case SSL_ERROR_WANT_WRITE:
            return 0
        default:
            _ = TLSSetupError.drainOpenSSLErrors()
            return nil
        }
    }

    /// Ciphertext waiting for the socket: handshake messages, records, alerts.
    var ciphertextBytes: Int {
        Int(BIO_ctrl_pending(outputBIO))
    }

    var hasCiphertext: Bool { ciphertextBytes > 0 }

    /// One `send` of the ciphertext gathered so far, straight from the write BIO's memory.
    /// - Parameter scratch: room to discard a partly sent prefix into (a memory BIO cannot skip bytes).
    func sendCiphertext(on fd: Int32, scratch: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        var data: UnsafeMutablePointer<CChar>?
        let length = parley_bio_mem_contents(outputBIO, &data)
        guard length > 0, let data else { return .processed(0) }
        var vector = iovec(iov_base: UnsafeMutableRawPointer(data), iov_len: Int(length))
        let result = try Syscall.send(fd, iovecs: &vector, count: 1)
        guard case .processed(let sent) = result else { return result }
        if sent == length {
            _ = parley_bio_reset(outputBIO)  // the common case: all of it, dropped without a copy
        } else {
            var remaining = sent
            while remaining > 0, let base = scratch.baseAddress {
                let step = BIO_read(outputBIO, base, Int32(min(remaining, scratch.count)))
                if step <= 0 { break }
                remaining -= Int(step)
            }
        }
        return result
    }

    /// Queues close_notify, so the peer can tell our end from a truncation. Once only; never waits for the
    /// peer's reply (the socket's FIN follows).
    func queueCloseNotify() {
        guard isHandshakeComplete, SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN == 0 else { return }
        _ = SSL_shutdown(ssl)
        _ = TLSSetupError.drainOpenSSLErrors()
    }

    /// The protocol and cipher agreed, for the debug log.
    var negotiated: String {
        let version = SSL_get_version(ssl).map { String(cString: $0) } ?? "?"
        let cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)).map { String(cString: $0) } ?? "?"
        return "\(version) \(cipher)"
    }
}
