import COpenSSL
import Glibc

/// How the client side (`parley connect --tls`, `parley bench --tls`) trusts servers: one OpenSSL context per
/// process, shared by every connection it opens.
///
/// It verifies the server's certificate chain against the system's store (or only against `--ca FILE`), and
/// each stream checks the host name or IP address on top (`TLSClientStream`). `--insecure` turns both off; the
/// caller says so on stderr. TLS 1.2 is the floor, renegotiation and compression are off, as on the server
/// (docs/SECURITY.md).
final class TLSClientContext {
    enum Trust: Equatable {
        /// The certificate authorities the system trusts (Debian: /etc/ssl/certs).
        case systemStore
        /// Only the certificates in this PEM file (a private CA, or the server's self-signed certificate).
        case caFile(String)
        /// No verification at all: for a test server, never for real traffic.
        case none
    }

    let trust: Trust
    /// The `SSL_CTX`; freed on deinit.
    let handle: OpaquePointer

    // Option bits OpenSSL defines through a function-like macro (SSL_OP_BIT), which Swift does not import.
    private static let noCompression: UInt64 = 1 << 17
    private static let noRenegotiation: UInt64 = 1 << 30
    /// A server that closes its TCP connection without a close_notify (Parley after `bye`, like most servers)
    /// ends the stream; it is not an error to report.
    private static let ignoreUnexpectedEOF: UInt64 = 1 << 7

    init(trust: Trust) throws(ConnectFailure) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw ConnectFailure(description: "cannot set up TLS: \(TLSErrorQueue.takeReason() ?? "out of memory")")
        }
        self.trust = trust
        handle = context
        // SSL_CTX_set_min_proto_version and SSL_CTX_set_mode are macros over SSL_CTX_ctrl.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // A write that would block is retried later with the same bytes from a buffer that may have moved (it
        // grows as more requests queue behind it), and may complete in part, as a plain send() does.
        _ = SSL_CTX_ctrl(context, SSL_CTRL_MODE, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), nil)
        _ = SSL_CTX_set_options(context, Self.noCompression | Self.noRenegotiation | Self.ignoreUnexpectedEOF)
        switch trust {
        case .none:
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        case .systemStore:
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw ConnectFailure(description: "cannot load the system's certificate store: \(TLSErrorQueue.takeReason() ?? "unknown error")")
            }
        case .caFile(let path):
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if let error = SystemCall.check(access(path, R_OK)) {
                throw ConnectFailure(description: "cannot read the CA file \(path): \(error.message)")
            }
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                let reason = TLSErrorQueue.takeReason() ?? "no certificate in it"
                throw ConnectFailure(description: "cannot read the CA file \(path): \(reason)")
            }
        }
    }

    deinit { SSL_CTX_free(handle) }

    var verifies: Bool { trust != .none }

    /// The line `--insecure` prints before connecting.
    static let insecureWarning = "warning: --insecure: the server's certificate is not verified; "
        + "anyone on the path can read and change this session"
}

/// OpenSSL's per-thread error queue, read in the one way the client needs: the reason of the earliest error,
/// with the queue left empty for the next call.
enum TLSErrorQueue {
    static func takeReason() -> String? {
        let first = ERR_get_error()
        ERR_clear_error()
        guard first != 0 else { return nil }
        if let reason = ERR_reason_error_string(first) { return String(cString: reason) }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(first, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func clear() { ERR_clear_error() }
}
