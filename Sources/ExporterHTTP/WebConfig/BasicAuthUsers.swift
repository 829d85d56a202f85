import Glibc

/// `basic_auth_users` ready for checking: names as bytes, and a decoy hash for unknown names.
///
/// An unknown user must cost what a wrong password costs, or response times would tell which
/// names exist. exporter-toolkit checks the password against a fixed cost-10 hash for that; here
/// the decoy is made at load with the cost most configured hashes have, so the two costs also
/// match when users' hashes are not cost 10.
struct BasicAuthUsers: Sendable {
    private let hashes: [[UInt8]: BcryptHash]
    /// Checked for unknown users; its password is random and never kept.
    let decoy: BcryptHash?

    /// No users: basic auth is off.
    static let none = BasicAuthUsers(hashes: [:], decoy: nil)

    /// Whether requests must carry credentials.
    var isEnabled: Bool { !hashes.isEmpty }

    /// Builds the table. Computes one bcrypt hash (the decoy), unless `previous` has one of the
    /// cost needed (a reload that changes users but not their usual cost): call it off the event
    /// loop.
    init(_ users: [String: BcryptHash], reusingDecoyOf previous: BasicAuthUsers? = nil) {
        var costs: [Int: Int] = [:]
        for hash in users.values { costs[hash.cost, default: 0] += 1 }
        let cost = costs.max { ($0.value, $0.key) < ($1.value, $1.key) }?.key
        let hashes = Dictionary(uniqueKeysWithValues: users.map { (Array($0.key.utf8), $0.value) })
        if let cost, let decoy = previous?.decoy, decoy.cost == cost {
            self.init(hashes: hashes, decoy: decoy)
            return
        }
        var random = [UInt8](repeating: 0, count: 32)
        _ = getentropy(&random, random.count)
        let decoyPassword = random.map { UInt8(ascii: "a") + $0 % 26 }
        self.init(hashes: hashes, decoy: cost.flatMap { BcryptHash.make(password: decoyPassword, cost: $0) })
    }

    private init(hashes: [[UInt8]: BcryptHash], decoy: BcryptHash?) {
        self.hashes = hashes
        self.decoy = decoy
    }

    /// The hash to check `user`'s password against, and whether the user exists. Unknown users
    /// get the decoy, so that the caller runs bcrypt either way.
    func hash(for user: [UInt8]) -> (hash: BcryptHash, known: Bool)? {
        if let hash = hashes[user] { return (hash, true) }
        return decoy.map { ($0, false) }
    }
}
