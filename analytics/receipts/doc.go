// Package receipts imports prepaid-token SMS receipts exported from a
// phone and turns them into checked, typed rows.
//
// It owns the whole path from raw text to rows: [Splitter] cuts an export
// into messages (line ends, odd spaces, phone headers, glued messages),
// [Parse] reads every known layout and checks it (meter number and Luhn
// digit, 20-digit tokens below 2^66, exact decimal money, sums, calendar
// dates and zones), [Deduper] marks resends and token conflicts, and
// [Import] runs the three over a stream. [CSVWriter] writes the report and
// the clean CSV; [AtomicFile] makes every output appear whole or not at all.
// The rules follow the fixture notes in FORMATS.md, cited by section.
//
// The package also fits a [PurchaseModel] (amount, interval between
// purchases, hour of day) from accepted rows, for fleet simulation.
//
// Ordering and memory: [Import] emits rows in input order and holds one
// line and one message at a time; only the duplicate check grows, with the
// number of distinct accepted tokens. Splitter, Deduper, CSVWriter and
// ModelFitter are not safe for concurrent use; [Parse] and the methods of
// a fitted PurchaseModel are.
package receipts
