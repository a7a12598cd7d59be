// Package misty1 implements the MISTY1 block cipher of RFC 2994: 64-bit
// blocks, a 128-bit key and the recommended 8 rounds. IEC 62055-41 uses it as
// encryption algorithm EA11 for STS tokens under a 128-bit decoder key
// (DKGA04).
//
// The package owns the cipher only: the key schedule, FO/FI with the S7 and S9
// boxes, and the FL/FL^-1 layers. Token layout, class-bit insertion and key
// derivation belong to the STS application layer.
//
// [NewCipher] expands a 16-byte key into a [Cipher], which implements
// [crypto/cipher.Block]. For callers that already hold the block as a number,
// [Cipher.EncryptBlock] and [Cipher.DecryptBlock] work on the big-endian
// uint64 view of the 8 bytes, which is how STS handles its data blocks.
//
// Concurrency: a Cipher is immutable once NewCipher returns, so any number of
// goroutines may encrypt and decrypt with it at the same time. The block
// methods neither allocate nor keep state between calls.
//
// MISTY1 is kept here for interoperability with metering equipment; it is not
// a recommendation for new designs, and a 64-bit block needs a mode that
// respects its birthday bound.
package misty1
