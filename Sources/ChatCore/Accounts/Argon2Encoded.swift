import ParleySupport

/// An argon2id hash in the standard encoded form, `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`,
/// salt and hash in unpadded standard base64 — byte for byte what libargon2's `argon2id_hash_encoded` writes.
///
/// The hasher writes and reads this form itself because it calls libargon2's context API, which takes the memory
/// callbacks (`Argon2Memory`) that the encoded-string functions do not. Parsing accepts only the canonical
/// spelling: `init?(parsing:)` succeeds exactly when `text` would be written back unchanged, and the hasher leaves
/// anything else (an older version's strings, say) to libargon2's own decoder, so no stored hash is read
/// differently than before.
struct Argon2Encoded: Equatable {
    /// The algorithm version; 19 (0x13) is the current one.
    var version: UInt32
    var memoryKiB: UInt32
    var iterations: UInt32
    var parallelism: UInt32
    var salt: [UInt8]
    var hash: [UInt8]

    static let prefix = "$argon2id$"

    /// The encoded string.
    var text: String {
        Self.header(version: version, memoryKiB: memoryKiB, iterations: iterations, parallelism: parallelism)
            + Base64.encode(salt, padded: false) + "$" + Base64.encode(hash, padded: false)
    }

    /// Everything before the salt: `$argon2id$v=<version>$m=<KiB>,t=<passes>,p=<lanes>$`.
    static func header(version: UInt32, memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) -> String {
        "\(prefix)v=\(version)$m=\(memoryKiB),t=\(iterations),p=\(parallelism)$"
    }

    init(version: UInt32, memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32, salt: [UInt8], hash: [UInt8]) {
        self.version = version
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
        self.salt = salt
        self.hash = hash
    }

    /// The parts of a canonical argon2id string; nil for anything else.
    init?(parsing text: String) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let fields = text.utf8.dropFirst(Self.prefix.utf8.count).split(separator: UInt8(ascii: "$"),
                                                                        omittingEmptySubsequences: false)
        guard fields.count == 4,
              let version = Self.number(fields[0], named: "v"),
              case let costs = fields[1].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false),
              costs.count == 3,
              let memoryKiB = Self.number(costs[0], named: "m"),
              let iterations = Self.number(costs[1], named: "t"),
              let parallelism = Self.number(costs[2], named: "p"),
              let salt = Base64.decode(fields[2]), let hash = Base64.decode(fields[3]) else { return nil }
        self.init(version: version, memoryKiB: memoryKiB, iterations: iterations, parallelism: parallelism,
                  salt: salt, hash: hash)
        // Leading zeros, padding, stray low bits in the last base64 character: all decode, none is canonical.
        guard self.text == text else { return nil }
    }

    /// The value of `name=<decimal>`, if that is what `field` holds and it fits 32 bits.
    private static func number(_ field: some Collection<UInt8>, named name: Character) -> UInt32? {
        let bytes = Array(field)
        guard bytes.count >= 3, bytes[0] == name.asciiValue, bytes[1] == UInt8(ascii: "=") else { return nil }
        return UInt32(String(decoding: bytes[2...], as: UTF8.self))
    }
}
