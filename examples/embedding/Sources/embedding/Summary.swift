import MultiprocCollector

/// This app's own `Label`: a name clash an embedder can run into, since the library's types
/// have generic names too. The library's type stays reachable as `MultiprocCollector.Label`
/// (the module and its main type, ``DirectoryCollector``, have different names), so this file
/// compiling is the proof that qualification works.
struct Label {
    var text: String
}

/// One line per family (`# name type`) and per sample (`name{labels} value`), from
/// ``Snapshot/families``: the merged data as values rather than exposition bytes.
enum Summary {
    static func lines(of snapshot: Snapshot) -> String {
        var out = ""
        for family in snapshot.families {
            out += "# \(family.name) \(family.type)\n"
            for sample in family.samples {
                out += "\(sample.name)\(braces(sample.labels).text) \(sample.value)\n"
            }
        }
        return out
    }

    static func braces(_ labels: [MultiprocCollector.Label]) -> Label {
        guard !labels.isEmpty else { return Label(text: "") }
        return Label(text: "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}")
    }
}
