// Command vendor is the token workbench of a vending engineer: it makes
// vending keys, derives decoder keys, issues STS tokens of every class and
// key change sets, and decodes tokens.
//
//	vendor key new --dkga 02|04 --out FILE
//	vendor key derive --dkga 02|04 --vending-key HEX|@FILE --drn .. --sgc .. ...
//	vendor token issue --class N --subclass N [key flags] [field flags]
//	vendor token key-change (--decoder-key OLD --new-decoder-key NEW | --vending-key ..) ...
//	vendor token decode [--decoder-key HEX] [--strict] TOKEN
//
// The STS rules live in protocol/sts; this command reads flags, calls that
// package and prints the result as an aligned table or, with --json, as one
// JSON object on stdout. Errors go to stderr with exit status 1 and name the
// flag at fault. Keys are taken as hex or @FILE; vending keys are never
// printed. docs/token-tools.md walks through a session.
//
// Each file holds one command group: key.go (key new, key derive),
// token.go (token issue), keychange.go, decode.go; keyflags.go and values.go
// parse flags, output.go defines the printed results. A command invocation
// owns all its state; nothing is shared between invocations except the
// clock and random sources held by the env type.
package main
