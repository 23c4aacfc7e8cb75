import Foundation

/// Serves the browser page from one folder: `/` is `index.html`, content types by extension, a strong
/// ETag with `If-None-Match` → 304, HEAD, and no way out of the folder (no `..`, no encoded tricks, and a
/// symlink that resolves outside the folder is a 404 like a missing file).
///
/// Files are read on the loop thread: the page is a handful of small files, cached by the browser (ETag).
struct StaticFiles: Sendable {
    let root: String
    let csp: String

    /// nil if the folder does not exist.
    init?(root: String, csp: String) {
        let resolved = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            return nil
        }
        self.root = resolved
        self.csp = csp
    }

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8", "json": "application/json", "svg": "image/svg+xml", "png": "image/png",
        "ico": "image/x-icon", "txt": "text/plain; charset=utf-8", "yaml": "application/yaml", "webmanifest": "application/manifest+json",
        "woff2": "font/woff2",
    ]

    /// The response for `request`, or nil if no file matches (the caller answers 404).
    func response(for request: HTTPRequest) -> HTTPResponse? {
        guard request.method == .get || request.method == .head else { return nil }
        guard let relative = Self.safeRelativePath(String(request.path)) else { return nil }
        let candidate = URL(fileURLWithPath: root).appendingPathComponent(relative.isEmpty ? "index.html" : relative)
        // Resolve symlinks, then insist the real file is still inside the folder.
        let real = candidate.resolvingSymlinksInPath().standardizedFileURL.path
        guard real.hasPrefix(root + "/") else { return nil }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: real),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let size = attributes[.size] as? Int,
              let modified = attributes[.modificationDate] as? Date else { return nil }
        let etag = "\"\(String(size, radix: 16))-\(String(Int64(modified.timeIntervalSince1970 * 1000), radix: 16))\""
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: Self.contentTypes[(real as NSString).pathExtension.lowercased()] ?? "application/octet-stream")
        headers.add(name: "ETag", value: etag)
        headers.add(name: "Cache-Control", value: "no-cache")
        headers.add(name: "Content-Security-Policy", value: csp)
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Referrer-Policy", value: "no-referrer")
        if let match = request.headers["If-None-Match"], match.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*"
        }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        guard let data = FileManager.default.contents(atPath: real) else { return nil }
        return HTTPResponse(status: 200, headers: headers, body: Array(data))
    }

    /// Percent-decodes the path and refuses anything that could leave the folder or confuse the file
    /// system: `..` segments, NUL, backslashes, and invalid encodings. Returns the path without the leading `/`.
    static func safeRelativePath(_ path: String) -> String? {
        guard path.hasPrefix("/"), let decoded = path.removingPercentEncoding else { return nil }
        guard !decoded.contains("\0"), !decoded.contains("\\") else { return nil }
        var segments: [Substring] = []
        for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." || segment.hasPrefix(".") { return nil }  // no parent, no dotfiles
            segments.append(segment)
        }
        let joined = segments.joined(separator: "/")
        return decoded.hasSuffix("/") && !joined.isEmpty ? joined + "/index.html" : joined
    }
}
