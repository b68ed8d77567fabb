/// Stops the fuzzer with `message` when an invariant the target checks does not hold, so that
/// libFuzzer records the input as a crash. (Assertions are compiled out of release builds.)
@inline(never)
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz invariant violated: \(message())") }
}
