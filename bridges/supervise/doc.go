// Package supervise keeps a bridge's connection up: it runs one session
// after another, classifies why each ended, waits an exponential backoff
// with jitter between them, and stops only for a failure retrying cannot
// mend. Every bridge kind shares it, so they retry alike and a new kind
// writes only its session and its classification.
package supervise
