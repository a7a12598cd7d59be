package sts

// crcTable is the byte-wise table of the reflected CRC-16 with polynomial
// x^16 + x^15 + x^2 + 1 (0xA001 reflected), the CRC-16/MODBUS register.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crcUpdate feeds one byte into a CRC-16/MODBUS register.
func crcUpdate(crc uint16, b byte) uint16 {
	return crc>>8 ^ crcTable[byte(crc)^b]
}

// CRC returns the 16-bit check of a token: the CRC-16/MODBUS of the 50 bits
// class ‖ block[63:16], left-padded to 7 bytes and fed most significant byte
// first, with the result byte-swapped (IEC 62055-41 §6.2.4, PROTOCOL.md §6).
// Bits 15..0 of block are ignored.
func CRC(class Class, block uint64) uint16 {
	return swap16(crc7(class, block))
}

// CRCCurrency returns CRC_C, the check of currency credit tokens (class 0,
// sub-classes 4 to 7): the same computation with a byte 0x01 fed after the
// seven data bytes (PROTOCOL.md §6).
func CRCCurrency(class Class, block uint64) uint16 {
	return swap16(crcUpdate(crc7(class, block), 0x01))
}

// CRCOfBytes returns the byte-swapped CRC-16/MODBUS of data, the building
// block of [CRC] exposed for checking published examples.
func CRCOfBytes(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc = crcUpdate(crc, b)
	}
	return swap16(crc)
}

func crc7(class Class, block uint64) uint16 {
	v := uint64(class&3)<<48 | block>>16
	crc := uint16(0xFFFF)
	for shift := 48; shift >= 0; shift -= 8 {
		crc = crcUpdate(crc, byte(v>>shift))
	}
	return crc
}

func swap16(v uint16) uint16 { return v<<8 | v>>8 }
