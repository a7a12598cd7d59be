// Package threshold is the small grammar in which a run states what must
// hold over its results, shared by scenario files and load benches:
//
//	p99(vend_to_credit) < 200ms
//	count(tokens_lost) == 0
//	count(crc_error) >= 10
//	ratio(tokens_rejected) < 0.01
//
// An expression is a function applied to a name, an operator and a value.
// The latency functions p50, p90, p99, p999 and max take a latency name
// (vend_to_credit, vend_to_issue, issue_to_credit) and a duration with a
// unit (ns, us, ms or s). count takes a count name (the end-of-run summary's
// token counts, the outcome table's names such as crc_error, and the run's
// refusal counts) and a whole number; ratio takes a count name and a number,
// or a percentage, and divides the count by tokens_vended. The operators
// are < <= > >= == and !=.
//
// [Parse] turns text into a [Threshold]; a [*SyntaxError] names the column
// at fault. [Threshold.Eval] evaluates it against a [Source], the interface
// a scenario run and a bench both provide. A Threshold is an immutable
// value, safe for concurrent use; the package holds no mutable state.
package threshold
