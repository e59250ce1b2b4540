// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "wir-sync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wirsync", targets: ["wirsync"]),
        .executable(name: "wirsync-hub", targets: ["wirsync-hub"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio", exact: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", exact: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", exact: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", exact: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
    ],
    targets: [
        // Pure model: HLC, values, changes, the merge rule, the schema manifest. No dependencies.
        .target(name: "SyncCore"),

        // The WIR schema and fixtures, embedded from schema/ and fixtures/ at build time.
        .target(name: "WIRSchema", dependencies: ["SyncCore"], plugins: ["EmbedSchemaPlugin"]),
        .executableTarget(name: "embed-files", path: "Sources/EmbedFiles"),
        .plugin(
            name: "EmbedSchemaPlugin",
            capability: .buildTool(),
            dependencies: ["embed-files"],
            path: "Sources/EmbedSchemaPlugin"
        ),

        // sqlite3_db_config is variadic; this shim gives Swift typed wrappers.
        .systemLibrary(name: "CSQLiteShim", path: "Sources/CSQLiteShim"),

        // SQLite shared by replica and hub: schema install, version tables, the LWW applier.
        .target(
            name: "SyncStore",
            dependencies: [
                "SyncCore", "CSQLiteShim", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The centre's replica: capture triggers, change log, fold, remote apply, status.
        .target(
            name: "ReplicaStore",
            dependencies: [
                "SyncCore", "SyncStore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The hub's store: merge of every centre's changes, hub log, conflicts, clients and tokens.
        .target(
            name: "HubStore",
            dependencies: [
                "SyncCore", "SyncStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The hub's store on PostgreSQL (docs/postgres.md): where it is, its credentials, values
        // kept exactly, the digest, and the log sequencer several hub processes share.
        .target(
            name: "HubPostgres",
            dependencies: [
                "SyncCore", "SyncStore", "HubStore", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The hub's HTTP API (protocol v1) on Hummingbird: auth, limits, gzip, errors, metrics.
        .target(
            name: "HubServer",
            dependencies: [
                "SyncCore", "HubStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The HMSI console (docs/console.md): server-rendered pages on their own listener,
        // templates and styles embedded from console/.
        .target(
            name: "HubConsole",
            dependencies: [
                "SyncCore", "HubStore", "HubServer", "WIRSchema",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            plugins: ["EmbedSchemaPlugin"]
        ),
        // libcurl, with typed wrappers for its variadic setopt/getinfo.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // The hub over HTTP with libcurl, behind the HubTransport protocol.
        .target(
            name: "CurlTransport",
            dependencies: [
                "SyncCore", "CCurl", .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The centre's sync: session (push, pull, batches), file lock, daemon loop, settings.
        .target(
            name: "CentreSync",
            dependencies: ["SyncCore", "SyncStore", "ReplicaStore", .product(name: "Logging", package: "swift-log")]
        ),
        // Seeded generator of plausible WIR sample data at any size.
        .target(name: "SampleData", dependencies: ["SyncCore"]),

        // What both command lines print the same way.
        .target(
            name: "CLISupport",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "wirsync",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", "SampleData", "CentreSync", "CurlTransport", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "wirsync-hub",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "HubStore", "HubPostgres", "HubServer", "HubConsole", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The daemon's memory floor for the bench: its libraries loaded, none of its code.
        .executableTarget(name: "wirsync-bench-floor", dependencies: ["CCurl", "CSQLiteShim"]),
        .executableTarget(
            name: "wirsync-bench",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", "SampleData", "CentreSync", "CurlTransport", "SyncTestSupport", "HubPostgres", "HubStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .target(
            name: "SyncTestSupport",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", "HubStore", "HubPostgres", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/SyncTestSupport"
        ),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "WIRSchema", "SampleData", "SyncTestSupport"]),
        .testTarget(
            name: "ReplicaStoreTests",
            dependencies: [
                "SyncCore", "WIRSchema", "ReplicaStore", "SyncStore", "SampleData", "SyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "HubTests",
            dependencies: [
                "SyncCore", "SyncStore", "ReplicaStore", "HubStore", "HubServer", "HubConsole", "WIRSchema", "SampleData", "SyncTestSupport",
                "CurlTransport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: [
                "SyncCore", "SyncStore", "HubStore", "HubPostgres", "WIRSchema", "SyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CentreSyncTests",
            dependencies: [
                "SyncCore", "ReplicaStore", "HubStore", "CentreSync", "WIRSchema", "SampleData", "SyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WirsyncCLITests",
            dependencies: [
                "SyncCore", "HubStore", "WIRSchema", "SampleData", "SyncTestSupport", "wirsync", "wirsync-hub",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)

// Strict settings for every target of ours, in one place.
for target in package.targets where [.executable, .test, .regular].contains(target.type) {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    settings.append(.treatAllWarnings(as: .error))
    target.swiftSettings = settings
}
