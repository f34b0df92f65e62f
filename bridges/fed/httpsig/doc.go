// Package httpsig implements the subset of HTTP Message Signatures
// (RFC 9421) and Content-Digest (RFC 9530) that Switchboard federation
// uses: Ed25519 signatures over derived components (@method, @target-uri,
// @authority, @path, @query, @scheme) and header fields, with the created,
// expires, keyid, alg and nonce parameters.
//
// It is small on purpose: the one Go library for RFC 9421 could not be
// used here, and federation needs only this profile. Structured field
// parsing covers exactly what Signature-Input and Signature carry.
package httpsig
