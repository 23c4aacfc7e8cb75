import Foundation

/// Finds the browser page's folder of the installation, whatever the working directory (docs/PROTOCOL.md §1.1):
/// next to the executable, or in the source tree it was built in (`.build/<config>/parley` → `public/`).
enum PublicDirectory {
    static func locate(executable: String = CommandLine.arguments[0]) -> String? {
        let exe = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            exe.appendingPathComponent("public"),
            exe.appendingPathComponent("../share/parley/public"),
            exe.appendingPathComponent("../../public"),     // .build/debug/parley
            exe.appendingPathComponent("../../../public"),  // .build/<triple>/debug/parley
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("public"),
        ]
        for candidate in candidates {
            let path = candidate.standardizedFileURL.path
            if FileManager.default.fileExists(atPath: path + "/index.html") { return path }
        }
        return nil
    }
}
