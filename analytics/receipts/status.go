package receipts

// Status is the verdict on one message part (FORMATS.md §5.3).
type Status string

// The four statuses of a report row.
const (
	// StatusAccept marks a checked receipt that goes to the clean output.
	StatusAccept Status = "accept"
	// StatusDuplicate marks a resend of an accepted receipt.
	StatusDuplicate Status = "duplicate"
	// StatusReject marks a receipt that fails a check; only its meter and
	// token are kept, each where it passes its own check.
	StatusReject Status = "reject"
	// StatusSkip marks a message that is not a receipt.
	StatusSkip Status = "skip"
)

// Kind says what a message is.
type Kind string

// Message kinds.
const (
	// KindCredit is a credit token receipt.
	KindCredit Kind = "credit"
	// KindKeyChangeCredit is a receipt with two key-change codes and a
	// credit token.
	KindKeyChangeCredit Kind = "key_change_credit"
	// KindNotice is a utility notice without a token.
	KindNotice Kind = "notice"
	// KindPayment is a mobile-money payment confirmation.
	KindPayment Kind = "payment"
	// KindFragment is a piece of text with no receipt fields.
	KindFragment Kind = "fragment"
)

// Variant names a receipt layout (FORMATS.md §5.4).
type Variant string

// Receipt layouts the parser knows.
const (
	VariantKPLC2023          Variant = "ke_kplc_2023"
	VariantKPLC2023Multiline Variant = "ke_kplc_2023_multiline"
	VariantKPLCNotice        Variant = "ke_kplc_notice"
	VariantKPLCKCT2024       Variant = "ke_kplc_kct2024"
	VariantKPLCLegacy        Variant = "ke_kplc_legacy"
	VariantZASubmeter        Variant = "za_submeter"
	VariantZAReceipt         Variant = "za_receipt"
	VariantNGVend            Variant = "ng_vend"
	VariantNGKCT             Variant = "ng_kct"
	VariantUGYaka            Variant = "ug_yaka"
	VariantTZLuku            Variant = "tz_luku"
	VariantKEMpesa           Variant = "ke_mpesa"
	VariantFragment          Variant = "fragment"
	// VariantUnknown is text that matches no known layout.
	VariantUnknown Variant = "unknown"
)

// TimeSource says where a receipt's timestamp came from.
type TimeSource string

// Timestamp sources.
const (
	// TimeFromDateField is the message's own date field.
	TimeFromDateField TimeSource = "date_field"
	// TimeFromHeader is the phone's received header, used only when the
	// message has no date and the header has a full date.
	TimeFromHeader TimeSource = "header"
	// TimeNone means the timestamp is unknown.
	TimeNone TimeSource = "none"
)

// ReasonCode is a short, fixed name for the cause of a reject or skip, for
// counting; [Receipt.Reason] holds the readable explanation.
type ReasonCode string

// Reason codes for rejected rows.
const (
	CodeTruncated    ReasonCode = "truncated"
	CodeMissingField ReasonCode = "missing_field"
	CodeBadMeter     ReasonCode = "bad_meter"
	CodeNoMeter      ReasonCode = "no_meter"
	CodeBadToken     ReasonCode = "bad_token"
	CodeBadDate      ReasonCode = "bad_date"
	CodeBadNumber    ReasonCode = "bad_number"
	CodeSumMismatch  ReasonCode = "sum_mismatch"
	CodeCurrency     ReasonCode = "currency_mismatch"
	CodeConflict     ReasonCode = "token_conflict"
	CodeTooLong      ReasonCode = "too_long"
	CodeEncoding     ReasonCode = "bad_encoding"
	CodeUnrecognised ReasonCode = "unrecognised"
)

// Reason codes for duplicates and skipped rows.
const (
	CodeDuplicate  ReasonCode = "duplicate"
	CodeNotice     ReasonCode = "notice"
	CodePayment    ReasonCode = "payment"
	CodeFragment   ReasonCode = "fragment"
	CodeNotReceipt ReasonCode = "not_receipt"
)

// Problem is one thing wrong with a message: a code for counting and a
// sentence for people.
type Problem struct {
	Code ReasonCode
	Text string
}
