import COpenSSL
import Foundation
import Glibc
import Gateway

/// A blocking TLS client for live tests, on OpenSSL's own socket BIO (so it shares no code with the server's
/// memory-BIO layer). Reads time out with the underlying `GatewayTestClient`'s receive timeout.
final class TLSTestClient: @unchecked Sendable {
    struct HandshakeFailed: Error, CustomStringConvertible { let description: String }

    let tcp: GatewayTestClient
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private var buffer: [UInt8] = []

    /// Connects and handshakes. `caFile` verifies the server's certificate against it; nil accepts any.
    init(port: Int, caFile: String? = nil, receiveBuffer: Int32? = nil, maxVersion: Int32 = 0) throws {
        tcp = try GatewayTestClient(port: port, receiveBuffer: receiveBuffer)
        context = SSL_CTX_new(TLS_client_method())
        if let caFile {
            SSL_CTX_load_verify_locations(context, caFile, nil)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        if maxVersion != 0 { SSL_CTX_ctrl(context, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(maxVersion), nil) }
        ssl = SSL_new(context)
        SSL_set_fd(ssl, tcp.fd)
        guard SSL_connect(ssl) == 1 else {
            // Every stored property is set, so deinit frees the session and context.
            throw HandshakeFailed(description: Self.errors())
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    static func errors() -> String {
        var lines: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            lines.append(Self.string(text))
        }
        return lines.joined(separator: "; ")
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard written > 0 else { return }
            offset += Int(written)
        }
    }

    /// The next line without its "\n" (and "\r"); nil at the end of the stream.
    func readLine() throws -> String? {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<end])
                buffer.removeFirst(end + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { return nil }
        }
    }

    /// Exactly `count` bytes, or fewer if the stream ends first.
    func read(count: Int) throws -> [UInt8] {
        while buffer.count < count { guard try fill() else { break } }
        let taken = Array(buffer.prefix(count))
        buffer.removeFirst(taken.count)
        return taken
    }

    /// True once the server has closed (close_notify or FIN) with nothing more to read.
    func waitForClose() throws -> Bool {
        while try fill() { buffer.removeAll() }
        return true
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let count = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
        if count > 0 {
            buffer.append(contentsOf: chunk[..<Int(count)])
            return true
        }
        let error = SSL_get_error(ssl, count)
        if error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0) { return false }
        if error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK) { throw GatewayTestClient.Timeout() }
        _ = Self.errors()
        return false
    }

    /// The common name of the certificate the server presented.
    var peerCommonName: String {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return "" }
        defer { X509_free(certificate) }
        var name = [CChar](repeating: 0, count: 256)
        X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, &name, Int32(name.count))
        return Self.string(name)
    }

    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The negotiated protocol, "TLSv1.3" say.
    var version: String { String(cString: SSL_get_version(ssl)) }
}

/// A self-signed certificate and key made with the `openssl` command in a temporary folder.
struct TestCertificate {
    let directory: URL
    var certificateFile: String { directory.appendingPathComponent("cert.pem").path }
    var keyFile: String { directory.appendingPathComponent("key.pem").path }
    var files: TLSFiles { TLSFiles(certificateFile: certificateFile, keyFile: keyFile) }

    init(commonName: String = "parley-test") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parley-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write(commonName: commonName)
    }

    /// (Re)writes cert.pem and key.pem with a fresh P-256 key and `commonName`.
    func write(commonName: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                             "-keyout", keyFile, "-out", certificateFile, "-days", "2", "-subj", "/CN=\(commonName)",
                             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TLSTestClient.HandshakeFailed(description: "openssl req failed") }
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
