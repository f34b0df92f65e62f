// Package ftsquery owns the translation of what a user types into a search
// box into an SQLite FTS5 MATCH expression. Its one promise is safety: no
// user text ever reaches FTS5 as syntax. Every word or phrase comes out as a
// quoted FTS5 string, so column filters ("body:"), NEAR, "^", "+" and stray
// "*" in user text are just characters the tokenizer splits on.
//
// The user's grammar, like a web search box:
//
//	query   = or
//	or      = and { "OR" and }
//	and     = unary { [ "AND" ] unary }    juxtaposition means AND
//	unary   = "NOT" unary | "-" term | "-" group | primary
//	primary = term | group
//	group   = "(" or ")"
//	term    = word | word"*" | `"`phrase`"` | `"`phrase`"*`
//
// NOT binds tightest, then AND, then OR, as in FTS5. Only the uppercase
// words AND, OR and NOT are operators; "and", "-AND", "AND*" and `"AND"` are
// ordinary words. A "-" negates only at the start of a term (after a space,
// "(" or the start of the query), so "e-mail" is a word.
//
// Choices that differ from FTS5 itself or from a lenient web search box:
//
//   - NOT is read as a prefix operator ("a AND NOT b", "NOT b a") and
//     lowered to FTS5's binary "x NOT y". A query, after lowering, must still
//     have something to subtract from: "-a", "NOT a" and "a OR -b" (which
//     would mean "every message without b, and those with a") are errors.
//     The same forms inside a positive query are fine: "c (a OR -b)"
//     becomes `"c" NOT ("b" NOT "a")`.
//   - An operator with a missing operand ("a OR", "AND b", "a AND OR b",
//     "NOT") is an error, not a word: silently searching for the word "or"
//     would hide the user's mistake. Quote it or write it in lowercase to
//     search for it.
//   - Terms made only of characters that the unicode61 tokenizer drops
//     (punctuation, symbols, "*" alone) are removed, together with any
//     operator that applied only to them; "a OR !!!" is "a". A query left
//     with nothing is an error.
//   - Invalid UTF-8 is an error rather than guessed at.
//
// Limits, all reported as *Error: 1024 bytes, 64 terms, and 16 levels of
// parentheses in the output, because FTS5's expression parser has a fixed
// stack and fails on deeper input.
//
// ftsquery imports only the standard library. It must not import a
// database driver or any other package of this module: it is a pure
// string-to-string translation, and the store that runs the expression
// decides which column it filters on.
package ftsquery
