package ledger

import (
	"errors"
	"time"
)

// Sentinel errors.
var (
	// ErrNotFound reports a vend or meter the ledger does not hold.
	ErrNotFound = errors.New("not found")
	// ErrClosed reports a write submitted after [Ledger.Close].
	ErrClosed = errors.New("ledger closed")
	// ErrSchema reports a database whose schema this package cannot use.
	ErrSchema = errors.New("unsupported schema")
	// ErrDuplicate reports an insert that collides with an existing vend:
	// the same vend ID or idempotency key.
	ErrDuplicate = errors.New("duplicate vend")
)

// State is where a token stands in delivery.
type State string

// Token states. A token starts [Issued]; its first result from the meter
// moves it to [Accepted], [Delivered] or [Rejected], which are final. The
// vendor gives up on a token without a result by marking it [Lost]; a
// result that still arrives moves it on as if it had been [Issued].
const (
	// Issued: written and (being) published, no result yet.
	Issued State = "issued"
	// Delivered: the meter already holds the token: its first result
	// was used_error, the answer to a copy of a token it had credited.
	Delivered State = "delivered"
	// Accepted: the first result was accept, or kct_pending for a key
	// change section.
	Accepted State = "accepted"
	// Rejected: the first result was any other outcome.
	Rejected State = "rejected"
	// Lost: every delivery attempt went unanswered.
	Lost State = "lost"
)

// Final reports whether the state is one a result has settled.
func (s State) Final() bool { return s == Delivered || s == Accepted || s == Rejected }

// Open reports whether the token still waits for a result.
func (s State) Open() bool { return s == Issued || s == Lost }

// Vend is one request that produced tokens: a credit vend, a management
// function or a key change set.
type Vend struct {
	// ID is the vend ID given to the customer.
	ID string
	// Meter is the DRN.
	Meter string
	// Kind is "credit", "management" or "key_change".
	Kind string
	// IdempotencyKey is the client's key; empty when none was sent.
	IdempotencyKey string
	// RequestHash identifies the request body the key was first used with.
	RequestHash string
	// Units is the credit in tenths of Unit, as the token carries it.
	Units uint64
	// Unit is kWh or m3 for credit vends.
	Unit string
	// Amount, TokenAmount and OtherCharges are in minor units of Currency.
	Amount, TokenAmount, OtherCharges int64
	// Currency is the ISO 4217 code of the amounts.
	Currency string
	// Tariff is the tariff name the vend was priced under.
	Tariff string
	// ReceivedAt is the wall time the vendor received the request.
	ReceivedAt time.Time
	// SimAt is the simulated time of the vend, the time of its TID.
	SimAt time.Time
	// Detail is kind-specific JSON kept for the service: the management
	// function, or the identity a key change moves the meter to.
	Detail []byte
	// Response is the body returned to the client, replayed verbatim for
	// a repeated idempotency key.
	Response []byte
	// Tokens are the vend's tokens in entry order.
	Tokens []Token
}

// Token is one 20-digit token of a vend and its delivery record.
type Token struct {
	// Seq is the token's position in its vend, from 0.
	Seq int
	// Token is the 20-digit token.
	Token string
	// Class and SubClass are the STS token class and sub-class.
	Class, SubClass uint8
	// TID is the token identifier; HasTID is false for key change
	// sections, which carry none.
	TID    uint32
	HasTID bool
	// Units is the decoded amount of a credit token in tenths.
	Units uint64
	// State is the delivery state.
	State State
	// Outcome is the meter's first result, such as "accept"; empty while
	// none has arrived.
	Outcome string
	// Attempts counts publications of the token.
	Attempts int
	// IssuedAt is the wall time the token was written.
	IssuedAt time.Time
	// LastSentAt is the wall time of the latest publication.
	LastSentAt time.Time
	// NextAttemptAt is when the token is due to be published again.
	NextAttemptAt time.Time
	// ResultAt is the wall time the first result arrived, or the token
	// was marked lost.
	ResultAt time.Time
}

// MeterRow is the ledger's view of one meter: its identity as the service
// serialises it and the vending state kept with it.
type MeterRow struct {
	// DRN is the decoder reference number.
	DRN string
	// Identity is the meter's fleet definition entry, JSON.
	Identity []byte
	// LastTID is the highest TID issued to the meter under its current
	// base date; -1 when none.
	LastTID int64
	// Month is the calendar month ("2006-01") MonthUnits counts.
	Month string
	// MonthUnits is the credit, in tenths, vended in Month.
	MonthUnits uint64
	// LastVend is the ID of the meter's most recent vend.
	LastVend string
}

// MeterState is the part of a [MeterRow] that a vend changes.
type MeterState struct {
	DRN        string
	LastTID    int64
	Month      string
	MonthUnits uint64
	LastVend   string
}

// CountRow is one group of tokens with the same class, sub-class, state
// and outcome.
type CountRow struct {
	Class, SubClass uint8
	State           State
	Outcome         string
	// Tokens is how many tokens are in the group.
	Tokens int64
	// Units is the sum of their decoded credit, in tenths.
	Units uint64
}
