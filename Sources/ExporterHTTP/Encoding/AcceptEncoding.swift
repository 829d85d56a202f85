/// Reads an `Accept-Encoding` header (RFC 9110 §12.5.3) for the one coding we offer.
public enum AcceptEncoding {
    /// Whether gzip is acceptable: `gzip` or `x-gzip` with q > 0, or else `*` with q > 0.
    /// An explicit `gzip;q=0` wins over `*`. Entries with a malformed q-value are ignored.
    public static func allowsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        var explicit: Bool?
        var wildcard: Bool?
        for entry in header.split(separator: ",") {
            let parts = entry.split(separator: ";", omittingEmptySubsequences: false)
            let coding = trim(parts[0]).lowercased()
            guard let q = quality(parts.dropFirst()) else { continue }
            switch coding {
            case "gzip", "x-gzip": explicit = (explicit ?? false) || q > 0
            case "*": wildcard = (wildcard ?? false) || q > 0
            default: continue
            }
        }
        return explicit ?? wildcard ?? false
    }

    /// The q-value among the parameters (1 when absent), or nil when it is malformed.
    static func quality(_ parameters: ArraySlice<Substring>) -> Double? {
        var q = 1.0
        for parameter in parameters {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard trim(pair[0]).lowercased() == "q" else { continue }
            guard pair.count == 2, let value = qvalue(trim(pair[1])) else { return nil }
            q = value
        }
        return q
    }

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
    static func qvalue(_ text: Substring) -> Double? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        if bytes.count == 1 { return first == UInt8(ascii: "1") ? 1 : 0 }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return nil }
        let digits = bytes[2...]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        if first == UInt8(ascii: "1") { return digits.allSatisfy { $0 == 48 } ? 1 : nil }
        return Double("0." + String(decoding: digits, as: UTF8.self) + "0")
    }

    private static func trim(_ s: Substring) -> Substring {
        var s = s
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
