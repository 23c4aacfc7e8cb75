import ChatCore
import Cluster
import Foundation
import Gateway
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The composition root of `parley serve`: the only place that knows both ChatCore and Gateway.
/// Builds the store, hasher, hub and gateway, wires them through `ChatBridge`, and tears them down in order.
final class ServerAssembly {
    let logger: Logger
    let store: any ChatStore
    /// Set on a cluster node: the link to the other nodes (started with the server, stopped after the hub).
    let link: RedisClusterLink?
    let hasher: Argon2Hasher
    let chat: ChatService
    let bridge: ChatBridge
    let gateway: GatewayServer
    private let signals: sigset_t
    /// SIGHUP reloads the TLS certificate and key; without TLS it keeps its default meaning.
    private let reloadsOnHangup: Bool

    init(options: ServeCommand, logger: Logger) throws {
        self.logger = logger
        // Signals are taken synchronously by `waitForTerminationSignal`; block them before any thread exists so
        // every thread inherits the mask, and ignore SIGPIPE (a peer that vanished is an EPIPE, not a crash).
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        reloadsOnHangup = options.tlsCert != nil
        if reloadsOnHangup { sigaddset(&set, SIGHUP) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        signals = set

        let choice = try StoreChoice(options: options.cluster, dataDir: options.dataDir, serverPort: options.serverPort,
                                     logger: logger)
        store = choice.store
        link = choice.link
        hasher = Argon2Hasher()
        var snapshot = try store.loadSnapshot()
        if FileManager.default.fileExists(atPath: options.credentials) {
            let result = try CredentialsImport.run(path: options.credentials, store: store, hasher: hasher,
                                                   snapshot: snapshot, now: SystemClock().now())
            logger.info("imported credentials", metadata: [
                "created": "\(result.created)", "updated": "\(result.updated)", "unchanged": "\(result.unchanged)"])
            if result.created + result.updated > 0 { snapshot = try store.loadSnapshot() }
        }

        var hub = HubConfiguration(blockDuration: Int64(options.blockDuration) * 1000,
                                   idleTimeout: Int64(options.timeout) * 1000)
        if options.appendCredentials { hub.appendCredentialsPath = options.credentials }
        let limits = try AbuseLimitOptions(options.limits)
        hub.limits = limits.hub
        hub.limits.limitLoopback = options.limitLoopback
        hub.rooms = options.rooms.limits
        bridge = ChatBridge()
        if let link {
            chat = ChatService(configuration: hub, snapshot: snapshot, store: store, hasher: hasher, output: bridge,
                               cluster: link, timing: choice.timing, logger: Logger(label: "parley.hub"))
        } else {
            chat = ChatService(configuration: hub, snapshot: snapshot, store: store, hasher: hasher, output: bridge,
                               logger: Logger(label: "parley.hub"))
        }

        var config = GatewayConfiguration()
        config.host = options.host
        config.tcpPort = options.serverPort
        if let loops = options.loops { config.loopCount = loops }
        // docs/SECURITY.md: per-address caps at accept, and a smaller line/message limit until login.
        config.maxConnectionsPerAddress = options.maxConnectionsPerIp > 0 ? options.maxConnectionsPerIp : nil
        config.connectionRatePerAddress = limits.connectionRate
        config.limitLoopback = options.limitLoopback
        config.initialMessageBytes = options.preloginMaxBytes
        if let cert = options.tlsCert, let key = options.tlsKey {
            config.tls = TLSFiles(certificateFile: cert, keyFile: key)
        }
        config.requireTLS = options.requireTLS
        var http: HTTPServerConfiguration?
        var router: RESTRouter?
        let echo = options.wsEcho ? WebSocketEchoApplication() : nil
        if !options.noHTTP {
            let publicDirectory = options.publicDir ?? PublicDirectory.locate()
            if publicDirectory == nil { logger.warning("no public/ folder found: the browser page is not served") }
            var settings = HTTPServerConfiguration(port: options.httpPort, publicDirectory: publicDirectory)
            settings.allowedOrigins = options.allowedOrigins
            if let echo { settings.webSocketRoutes["/ws/echo"] = echo.route }
            http = settings
            router = RESTRouter(chat: chat, openAPI: OpenAPIDocument.load(publicDirectory: publicDirectory),
                                doors: bridge.doors, openSockets: { [bridge] in bridge.openSockets },
                                gatewayLimits: { [bridge] in bridge.gatewayLimits },
                                outputStatistics: { [bridge] in bridge.outputStatistics },
                                unavailableParts: choice.unavailableParts)
        }
        gateway = GatewayServer(configuration: config, application: bridge, http: http, httpApplication: router,
                                logger: Logger(label: "parley.gateway"))
        bridge.attach(chat: chat, gateway: gateway)
        echo?.attach(gateway)
    }

    func start() throws -> (tcp: Int, http: Int?) {
        try link?.start(delivering: chat)
        let tcp = try gateway.start()
        // A cluster node says it is here at once and draws its first broadcast ids, before the first client.
        if link != nil { chat.sweep() }
        // Idle logouts and request expiry are decided by the hub; a quarter second is precise enough for
        // timeouts counted in seconds and costs nothing when idle.
        gateway.scheduleRepeating(every: .milliseconds(250)) { [chat] in chat.sweep() }
        // After a burst of logins, each hashing thread's working memory (19 MiB) goes back once logins are quiet.
        gateway.scheduleRepeating(every: .seconds(5)) { [hasher] in hasher.releaseIdleMemory() }
        return (tcp, gateway.httpPort)
    }

    /// Blocks the calling thread until SIGINT or SIGTERM; a SIGHUP meanwhile reloads the TLS certificate and key
    /// (new connections get them, open ones keep theirs; a bad file keeps the old ones and is logged).
    func waitForTerminationSignal() {
        var set = signals
        var received: Int32 = 0
        while sigwait(&set, &received) == 0, reloadsOnHangup, received == SIGHUP {
            do {
                try gateway.reloadTLS()
                logger.info("TLS certificate and key reloaded")
            } catch {
                logger.error("TLS reload failed; keeping the certificate in use", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Graceful stop. The hub first hands its coalesced inbox cursors to the store and answers the REST readers
    /// still waiting. The store drains next: every write already queued commits and its acknowledgement is
    /// queued to its connection; requests arriving meanwhile are refused, not half-done. Then the gateway
    /// flushes those acknowledgements and closes every connection. Nothing acknowledged is lost, and nothing
    /// stored goes unacknowledged to a client that is still connected.
    func stop() {
        chat.prepareToStop()
        link?.stop()  // after the hub's last notices (its users leaving) are on their way
        store.close()
        gateway.stop()
        hasher.shutdown()
    }
}
