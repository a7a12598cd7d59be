// Package netreason words a connection error for a log line.
package netreason

import (
	"errors"
	"net"
	"os"
)

// Of returns the part of a connection error worth a log line: the
// network's own words, such as "connection refused", rather than a
// client library's wrapping of a dial error that repeats the address.
// Other errors are returned whole; nil gives "".
func Of(err error) string {
	if err == nil {
		return ""
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Err == nil {
		return err.Error()
	}
	var sys *os.SyscallError
	if errors.As(op.Err, &sys) {
		return sys.Err.Error()
	}
	return op.Err.Error()
}
