// Package meter is a virtual STS (IEC 62055-41) prepaid meter: a pure,
// deterministic state machine that takes tokens typed on its keypad,
// supplies electricity, water or gas against its credit, and reports what a
// real meter would. It owns the meter's registers, TID memory, decoder key,
// supply relay and consumption; it does no I/O, starts no goroutines and
// never reads the wall clock. A meter costs well under 2 KiB, so one process
// holds a hundred thousand.
//
// # Time
//
// Every method that lets time pass takes the simulated time as an argument:
// [New] the installation time, [Meter.Enter], [Meter.Advance] and
// [Meter.SetTamper] the current time. Consumption, the key change timeout,
// the keypad lock-out and power-limit recovery all run on that clock, which
// may run any number of times faster than wall time. A time earlier than one
// already seen is treated as the latest one: simulated time never runs back.
// Times are kept as Unix nanoseconds, so they must lie between the years
// 1678 and 2262.
//
// # Tokens
//
// [Meter.Enter] first advances consumption to the given time, then checks
// the token in this order (PROTOCOL.md §10), stopping at the first failure:
//
//  1. keypad lock-out: keypad_locked, the token is not looked at;
//  2. format: 20 digits below 2^66, else format_error;
//  3. class: class 3 is function_error;
//  4. decryption under the current decoder key (classes 0 and 2);
//  5. CRC: crc_error, the answer to another meter's token, a typing error
//     or a token under another key;
//  6. function: a sub-class the meter does not implement is
//     function_error (credit for another service, SetTariffRate unless
//     configured, reserved sub-classes);
//  7. class 1: the manufacturer code, mfr_code_error unless it is the
//     meter's own or 0;
//  8. class 0: the key type, ddtk_error under a default key;
//  9. TID (classes 0 and 2 but not key change sections): old_error below
//     the oldest remembered TID, used_error for a remembered one;
//  10. KEN: key_expired_error when the TID is past the key expiry number;
//  11. range: range_error (negative currency, unknown ClearCredit
//     register, key change values out of range);
//  12. overflow: overflow_error when the credit would exceed the register;
//  13. apply the token and remember its TID.
//
// Key change sections are stored (kct_pending) until the set is complete,
// in any order; the completing section is accept, or key_type_error or
// range_error, and the whole set takes effect at once. The key type rules
// live in one table in keychange.go.
//
// # Consumption and credit
//
// Demand follows a per-utility daily profile with reproducible noise, a
// constant rate, or nothing ([Load]). It is piecewise constant over
// 15-minute slots and integrated exactly in integers; registers count
// [Milli], thousandths of a base unit, and fractions carry over, so that
// for each register Credited = Consumed + Remaining + Cleared always holds
// exactly. The units register is drawn first, then the currency register at
// Config.Price. The relay opens at the instant credit runs out, when demand
// exceeds the power limit, and on a tamper; see [RelayReason].
//
// # Persistence
//
// [Meter.Snapshot] is the telemetry view, without the key. [Meter.State]
// is the complete form, key included, and [Restore] rebuilds an identical
// meter from it, as a real meter keeps credit and TID memory across a
// power cut.
//
// # Concurrency
//
// A [Meter] is not safe for concurrent use. One goroutine owns each meter
// and makes every call; tokens take effect in the order of the calls.
// Meters share nothing mutable, so different meters may be driven from
// different goroutines freely.
package meter
