package natsx

import (
	"fmt"
	"net/url"
	"strings"
)

// RedactURL returns urls, a server or a comma-separated list of them, fit
// for logs and errors: passwords, and tokens given as nats://token@host,
// are replaced by "xxxxx". A URL that does not parse is replaced whole, as
// it may hold a secret that cannot be found.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := parseServerURL(p)
		switch {
		case err != nil:
			parts[i] = "(unparsable url)"
		case u.User == nil:
			parts[i] = u.String()
		default:
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// checkURLs reports a server URL that does not parse, quoting the parser's
// error only when the URL holds no credentials.
func checkURLs(urls string) error {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if _, err := parseServerURL(p); err != nil {
			if strings.Contains(p, "@") {
				return fmt.Errorf("url %d of %d does not parse", i+1, len(parts))
			}
			return fmt.Errorf("url %d of %d: %w", i+1, len(parts), err)
		}
	}
	return nil
}

// account names the account of urls in logs: the user of the first URL
// that names one, "(token)" for a token, empty for none.
func account(urls string) string {
	for p := range strings.SplitSeq(urls, ",") {
		u, err := parseServerURL(p)
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			return u.User.Username()
		}
		return tokenAccount
	}
	return ""
}

// tokenAccount is the account of a connection with a token.
const tokenAccount = "(token)"

// signIn says in an error how a connection signs in to account.
func signIn(account string) string {
	switch account {
	case "":
		return "without credentials"
	case tokenAccount:
		return "with a token"
	}
	return "as " + account
}

// parseServerURL parses one server URL the way nats.go does, nats:// being
// the scheme of a bare host:port.
func parseServerURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	return url.Parse(s)
}
