// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "wir-sync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wirsync", targets: ["wirsync"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
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
            dependencies: ["SyncCore", "CSQLiteShim", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The centre's replica: capture triggers, change log, fold, remote apply, status.
        .target(
            name: "ReplicaStore",
            dependencies: ["SyncCore", "SyncStore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // Seeded generator of plausible WIR sample data at any size.
        .target(name: "SampleData", dependencies: ["SyncCore"]),

        .executableTarget(
            name: "wirsync",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", "SampleData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "wirsync-bench",
            dependencies: [
                "SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", "SampleData",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .target(
            name: "SyncTestSupport",
            dependencies: ["SyncCore", "SyncStore", "WIRSchema", "ReplicaStore", .product(name: "GRDB", package: "GRDB.swift")],
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
            name: "WirsyncCLITests",
            dependencies: ["SyncCore", "SyncTestSupport", "wirsync", .product(name: "GRDB", package: "GRDB.swift")]
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
