// swift-tools-version: 6.0
import PackageDescription

// Dependency direction: CLI → Gateway, CLI → ChatCore, CLI → PostgresStore → ChatCore, CLibPQ;
// CLI → Cluster → ChatCore, RedisClient; RedisClient → ParleySupport, CHiredis, CLinuxShims (it knows neither chat
// nor the gateway); Gateway → ParleySupport, CLLHTTP, COpenSSL, CLinuxShims;
// ChatCore → ParleySupport, GRDB, CArgon2, COpenSSL; ParleySupport → CLinuxShims. ChatCore and Gateway never
// import each other: what both need (threads, pthread locks, client-address rules) lives in ParleySupport,
// which imports neither.
// Release builds of Parley's own targets skip the runtime exclusivity checks (debug builds and tests keep them):
// measured with bench/profile.sh they cost about 9,600 instructions (8 %) per direct message, spread over every
// class property the loops and the hub touch. Dependencies keep theirs. (-cross-module-optimization was tried as
// well: under 2 %, within the run-to-run spread, so it is not used.)
let fastRelease: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "Parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["CLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(name: "CLLHTTP", pkgConfig: "llhttp",
                       providers: [.apt(["node-llhttp (built by scripts/bootstrap)"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // The cluster's clients: PostgreSQL (the durable store) and Redis (presence and the bus between nodes).
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(
            name: "ChatCore",
            dependencies: [
                "ParleySupport", "CArgon2", "COpenSSL",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fastRelease
        ),
        // The store on PostgreSQL, for nodes of a cluster sharing one database (and `parley migrate`'s target).
        .target(
            name: "PostgresStore",
            dependencies: ["ChatCore", "CLibPQ", "ParleySupport", .product(name: "Logging", package: "swift-log")]
        ),
        // epoll, eventfd, accept4, pthread_setname_np: Linux calls the Glibc module does not export.
        .target(name: "CLinuxShims"),
        // Joinable threads, pthread locks ThreadSanitizer can see, and the per-address rules shared by both sides.
        .target(name: "ParleySupport", dependencies: ["CLinuxShims"], swiftSettings: fastRelease),
        .target(
            name: "Gateway",
            dependencies: [
                "ParleySupport", "CLLHTTP", "COpenSSL", "CLinuxShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fastRelease
        ),
        // The cluster's Redis client (presence, heartbeats, pub/sub between nodes): hiredis's async API driven by a
        // thread and epoll loop of its own. Knows neither chat nor the gateway, so the cluster layer can sit on it.
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis", "ParleySupport", "CLinuxShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The cluster link over Redis: what a node's hub sends the other nodes, and what it hears from them.
        .target(
            name: "Cluster",
            dependencies: ["ChatCore", "RedisClient", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "ChatCore", "Gateway", "PostgresStore", "Cluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fastRelease
        ),
        // libFuzzer targets (Fuzz/README.md): FuzzSupport runs libFuzzer's driver when built with -DFUZZING
        // (scripts/fuzz) and prints how to build them otherwise.
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "FuzzWebSocketFrame", dependencies: ["Gateway", "FuzzSupport"],
                          path: "Fuzz/FuzzWebSocketFrame"),
        .executableTarget(name: "FuzzHTTPRequest", dependencies: ["Gateway", "FuzzSupport"], path: "Fuzz/FuzzHTTPRequest"),
        .executableTarget(name: "FuzzUTF8", dependencies: ["Gateway", "FuzzSupport"], path: "Fuzz/FuzzUTF8"),
        .executableTarget(name: "FuzzLineFramer", dependencies: ["Gateway", "FuzzSupport"], path: "Fuzz/FuzzLineFramer"),
        .executableTarget(name: "FuzzAuthorization", dependencies: ["Gateway", "ParleySupport", "FuzzSupport"],
                          path: "Fuzz/FuzzAuthorization"),
        .executableTarget(name: "FuzzJSONRequest", dependencies: ["ChatCore", "FuzzSupport"], path: "Fuzz/FuzzJSONRequest"),
        .executableTarget(name: "FuzzIndexChunk", dependencies: ["ChatCore", "FuzzSupport"], path: "Fuzz/FuzzIndexChunk"),
        .executableTarget(name: "FuzzTextCommand", dependencies: ["ChatCore", "ChatCoreTestSupport", "FuzzSupport"],
                          path: "Fuzz/FuzzTextCommand"),
        // Test doubles (in-memory store, manual clock, queued hasher, recording output) shared by the hub, store
        // and REST tests and the text-mode fuzzer.
        .target(name: "ChatCoreTestSupport", dependencies: ["ChatCore"], path: "Tests/ChatCoreTestSupport"),
        .testTarget(name: "ParleySupportTests", dependencies: ["ParleySupport"]),
        .testTarget(name: "ChatCoreTests", dependencies: ["ChatCore", "ChatCoreTestSupport", "ParleySupport"]),
        // The PostgreSQL store against a real server (PARLEY_TEST_POSTGRES; skipped without it).
        .testTarget(name: "PostgresStoreTests", dependencies: ["PostgresStore", "ChatCore", "ChatCoreTestSupport"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "COpenSSL"]),
        // The REST router and /metrics over a real hub (no sockets): requests in, HTTP responses out.
        .testTarget(name: "RESTTests", dependencies: ["CLI", "ChatCore", "Gateway", "ChatCoreTestSupport"]),
        // `parley connect`'s pieces: the line editor, the console, its client sockets and the P2P links.
        .testTarget(name: "TerminalClientTests", dependencies: ["CLI", "ChatCore", "Gateway"]),
        // The Redis client against a throwaway redis-server (scripts/test starts one; skipped without it).
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient", "ParleySupport"]),
        // The cluster link against a real Redis (scripts/test starts a throwaway one).
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "ChatCore", "RedisClient"]),
        // The whole server as `parley serve` assembles it, on real threads and sockets.
        .testTarget(name: "WholeServerTests", dependencies: ["CLI", "ChatCore", "Gateway"]),
    ]
)
