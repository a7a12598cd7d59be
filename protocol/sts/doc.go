// Package sts implements the application layer of the Standard Transfer
// Specification (IEC 62055-41) used by prepaid utility meters: the 20-digit
// token and its 66-bit form, the token classes and their 64-bit data blocks,
// the CRC, the amount and TID encodings, the STA (EA07) cipher, the decoder
// key generation algorithms DKGA02 and DKGA04, and the table of outcomes a
// meter reports for a token.
//
// The package holds no global mutable state. Values such as [Tables],
// [STA] and the ciphers returned by [NewCipher] are immutable after
// construction and safe for concurrent use; the encode and decode paths for a
// prepared cipher allocate nothing.
//
// Where behaviour follows a clause of the standard, the code cites it. The
// notes in docs/protocol.md say which parts rest on a single public source.
package sts
