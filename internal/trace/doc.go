// Package trace attributes leaked customer lists: given a list found
// outside (a CSV of ids, phones, accounts or names, as messy as such lists
// are), it answers who could have leaked it.
//
// The pieces:
//
//   - ParseLeak reads the list, tolerating BOMs, CRLF, odd delimiters,
//     stray spaces and quotes, and phones in any common form, and
//     normalises values with the vault's functions so they can be looked up
//     through the blind indexes.
//   - Resolve turns rows into distinct customers through a Resolver (the
//     store's blind indexes, in the command): by id, else phone, else
//     account; by name only as a last resort and only when unique.
//   - AccessSets holds, per principal and per org, the customers ever read
//     through custos (allowed reads, searches that found someone, exports)
//     as roaring bitmaps. It is fed event by event (Add, Apply) or rebuilt
//     from the audit records (Update), and persisted (WriteTo, ReadFrom).
//   - Trace ranks the people and orgs whose reads cover the leak, counts the
//     matched records nobody ever read through custos (evidence that they
//     left another way) and flags canary records.
//
// The score of a suspect is the share of the leak they had read, discounted
// by the chance that someone reading as many customers, chosen without
// regard to the leak, would cover as much: the upper tail of the
// hypergeometric distribution, bounded by exp(−M·D(c‖s)) where M is the
// number of leaked records, c the covered share and s the share of all
// customers the suspect ever read. Reading everything is thus no evidence;
// reading exactly what leaked is strong evidence.
//
// The package does no I/O beyond its readers and writers and keeps no
// global state.
package trace
