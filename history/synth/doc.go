// Package synth generates deterministic, realistic-looking chat text and
// chat histories. It exists for benchmarks and tests only (store ingest
// throughput, full-text search latency at 1M and 10M messages, search
// selectivity checks) and must never be imported by production code.
//
// The package owns three things:
//
//   - A fixed vocabulary of VocabularySize words ranked by frequency. The
//     head is typed-in English and chat/tech words ("the", "i", "lol",
//     "yeah", "server", "deploy", ...); the long tail is pronounceable
//     pseudo-words built from syllables ("tavorin", "mekulas"), so that
//     rare words with a known frequency exist (see Probability).
//   - Generator, which draws words with a Zipf distribution (exponent
//     s = 1.125) and builds chat lines around a mean of 11 words, with
//     occasional capitalisation, punctuation, URLs and nick mentions.
//   - Plan, which streams a whole history (users × networks ×
//     conversations) with Zipf-skewed traffic across conversations,
//     without holding the messages in memory.
//
// Determinism: the output is a pure function of the seed. The package uses
// only a math/rand/v2 PCG source (whose algorithm is fixed) and its own
// integer sampling code; it does not depend on map iteration order, the
// global random state, or the derived methods of rand.Rand. The frequency
// tables are built only from correctly rounded IEEE operations (+, ×, ÷,
// sqrt; hence s = 1 + 1/8) and then quantised to integers, so they are
// bit-identical on every platform. Golden tests pin the output; changing
// it is a breaking change for anyone comparing benchmark corpora.
package synth
