import Glibc

/// Hands memory that `free` kept in glibc's heap back to the system (`malloc_trim(0)`), so
/// the resident size follows what the process holds after a large structure was dropped.
/// `malloc.h` is not in Swift's Glibc module, hence the lookup by name.
package func releaseFreedHeap() {
    typealias MallocTrim = @convention(c) (Int) -> Int32
    guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
}
