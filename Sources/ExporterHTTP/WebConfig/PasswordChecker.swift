import COpenSSL
import MultiprocSupport

/// Checks Basic credentials against ``BasicAuthUsers`` without ever running bcrypt on the event
/// loop, and without running it again for credentials that already passed.
///
/// - Successful checks are cached, keyed by SHA-256 of (user, password, configured hash), as
///   exporter-toolkit keys its cache by user, hash and password: a password or hash change makes
///   a new key, and no plaintext password is kept. At most ``capacity`` entries, oldest evicted.
///   Failures are not cached: a wrong password always costs one bcrypt, on a worker.
/// - Requests with the same credentials while a check runs wait for that check (Prometheus opening
///   several connections at once pays one bcrypt).
/// - At most ``maxChecksInFlight`` distinct checks run or wait at once; a request beyond that is
///   answered 503 at once rather than queueing bcrypt work in front of scrapes.
final class PasswordChecker: Sendable {
    typealias Completion = @Sendable (Bool) -> Void

    enum Decision: Equatable {
        /// Cached success: go on at once.
        case allowed
        /// No credentials, or no users table: refuse at once.
        case denied
        /// The completion will be called from a worker with the result.
        case checking
        /// Too many checks in flight.
        case busy
    }

    private struct State {
        var passed: Set<[UInt8]> = []
        var order: [[UInt8]] = []
        var waiting: [[UInt8]: [Completion]] = [:]
    }

    static let capacity = 100
    static let maxChecksInFlight = 4

    private let state = Locked(State())
    private let pool: WorkerPool

    init(pool: WorkerPool) { self.pool = pool }

    /// Decides for `credentials` against `users`; see ``Decision``.
    func check(_ credentials: BasicAuthCredentials?, users: BasicAuthUsers, completion: @escaping Completion) -> Decision {
        guard let credentials, let (hash, known) = users.hash(for: credentials.user) else { return .denied }
        let key = Self.cacheKey(credentials, hash: hash)
        enum Next { case allowed, join, start, busy }
        let next: Next = state.withLock { state in
            if state.passed.contains(key) { return .allowed }
            if state.waiting[key] != nil {
                state.waiting[key]!.append(completion)
                return .join
            }
            guard state.waiting.count < Self.maxChecksInFlight else { return .busy }
            state.waiting[key] = [completion]
            return .start
        }
        switch next {
        case .allowed: return .allowed
        case .join: return .checking
        case .busy: return .busy
        case .start:
            let password = credentials.password
            pool.submit {
                let ok = hash.matches(password: password) && known
                let waiters = self.state.withLock { state in
                    if ok && state.passed.insert(key).inserted {
                        state.order.append(key)
                        if state.order.count > Self.capacity { state.passed.remove(state.order.removeFirst()) }
                    }
                    return state.waiting.removeValue(forKey: key) ?? []
                }
                for waiter in waiters { waiter(ok) }
            }
            return .checking
        }
    }

    /// SHA-256 over the length-prefixed user, hash and password.
    static func cacheKey(_ credentials: BasicAuthCredentials, hash: BcryptHash) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(12 + credentials.user.count + hash.bytes.count + credentials.password.count)
        for part in [credentials.user, hash.bytes, credentials.password] {
            withUnsafeBytes(of: UInt32(part.count).bigEndian) { message.append(contentsOf: $0) }
            message.append(contentsOf: part)
        }
        defer { for i in message.indices { message[i] = 0 } }
        return FetchedDigest.sha256.digest(message)
    }
}

/// An `EVP_MD` fetched from OpenSSL's default provider (never freed: one per process).
final class FetchedDigest: @unchecked Sendable {
    // Invariant: set once in init; OpenSSL allows a fetched EVP_MD to be used from any thread.
    let digest: OpaquePointer

    /// OpenSSL's SHA-256, fetched once and kept for the life of the process: it runs for every
    /// request with credentials, so it is not fetched per call.
    static let sha256 = FetchedDigest(name: "SHA256")

    init(name: String) {
        guard let digest = EVP_MD_fetch(nil, name, nil) else { fatalError("OpenSSL has no \(name)") }
        self.digest = digest
    }

    /// The digest of `message` (32 bytes for SHA-256).
    func digest(_ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_Digest(message, message.count, &digest, &length, self.digest, nil) == 1, "digest failed")
        return Array(digest.prefix(Int(length)))
    }
}
