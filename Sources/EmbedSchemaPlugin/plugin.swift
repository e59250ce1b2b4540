import Foundation
import PackagePlugin

/// Embeds every file under `schema/` and `fixtures/` (or, for the console, `console/`) into the
/// target as `EmbeddedFiles.files`.
@main
struct EmbedSchemaPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL
        var relativePaths: [String] = []
        let directories = target.name == "HubConsole" ? ["console"] : ["schema", "fixtures"]
        for directory in directories {
            let base = root.appending(path: directory)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey])
            else { continue }
            for case let url as URL in walker where ["sql", "json", "mustache", "css"].contains(url.pathExtension) {
                let relative = url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count)
                relativePaths.append(String(relative.drop(while: { $0 == "/" })))
            }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(directories.joined(separator: " and "))/ into \(target.name)",
                executable: try context.tool(named: "embed-files").url,
                arguments: [output.path, root.path] + relativePaths.sorted(),
                inputFiles: relativePaths.map { root.appending(path: $0) },
                outputFiles: [output]
            )
        ]
    }
}
