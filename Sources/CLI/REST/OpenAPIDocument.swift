import Foundation
import Gateway

/// `GET /openapi.yaml`: the OpenAPI 3.1 description of the REST API, `docs/openapi.yaml` in the source tree.
///
/// The file is read once at start, not embedded, so the document served is the one reviewed in the repository
/// and there is no second copy to drift. It is looked for next to the browser page (`<public>/../docs`) and
/// then beside the executable and its parents (a build folder inside the checkout, or an installation laid out
/// as `bin/parley` + `docs/`), so a binary started from any working directory finds it. If none is found the
/// server still runs, and the endpoint answers 404 naming the places it looked.
struct OpenAPIDocument: Sendable {
    /// Where the document is kept relative to an installation or checkout root.
    static let relativePath = "docs/openapi.yaml"
    /// RFC 9512 registers `application/yaml`.
    static let contentType = "application/yaml"

    let body: [UInt8]?
    /// The file that was served, or every candidate tried when none was found.
    let searched: [String]

    init(body: [UInt8]?, searched: [String]) {
        self.body = body
        self.searched = searched
    }

    /// Reads the first candidate that exists (see the type's summary for the order).
    static func load(publicDirectory: String?, executablePath: String? = currentExecutablePath()) -> OpenAPIDocument {
        let candidates = candidatePaths(publicDirectory: publicDirectory, executablePath: executablePath)
        for path in candidates {
            if let data = FileManager.default.contents(atPath: path) {
                return OpenAPIDocument(body: Array(data), searched: [path])
            }
        }
        return OpenAPIDocument(body: nil, searched: candidates)
    }

    static func candidatePaths(publicDirectory: String?, executablePath: String?) -> [String] {
        var roots: [URL] = []
        if let publicDirectory {
            roots.append(URL(fileURLWithPath: publicDirectory).deletingLastPathComponent())
        }
        if let executablePath {
            // .build/<triple>/debug/parley is four levels below the checkout; bin/parley one below an install.
            var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<5 {
                roots.append(directory)
                directory = directory.deletingLastPathComponent()
            }
        }
        var seen = Set<String>()
        return roots.map { $0.appendingPathComponent(relativePath).standardizedFileURL.path }
            .filter { seen.insert($0).inserted }
    }

    /// The running binary, through /proc on Linux (argv[0] may be relative or a bare name from PATH).
    static func currentExecutablePath() -> String? {
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return link }
        return CommandLine.arguments.first
    }

    var response: HTTPResponse {
        guard let body else {
            return HTTPResponse.jsonError(
                status: 404, code: "not_found",
                message: "the OpenAPI document was not found; looked for \(searched.joined(separator: ", "))")
        }
        return HTTPResponse(status: 200, headers: ["Content-Type": Self.contentType], body: body)
    }
}
