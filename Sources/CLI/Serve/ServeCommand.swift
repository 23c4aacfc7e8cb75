import ArgumentParser
import ChatCore
import Foundation
import Gateway
import Logging

/// `parley serve <server_port> <block_duration> <timeout>` (docs/PROTOCOL.md §1.1).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the chat server: native TCP (JSON lines or plain text), WebSocket, REST and the browser page."
    )

    @Argument(help: "TCP port of the native listener (0: any free port).")
    var serverPort: Int

    @Argument(help: "Seconds an account stays locked after 3 wrong passwords.")
    var blockDuration: Int

    @Argument(help: "Seconds without a valid command before a user is logged out.")
    var timeout: Int

    @Option(help: "HTTP port for WebSocket, REST and the browser page (0: any free port).")
    var httpPort: Int = 8080

    @Flag(help: "Do not open the HTTP port.")
    var noHTTP = false

    @Option(help: "Where the database lives; created if missing.")
    var dataDir: String = "./parley-data"

    @Option(help: "Accounts to import at start (`username password` per line); a missing file is fine.")
    var credentials: String = "./credentials.txt"

    @Flag(help: "Also append new accounts to the credentials file in plaintext, as the original brief does.")
    var appendCredentials = false

    @Option(help: "Address to bind.")
    var host: String = "0.0.0.0"

    @Option(help: "Folder of the browser page (default: the installation's public/).")
    var publicDir: String?

    @Option(name: .customLong("allowed-origin"), help: "A browser origin allowed to open /ws besides the page's own (repeatable).")
    var allowedOrigins: [String] = []

    @Flag(help: "Serve a WebSocket echo endpoint at /ws/echo (conformance testing only).")
    var wsEcho = false

    @Option(name: .customLong("limit"), help: ArgumentHelp(
        "An abuse limit as NAME=BURST/PERIOD or NAME=off (repeatable); see docs/SECURITY.md.",
        discussion: "Names and defaults: \(AbuseLimitOptions.summary). Periods take ms, s, m or h."))
    var limits: [String] = []

    @Option(help: "Open connections per client address (IPv6: per /64), both ports together; 0: no cap.")
    var maxConnectionsPerIp: Int = 32

    @Option(help: "Longest line or WebSocket message before login, in bytes (after login: 64 KiB).")
    var preloginMaxBytes: Int = 4096

    @Flag(help: "Apply the per-address limits to loopback clients too (they are exempt by default).")
    var limitLoopback = false

    @Option(help: "PEM certificate (a chain is sent whole) for TLS on both ports; needs --tls-key. SIGHUP reloads it.")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Flag(help: "Refuse plaintext on both ports (TCP: an error line; HTTP: 426). Needs --tls-cert and --tls-key.")
    var requireTLS = false

    @Option(help: "Event-loop threads (default: one per core).")
    var loops: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @OptionGroup(title: "Rooms")
    var rooms: RoomLimitOptions

    @OptionGroup(title: "Cluster")
    var cluster: ClusterOptions

    func validate() throws {
        guard (0...65_535).contains(serverPort) else { throw ValidationError("server_port must be 0–65535") }
        guard (0...65_535).contains(httpPort) else { throw ValidationError("--http-port must be 0–65535") }
        guard blockDuration >= 0 else { throw ValidationError("block_duration must be a non-negative number of seconds") }
        guard timeout > 0 else { throw ValidationError("timeout must be a positive number of seconds") }
        if let loops, !(1...64).contains(loops) { throw ValidationError("--loops must be 1–64") }
        guard maxConnectionsPerIp >= 0 else { throw ValidationError("--max-connections-per-ip must be 0 or more") }
        guard (256...65_536).contains(preloginMaxBytes) else { throw ValidationError("--prelogin-max-bytes must be 256–65536") }
        _ = try AbuseLimitOptions(limits)
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard !requireTLS || tlsCert != nil else { throw ValidationError("--require-tls needs --tls-cert and --tls-key") }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "parley")
        let server = try ServerAssembly(options: self, logger: logger)
        let ports = try server.start()
        // The first stdout line is a contract (docs/PROTOCOL.md §1.1): scripts and tests read the ports from it.
        let banner = "parley listening tcp=\(ports.tcp) http=\(ports.http.map(String.init) ?? "off")\n"
        FileHandle.standardOutput.write(Data(banner.utf8))  // unbuffered: readers see it at once
        server.waitForTerminationSignal()
        logger.info("shutting down")
        server.stop()
    }
}
