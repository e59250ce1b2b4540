import CentreSync
import Foundation
import SyncTestSupport
import Testing

@Suite("Settings: flags, then WIRSYNC_* environment, then <replica>.conf, then defaults")
struct SettingsTests {
    private func files(conf: String?, token: String? = "wir1.kassel.geheim", mode: Int = 0o600) throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        if let conf { try conf.write(toFile: directory.path("r.db.conf"), atomically: true, encoding: .utf8) }
        if let token {
            try token.write(toFile: directory.path("r.db.token"), atomically: true, encoding: .utf8)
            chmod(directory.path("r.db.token"), mode_t(mode))
        }
        return directory
    }

    @Test func aFlagBeatsTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws {
        let directory = try files(conf: "hub = https://datei.example\ninterval = 120  # minutes? no: seconds\nbatch-size = 50\n")
        let path = directory.path("r.db")
        let fromFile = try CentreSettings.resolve(replicaPath: path, storedHubURL: "https://init.example", flags: [:], environment: [:])
        #expect(fromFile.hubURL == "https://datei.example")
        #expect(fromFile.interval == .seconds(120))
        #expect(fromFile.batchChanges == 50)
        #expect(fromFile.timeout == .seconds(300), "default")
        #expect(fromFile.token == "wir1.kassel.geheim")
        let fromEnvironment = try CentreSettings.resolve(
            replicaPath: path, storedHubURL: nil, flags: [:], environment: ["WIRSYNC_HUB": "https://env.example", "WIRSYNC_INTERVAL": "30"])
        #expect(fromEnvironment.hubURL == "https://env.example")
        #expect(fromEnvironment.interval == .seconds(30))
        #expect(fromEnvironment.sources["hub"] == "WIRSYNC_HUB")
        let fromFlag = try CentreSettings.resolve(
            replicaPath: path, storedHubURL: nil, flags: ["hub": "https://flag.example"], environment: ["WIRSYNC_HUB": "https://env.example"])
        #expect(fromFlag.hubURL == "https://flag.example")
        let plain = try files(conf: nil)
        let fromInit = try CentreSettings.resolve(replicaPath: plain.path("r.db"), storedHubURL: "https://init.example", flags: [:], environment: [:])
        #expect(fromInit.hubURL == "https://init.example")
        #expect(fromInit.interval == .seconds(300))
    }

    @Test func theTokenComesFromAFileOrTheEnvironment() throws {
        let directory = try files(conf: nil, token: nil)
        let path = directory.path("r.db")
        let inline = try CentreSettings.resolve(replicaPath: path, storedHubURL: "https://h.example", flags: [:], environment: ["WIRSYNC_TOKEN": "aus-der-umgebung"])
        #expect(inline.token == "aus-der-umgebung")
        #expect(throws: SyncError.self) {
            try CentreSettings.resolve(replicaPath: path, storedHubURL: "https://h.example", flags: [:], environment: [:])
        }
    }

    @Test func aTokenFileOthersCanReadIsRefused() throws {
        let directory = try files(conf: nil, mode: 0o644)
        #expect {
            try CentreSettings.resolve(replicaPath: directory.path("r.db"), storedHubURL: "https://h.example", flags: [:], environment: [:])
        } throws: { error in
            String(describing: error).contains("chmod 600")
        }
    }

    @Test(arguments: ["hub = ftp://x", "nonsense", "colour = blue", "interval = -5"])
    func badSettingsAreClearErrors(conf: String) throws {
        let directory = try files(conf: conf)
        #expect(throws: SyncError.self) {
            try CentreSettings.resolve(replicaPath: directory.path("r.db"), storedHubURL: "https://h.example", flags: [:], environment: [:])
        }
    }

    @Test func withoutAHubURLTheErrorSaysWhereToPutIt() throws {
        let directory = try files(conf: nil)
        #expect {
            try CentreSettings.resolve(replicaPath: directory.path("r.db"), storedHubURL: nil, flags: [:], environment: [:])
        } throws: { error in
            String(describing: error).contains("--hub")
        }
    }
}
