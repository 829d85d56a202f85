import COpenSSL
import Glibc

/// Certificates and keys read from PEM bytes with OpenSSL. Each returned pointer is owned by the
/// caller (`X509_free` / `EVP_PKEY_free`).
enum PEMBundle {
    /// Every certificate in `pem`, in order (a leaf and its chain, or a CA bundle).
    static func certificates(_ pem: [UInt8]) -> [OpaquePointer] {
        guard let bio = memoryBIO(pem) else { return [] }
        defer { BIO_free(bio) }
        var result: [OpaquePointer] = []
        while let cert = PEM_read_bio_X509(bio, nil, nil, nil) { result.append(cert) }
        ERR_clear_error()  // the read that ends the loop leaves "no start line" behind
        return result
    }

    /// The first private key in `pem`. Encrypted keys are not read (an empty passphrase is given,
    /// so OpenSSL never prompts on a terminal); Go's `tls.X509KeyPair` does not read them either.
    static func privateKey(_ pem: [UInt8]) -> OpaquePointer? {
        guard let bio = memoryBIO(pem) else { return nil }
        defer { BIO_free(bio) }
        let key = "".withCString { empty in PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: empty)) }
        ERR_clear_error()
        return key
    }

    /// The subject alternative names of `certificate` that exporter-toolkit compares with
    /// `client_allowed_sans`: DNS names, e-mail addresses, IP addresses (as Go prints them) and URIs.
    static func subjectAlternativeNames(_ certificate: OpaquePointer) -> [String] {
        guard let names = multiproc_x509_subject_alt_names(certificate) else { return [] }
        defer { multiproc_general_names_free(names) }
        var result: [String] = []
        for index in 0..<multiproc_general_names_count(names) {
            guard let name = multiproc_general_names_at(names, index),
                  let string = multiproc_general_name_string(name),
                  let data = ASN1_STRING_get0_data(string) else { continue }
            let bytes = Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))))
            if multiproc_general_name_type(name) == GEN_IPADD {
                if let ip = ipText(bytes) { result.append(ip) }
            } else {
                result.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        return result
    }

    /// Go's `net.IP.String()`: dotted IPv4 (also for IPv4-mapped IPv6), RFC 5952 IPv6.
    static func ipText(_ bytes: [UInt8]) -> String? {
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return nil }
        if Array(bytes.prefix(12)) == mappedPrefix { return bytes.suffix(4).map(String.init).joined(separator: ".") }
        var text = [CChar](repeating: 0, count: 64)
        guard inet_ntop(AF_INET6, bytes, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func memoryBIO(_ bytes: [UInt8]) -> OpaquePointer? {
        // BIO_new_mem_buf reads the caller's bytes in place: copy them into memory the BIO owns.
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        guard bytes.isEmpty || BIO_write(bio, bytes, Int32(bytes.count)) == Int32(bytes.count) else {
            BIO_free(bio)
            return nil
        }
        return bio
    }
}
