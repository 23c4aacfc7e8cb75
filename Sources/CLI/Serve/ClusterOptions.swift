import ArgumentParser
import ChatCore
import Cluster
import Foundation
import Logging
import PostgresStore

/// `--postgres`, `--redis`, `--node` and `--commit-spacing`: where a node keeps its data, how it commits, and which cluster it joins
/// (docs/PROTOCOL.md §11.5, docs/SCALING.md).
struct ClusterOptions: ParsableArguments {
    @Option(help: "Keep the data in this PostgreSQL database (postgresql://USER@HOST:PORT/DB) instead of SQLite in --data-dir.")
    var postgres: String?

    @Option(help: "Join the cluster of every node given the same --postgres and this Redis (redis://[[USER]:PASSWORD@]HOST:PORT[/DB], or the password in REDISCLI_AUTH); needs --postgres.")
    var redis: String?

    @Option(help: "This node's name in the cluster, unique among its nodes (default: HOSTNAME:SERVER_PORT).")
    var node: String?

    @Option(help: ArgumentHelp(
        "SQLite: the least time between the starts of two commits, in ms (0: commit as soon as the last one returned).",
        discussion: "Messages arriving meanwhile share the next commit and its fsync; a message after a quiet moment waits for nothing."))
    var commitSpacing: Double = SQLiteStore.defaultCommitSpacing / .milliseconds(1)

    func validate() throws {
        guard redis == nil || postgres != nil else {
            throw ValidationError("--redis needs --postgres: the nodes of a cluster share one PostgreSQL database")
        }
        guard commitSpacing >= 0, commitSpacing <= 1000 else {
            throw ValidationError("--commit-spacing must be 0–1000 ms")
        }
        guard node == nil || redis != nil else { throw ValidationError("--node names a cluster node; it needs --redis") }
        if let node, node.isEmpty || node.utf8.count > 64 || node.contains(where: { $0.isWhitespace || $0 == "\n" }) {
            throw ValidationError("--node must be 1–64 characters without spaces")
        }
    }

    /// The node's name: as given, or this host and the TCP port (the process id when the port is chosen by the
    /// system, so two such nodes on one machine still differ).
    func nodeName(serverPort: Int) -> String {
        if let node { return node }
        let host = ProcessInfo.processInfo.hostName
        return serverPort == 0 ? "\(host):pid\(ProcessInfo.processInfo.processIdentifier)" : "\(host):\(serverPort)"
    }
}

/// The store and, for a cluster node, the link to the other nodes, as the options ask.
struct StoreChoice {
    let store: any ChatStore
    let postgres: PostgresStore?
    let link: RedisClusterLink?
    let timing = ClusterTiming()

    init(options: ClusterOptions, dataDir: String, serverPort: Int, logger: Logger) throws {
        if let url = options.postgres {
            let postgres = try PostgresStore(url: url, logger: logger)
            self.postgres = postgres
            store = postgres
        } else {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            store = try SQLiteStore(directory: URL(fileURLWithPath: dataDir), logger: logger,
                                    commitSpacing: .microseconds(Int64(options.commitSpacing * 1000)))
            postgres = nil
        }
        guard let redis = options.redis, let postgres else {
            link = nil
            return
        }
        // A password may come from the environment instead of the URL, under the name redis-cli reads it from: the
        // command line is readable by every local user.
        link = try RedisClusterLink(url: redis, password: ProcessInfo.processInfo.environment["REDISCLI_AUTH"],
                                    node: options.nodeName(serverPort: serverPort),
                                    nodeTimeout: timing.nodeTimeout, logger: Logger(label: "parley.cluster")) {
            count, done in
            postgres.reserveMessageIDs(count: count) { result in done((try? result.get()) ?? []) }
        }
    }

    /// The parts this node needs that do not answer now, for /healthz.
    var unavailableParts: @Sendable () -> [(part: String, reason: String)] {
        let (postgres, link) = (postgres, link)
        return {
            var down: [(String, String)] = []
            if let postgres, !postgres.isAvailable { down.append(("postgres", "not reachable; retrying")) }
            if let link, !link.isUp { down.append(("redis", link.lastError ?? "not connected; retrying")) }
            return down
        }
    }
}
