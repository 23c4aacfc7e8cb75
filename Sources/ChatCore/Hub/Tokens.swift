import COpenSSL
import ParleySupport

/// Bearer tokens: 256 random bits from OpenSSL's CSPRNG, handed out once; only their SHA-256 is stored,
/// so a leaked database does not leak usable tokens.
enum Tokens {
    static func generate() -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let ok = RAND_bytes(&bytes, Int32(bytes.count))
        precondition(ok == 1, "the OS random generator failed")
        return Base64.encode(bytes, alphabet: .url, padded: false)
    }

    static func digest(_ token: String) -> String {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array(token.utf8)
        _ = SHA256(input, input.count, &out)
        return out.map { byte in
            let hex = Array("0123456789abcdef".utf8)
            return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }
}
