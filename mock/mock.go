// Package mock has one test double for each service contract of package
// moonwake, so that a contract is faked once and cannot drift: each double
// is a struct of function fields (WakeFn, InfoFn …) that a test fills in with
// what it needs. A method whose field is nil answers as an empty service
// would (nothing found, state unknown, nothing registered), except those
// that act on a machine, which panic: a test that causes an action it did
// not expect should fail loudly. The doubles are safe for concurrent use as
// long as the test does not change their fields while they are called.
package mock

import "fmt"

// unexpected panics for a call that a test did not expect.
func unexpected(method string) {
	panic(fmt.Sprintf("mock: unexpected call to %s (set its Fn field)", method))
}
