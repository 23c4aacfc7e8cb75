private import COpenSSL
import Synchronization

/// Why a certificate and key could not be made into a TLS context.
public struct TLSSetupError: Error, CustomStringConvertible, Equatable {
    /// What was being done, and OpenSSL's own account of what went wrong.
    public let description: String

    init(_ step: String) {
        description = "\(step): \(TLSSetupError.drainOpenSSLErrors())"
    }

    /// Empties this thread's OpenSSL error queue into one line (it would otherwise leak into the next call's
    /// error report).
    static func drainOpenSSLErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown error" : messages.joined(separator: "; ")
    }
}

/// One OpenSSL server context: the certificate chain and key of `TLSFiles` under the server's fixed policy
/// (docs/SECURITY.md): TLS 1.2 minimum, ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2 and OpenSSL's
/// defaults for 1.3, the server's cipher order, no compression, no renegotiation.
///
/// Immutable once built, so any loop may create sessions from it; `SSL_new` takes its own reference, which is
/// why a session outlives a reload that drops this context.
final class TLSContext: @unchecked Sendable {
    /// Forward secrecy and AEAD only, strongest-and-fastest first; ECDSA before RSA so a dual-certificate setup
    /// prefers the cheaper handshake.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    let pointer: OpaquePointer

    /// Reads the PEM chain (leaf first; intermediates are sent whole) and its private key.
    init(files: TLSFiles) throws(TLSSetupError) {
        _ = TLSSetupError.drainOpenSSLErrors()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSSetupError("SSL_CTX_new") }
        pointer = context
        // From here deinit frees the context if a step below throws.
        guard parley_ssl_ctx_set_min_tls12(context) == 1 else { throw TLSSetupError("minimum protocol TLS 1.2") }
        SSL_CTX_set_options(context, parley_ssl_server_options())
        _ = parley_ssl_ctx_set_modes(context)
        guard SSL_CTX_set_cipher_list(context, Self.tls12Ciphers) == 1 else { throw TLSSetupError("cipher list") }
        guard SSL_CTX_use_certificate_chain_file(context, files.certificateFile) == 1 else {
            throw TLSSetupError("certificate \(files.certificateFile)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, files.keyFile, SSL_FILETYPE_PEM) == 1 else {
            throw TLSSetupError("private key \(files.keyFile)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSSetupError("key \(files.keyFile) does not match certificate \(files.certificateFile)")
        }
    }

    deinit {
        SSL_CTX_free(pointer)
    }

    /// A server-side session reading from and writing to memory, not to the socket: the loop moves the bytes.
    func makeSession() -> TLSSession? {
        TLSSession(context: self)
    }
}

/// The context new handshakes use. Swapped whole on reload (SIGHUP); sessions already made keep the context
/// they were made from, so open connections are untouched.
final class TLSContextStore: Sendable {
    private let current = Mutex<TLSContext?>(nil)
    let files: TLSFiles

    /// Empty until the first `reload` (the gateway's start) reads the files.
    init(files: TLSFiles) {
        self.files = files
    }

    /// The context for a handshake starting now (one uncontended lock per handshake).
    var context: TLSContext? {
        current.withLock { $0 }
    }

    /// Builds a context from the files as they are now and swaps it in. A file that is missing, unreadable or
    /// mismatched throws, and the old context stays in use.
    func reload() throws(TLSSetupError) {
        let fresh = try TLSContext(files: files)
        current.withLock { $0 = fresh }
    }
}

/// TLS handshake and connection counters for `/metrics` (`GatewayServer.tlsStatistics`).
public struct GatewayTLSStatistics: Sendable, Equatable {
    /// Handshakes that completed.
    public var handshakesCompleted: Int
    /// Handshakes that failed: a malformed record, no shared protocol or cipher, a client alert, or the peer
    /// leaving mid-handshake.
    public var handshakesFailed: Int
    /// Handshakes (or TLS connections waiting for a handshake slot) still unfinished at the head deadline.
    public var handshakesTimedOut: Int
    /// Plaintext connections refused because TLS is required.
    public var plaintextRefused: Int
    /// TLS connections open now (handshaking or established).
    public var connectionsOpen: Int
    /// Successful certificate reloads since start.
    public var reloads: Int

    public init(handshakesCompleted: Int = 0, handshakesFailed: Int = 0, handshakesTimedOut: Int = 0,
                plaintextRefused: Int = 0, connectionsOpen: Int = 0, reloads: Int = 0) {
        self.handshakesCompleted = handshakesCompleted
        self.handshakesFailed = handshakesFailed
        self.handshakesTimedOut = handshakesTimedOut
        self.plaintextRefused = plaintextRefused
        self.connectionsOpen = connectionsOpen
        self.reloads = reloads
    }
}

/// The shared atomics behind `GatewayTLSStatistics`, owned by `GatewayCounters`.
final class TLSCounters: Sendable {
    let handshakesCompleted = Atomic<Int>(0)
    let handshakesFailed = Atomic<Int>(0)
    let handshakesTimedOut = Atomic<Int>(0)
    let plaintextRefused = Atomic<Int>(0)
    let connectionsOpen = Atomic<Int>(0)
    let reloads = Atomic<Int>(0)

    var snapshot: GatewayTLSStatistics {
        GatewayTLSStatistics(
            handshakesCompleted: handshakesCompleted.load(ordering: .relaxed),
            handshakesFailed: handshakesFailed.load(ordering: .relaxed),
            handshakesTimedOut: handshakesTimedOut.load(ordering: .relaxed),
            plaintextRefused: plaintextRefused.load(ordering: .relaxed),
            connectionsOpen: connectionsOpen.load(ordering: .relaxed),
            reloads: reloads.load(ordering: .relaxed))
    }
}
