// Package report writes a bench's [bench.Report] for people and tools: an
// end-of-run table, the full result as JSON (counts at the top level under
// the end-of-run summary's names), the per-second series as CSV, and a
// self-contained HTML page whose charts are inline SVG, with no script and
// no external asset.
//
// The functions only read the report; several may run at once on the same
// report.
package report
